"""``load_cine``: any echo cine on disk → one :class:`Cine`, or one typed :class:`CineLoadError`."""

from __future__ import annotations

import os
import struct
import warnings
from dataclasses import replace
from pathlib import Path
from collections.abc import Callable
from typing import Any, TypeVar

from pydicom.filereader import read_file_meta_info
from pydicom.uid import SegmentationStorage

from echoviewer.io.apical_view import view_in_text
from echoviewer.io.arrays import describe_array, load_array
from echoviewer.io.cine import Cine
from echoviewer.io.dicom import load_dicom, stated_header
from echoviewer.io.errors import (CineLoadError, CorruptDataError, EmptyFileError,
                                  FileMissingError, NotAFileError, UnrecognisedFormatError,
                                  short_reason)
from echoviewer.io.video import VIDEO_SUFFIXES, describe_video, load_video

T = TypeVar("T")
SUPPORTED = "DICOM, AVI/MP4 video or NumPy .npy/.npz"
_NAMED_FORMATS = {".npy": "NumPy", ".npz": "NumPy"}
CINE_SUFFIXES = frozenset({".dcm", ".dicom", *_NAMED_FORMATS, *VIDEO_SUFFIXES})
_RAW_DICOM_GROUPS = {0x0002, 0x0008}  # a DICOM without preamble starts with these groups


def sniff(head: bytes, suffix: str) -> str | None:
    """Which loader a file needs, from its first 132 bytes and its suffix."""
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x93NUMPY") or head.startswith(b"PK\x03\x04") and suffix == ".npz":
        return "numpy"
    if (head[:4] == b"RIFF" and head[8:12] == b"AVI ") or head[4:8] == b"ftyp" \
            or head.startswith(b"\x1a\x45\xdf\xa3") or suffix in VIDEO_SUFFIXES:
        return "video"
    if len(head) >= 8:
        group_le, group_be = struct.unpack("<H", head[:2])[0], struct.unpack(">H", head[:2])[0]
        if group_le in _RAW_DICOM_GROUPS or group_be in _RAW_DICOM_GROUPS:
            return "raw-dicom"
    return None


# The kernel's and devices' virtual file systems: walking them never ends (/proc/self loops) or
# blocks on a device read, and they hold no cines.
SYSTEM_FOLDERS = tuple(Path(p) for p in ("/proc", "/sys", "/dev"))


def find_cines(folder: str | os.PathLike[str]) -> list[Path]:
    """Every file under ``folder`` (recursively, sorted, hidden ones skipped) named like a cine
    (.dcm, .dicom, a video or NumPy suffix; damaged ones included, so they are reported) or,
    whatever its name, starting like one (PACS exports often have no suffix). Raises
    NotAFileError for the system's virtual folders (/proc, /sys, /dev)."""
    resolved = Path(folder).resolve()
    if any(resolved == system or system in resolved.parents for system in SYSTEM_FOLDERS):
        raise NotAFileError(f"{folder} is one of the system's virtual folders, which hold no cines "
                            "and cannot be searched; choose a folder of echo files")
    found = []
    for path in sorted(Path(folder).rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts) or not path.is_file():
            continue
        try:
            with open(path, "rb") as handle:
                head = handle.read(132)
        except OSError:
            continue
        kind = sniff(head, path.suffix.lower())
        if (path.suffix.lower() in CINE_SUFFIXES or kind is not None) and not (
                kind == "dicom" and is_result_object(path)):
            found.append(path)
    return found


# DICOM objects that hold no image to show (segmentations, structured reports, key objects,
# presentation states, encapsulated documents): a study retrieved from a PACS holds them beside its
# cines, and they are not cines.
_RESULT_CLASS_PREFIXES = ("1.2.840.10008.5.1.4.1.1.66.",    # Segmentation and its kin
                          "1.2.840.10008.5.1.4.1.1.88.",    # Structured reports, key objects
                          "1.2.840.10008.5.1.4.1.1.11.",    # Presentation states
                          "1.2.840.10008.5.1.4.1.1.104.")   # Encapsulated PDF, CDA, ...


def _stated_class(path: Path) -> str:
    """The SOP class a DICOM file's meta header states ("" when it cannot be read)."""
    try:
        with warnings.catch_warnings():  # a damaged header is reported when the file is opened
            warnings.simplefilter("ignore")
            meta = read_file_meta_info(path)
    except Exception:  # noqa: BLE001 - damaged files stay in the list, to be reported
        return ""
    return str(meta.get("MediaStorageSOPClassUID", ""))


def is_result_object(path: Path) -> bool:
    """Whether the DICOM file's meta header names a non-image object (SEG, SR, ...); a file
    whose header cannot be read is not one (it is reported as the cine it claims to be)."""
    return _stated_class(path).startswith(_RESULT_CLASS_PREFIXES)


def is_segmentation(path: str | os.PathLike[str]) -> bool:
    """Whether the file is a DICOM Segmentation (by its meta header)."""
    return _stated_class(Path(path)) == SegmentationStorage


def _check_path(path: Path) -> None:
    if not path.exists():
        raise FileMissingError(f"{path}: no such file; check the path")
    if path.is_dir():
        raise NotAFileError(f"{path} is a folder; open one file inside it ({SUPPORTED})")
    if not path.is_file():
        raise NotAFileError(f"{path} is not a regular file")
    if path.stat().st_size == 0:
        raise EmptyFileError(f"{path.name}: the file is empty (0 bytes); copy it again from the source")
    if not os.access(path, os.R_OK):
        raise NotAFileError(f"{path.name}: permission denied; check the file's permissions")


_LOADERS: dict[str, tuple[str, Callable[[Path], Cine]]] = {
    "dicom": ("DICOM", load_dicom),
    "raw-dicom": ("DICOM", lambda p: load_dicom(p, force=True)),
    "numpy": ("NumPy", load_array),
    "video": ("video", load_video),
}


def _with_named_view(cine: Cine) -> Cine:
    """Where the header names no apical view, the file's name may (``..._4CH_...``)."""
    if not cine.metadata.view:
        view = view_in_text([cine.path.stem])
        if view:
            cine.metadata = replace(cine.metadata, view=view, view_source="file name")
    return cine


def _header(path: Path) -> dict[str, str]:
    try:
        with open(path, "rb") as handle:
            kind = sniff(handle.read(132), path.suffix.lower())
    except OSError:
        return {"study": "", "instance": "", "view": ""}
    if kind in ("dicom", "raw-dicom"):
        return stated_header(path, force=kind == "raw-dicom")
    return {"study": "", "instance": "", "view": ""}


def stated_view(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(StudyInstanceUID or "", "A4C" / "A2C" / "") of a file, read as :func:`load_cine` reads them
    but from the header and the name alone, without decoding a frame."""
    header = _header(Path(path))
    return header["study"], header["view"] or view_in_text([Path(path).stem]) or ""


def stated_instance(path: str | os.PathLike[str]) -> str:
    """The SOPInstanceUID of a DICOM file from its header alone ("" for other files)."""
    return _header(Path(path))["instance"]


def _kind(path: Path) -> str:
    """The loader a file needs, after the path checks; raises for what is no cine."""
    _check_path(path)
    with open(path, "rb") as handle:
        head = handle.read(132)
    suffix = path.suffix.lower()
    kind = sniff(head, suffix)
    if kind is None and suffix in _NAMED_FORMATS:
        raise CorruptDataError(f"{path.name}: does not start like a {_NAMED_FORMATS[suffix]} file; "
                               "it is damaged or misnamed")
    if kind is None:
        raise UnrecognisedFormatError(f"{path.name}: not a {SUPPORTED} file")
    return kind


def _loaded(path: Path, label: str, read: Callable[[], T]) -> T:
    """``read()``, any failure but a CineLoadError reported as the file's damage."""
    try:
        with warnings.catch_warnings():
            # pydicom warns about malformed values by quoting them, identifiers included.
            warnings.simplefilter("ignore")
            return read()
    except CineLoadError:
        raise
    except MemoryError as exc:
        raise CorruptDataError(f"{path.name}: not enough memory to load this cine") from exc
    except Exception as exc:  # parsers and decoders meet arbitrary bytes: any failure is damage
        raise CorruptDataError(f"{path.name}: damaged or truncated {label} file "
                               f"({short_reason(exc)})") from exc


def load_cine(path: str | os.PathLike[str]) -> Cine:
    """Load any supported cine. Raises a :class:`CineLoadError` subclass with a one-line message."""
    path = Path(path)
    label, loader = _LOADERS[_kind(path)]
    return _loaded(path, label, lambda: _with_named_view(loader(path)))


# How ``describe_cine`` reads each kind without decoding every frame; None where it cannot (a
# video whose container declares no length): the whole cine is loaded instead. DICOM is loaded
# whole: counting its damaged frames needs each one decoded, and its declared size is bounded.
_DESCRIBERS: dict[str, Callable[[Path], dict[str, Any] | None]] = {
    "numpy": describe_array,
    "video": describe_video,
}


def describe_cine(path: str | os.PathLike[str]) -> dict[str, Any]:
    """:meth:`Cine.describe` of any supported cine, from its header and a few frames where the
    format allows (``echoviewer info``: memory stays near one frame for videos and arrays);
    raises as :func:`load_cine` does."""
    path = Path(path)
    kind = _kind(path)
    label, loader = _LOADERS[kind]
    describer = _DESCRIBERS.get(kind)
    described = _loaded(path, label, lambda: describer(path)) if describer else None
    if described is None:
        return load_cine(path).describe()
    if described["view"] is None and (view := view_in_text([path.stem])):
        described.update(view=view, view_source="file name")
    return described
