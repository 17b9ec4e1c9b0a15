"""Reproducible, atomic ``.npz`` files: identical arrays give identical bytes."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from echoviewer.io.atomic import atomic_output
from echoviewer.io.errors import short_reason

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold


def save_npz(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray | np.generic], *,
             compress: bool = True) -> Path:
    """Write ``arrays`` as an ``.npz`` that ``np.load(..., allow_pickle=False)`` reads.

    Unlike ``np.savez_compressed`` no time stamp is stored, so equal inputs give byte-identical
    files. Object arrays are refused (ValueError). Returns the path written.
    """
    path = Path(path)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with atomic_output(path) as temporary, zipfile.ZipFile(temporary, "w", method) as archive:
        for name, array in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = method
            info.create_system = 3  # Unix on every platform: the header bytes do not vary
            info.external_attr = 0o644 << 16
            with archive.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)
    return path


def load_npz(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """Every array of an ``.npz``, never unpickling anything.

    Raises FileNotFoundError for a missing file and a one-line ValueError naming the file when it
    is not a valid ``.npz`` (a plain ``.npy``, a pickle, object arrays, damaged bytes).
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path):  # np.load would also accept .npy and refuse pickles unclearly
            pass
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a valid .npz file ({short_reason(exc)})") from exc
