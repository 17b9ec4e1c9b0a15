"""Exports of analyses: JSON, CSV tables (one row per frame; one row per beat) and native masks.

Everything works from :meth:`CineAnalysis.as_dict` results, so a batch never holds more than one
cine's pixels: masks are streamed into the ``.npz`` one cine at a time. Files appear complete or
not at all (written beside the target, then renamed). Nothing here holds patient identifiers.
"""

from __future__ import annotations

import csv
import json
import os
import uuid
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.measurements import MEASURES, UNIT_KIND

FRAME_COLUMNS = ("file", "frame", "time_ms", "area_px", "area_cm2", "event", "flags")


def _temporary_beside(target: Path) -> Path:
    """A new empty file in ``target``'s folder with the permissions a new file normally gets
    (``tempfile`` makes private 0600 files)."""
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
    temporary.open("x").close()
    return temporary


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Write ``path`` through a temporary file in the same folder, renamed over it on success."""
    target = Path(path)
    temporary = _temporary_beside(target)
    try:
        with open(temporary, mode, **({"newline": "", "encoding": "utf-8"} if "b" not in mode else {})) as out:
            yield out
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json(path: str | os.PathLike[str], cines: Sequence[dict], failed: Sequence[dict]) -> None:
    """``{"cines": [...], "failed": [{"file", "error"}], "summary": {files, analysed, failed}}``."""
    document = {"cines": list(cines), "failed": list(failed),
                "summary": {"files": len(cines) + len(failed), "analysed": len(cines),
                            "failed": len(failed)}}
    with atomic_file(path) as out:
        json.dump(document, out, indent=1)


def measure_column(name: str, units: dict[str, str]) -> str:
    """CSV header of a measure, with its unit: ``ed_area`` → ``ed_area_cm2``, ``edv_disks`` →
    ``edv_disks_mL``; ratios and rates already name theirs."""
    return f"{name}_{units[UNIT_KIND[name]]}" if name in UNIT_KIND else name


def frame_rows(result: dict) -> Iterator[dict]:
    """One row per frame: time, area in px and cm², ED/ES mark and the codes of its flags."""
    flags_of: dict[int, list[str]] = {}
    for flag in result["flags"]:
        for frame in flag["frames"]:
            flags_of.setdefault(frame, []).append(flag["code"])
    ed, es = set(result["ed_frames"]), set(result["es_frames"])
    cm2 = result["area_cm2"]
    for frame in range(result["frames"]):
        yield {"file": result["file"], "frame": frame, "time_ms": result["frame_times_ms"][frame],
               "area_px": result["area_px"][frame], "area_cm2": "" if cm2 is None else cm2[frame],
               "event": "ED" if frame in ed else "ES" if frame in es else "",
               "flags": ";".join(flags_of.get(frame, []))}


def beat_columns(units: dict[str, str]) -> tuple[str, ...]:
    return ("file", "beat", "ed_frame", "es_frame", "ed_time_ms", "es_time_ms",
            *(measure_column(name, units) for name in MEASURES))


def beat_rows(result: dict) -> Iterator[dict]:
    """One row per beat, then ``mean`` and ``sd`` rows; headers carry the units."""
    units = result["units"]
    for index, beat in enumerate(result["beats"]):
        row = {"file": result["file"], "beat": index + 1}
        row.update({key: beat[key] for key in ("ed_frame", "es_frame", "ed_time_ms", "es_time_ms")})
        row.update({measure_column(name, units): _cell(beat[name]) for name in MEASURES})
        yield row
    for statistic in ("mean", "sd"):
        row = {"file": result["file"], "beat": statistic}
        row.update({measure_column(name, units): _cell(result["summary"][name][statistic])
                    for name in MEASURES})
        yield row


def _cell(value: Any) -> Any:
    return "" if value is None else value


def write_csv(path: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[dict]) -> None:
    with atomic_file(path) as out:
        writer = csv.DictWriter(out, fieldnames=list(columns), restval="", extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def beats_csv_path(frames_csv: str | os.PathLike[str]) -> Path:
    """Where the per-beat table goes beside the per-frame CSV: ``OUT.csv`` → ``OUT_beats.csv``."""
    path = Path(frames_csv)
    return path.with_name(f"{path.stem}_beats{path.suffix or '.csv'}")


class MaskWriter:
    """Native boolean LV masks, one (T, H, W) array per cine, streamed into a NumPy ``.npz``.

    Keys are ``<index>_<file stem>`` (index in the batch, three digits); ``np.load`` reads it
    without pickle.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._temporary = _temporary_beside(self.path)
        self._zip = zipfile.ZipFile(self._temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=1)
        self._count = 0

    def add(self, analysis: CineAnalysis) -> str:
        key = f"{self._count:03d}_{analysis.cine.path.stem}"
        with self._zip.open(f"{key}.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array(member, analysis.segmentation.native_masks(), allow_pickle=False)
        self._count += 1
        return key

    def close(self, keep: bool = True) -> None:
        """Finish the file (or, with ``keep=False``, discard it)."""
        self._zip.close()
        if keep:
            os.replace(self._temporary, self.path)
        else:
            self._temporary.unlink(missing_ok=True)
