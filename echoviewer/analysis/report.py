"""Exports of analyses: JSON, CSV tables (one row per frame; one row per beat) and native masks.

Everything works from :meth:`CineAnalysis.as_dict` results, so a batch never holds more than one
cine's pixels: masks are streamed into the ``.npz`` one cine at a time. Files appear complete or
not at all (written beside the target, then renamed). Nothing here holds patient identifiers.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.measurements import CM_UNITS, MEASURES, UNIT_KIND
from echoviewer.io.atomic import atomic_output

FRAME_COLUMNS = ("file", "frame", "time_ms", "area_px", "area_cm2", "event", "event_by", "contour", "flags")
# Who made a result (echoviewer.analysis.provenance), in every per-beat and biplane row; empty
# where the caller gave no provenance.
PROVENANCE_COLUMNS = ("app", "model", "model_sha256", "study_key", "instance_key", "reader")


@contextmanager
def _text_output(path: str | os.PathLike[str]) -> Iterator[IO[str]]:
    """A UTF-8 text file (universal newlines off, as csv wants) that appears whole or not at all."""
    with atomic_output(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as out:
        yield out


def write_json(path: str | os.PathLike[str], cines: Sequence[dict], failed: Sequence[dict],
               biplane: Sequence[dict] = ()) -> None:
    """``{"cines": [...], "biplane": [...], "failed": [{"file", "error"}], "summary": {files,
    analysed, failed}}``; ``biplane`` holds :meth:`Biplane.as_dict` of every A4C + A2C pair."""
    document = {"cines": list(cines), "biplane": list(biplane), "failed": list(failed),
                "summary": {"files": len(cines) + len(failed), "analysed": len(cines),
                            "failed": len(failed)}}
    with _text_output(path) as out:
        json.dump(document, out, indent=1)


def measure_column(name: str, units: dict[str, str]) -> str:
    """CSV header of a measure, with its unit: ``ed_area`` → ``ed_area_cm2``, ``edv_disks`` →
    ``edv_disks_mL``; ratios and rates already name theirs."""
    return f"{name}_{units[UNIT_KIND[name]]}" if name in UNIT_KIND else name


def frame_rows(result: dict) -> Iterator[dict]:
    """One row per frame: time, area in px and cm², ED/ES mark, whose contour it is (``user`` where
    the user drew it, else ``model``) and the codes of its flags."""
    flags_of: dict[int, list[str]] = {}
    for flag in result["flags"]:
        for frame in flag["frames"]:
            flags_of.setdefault(frame, []).append(flag["code"])
    ed, es = set(result["ed_frames"]), set(result["es_frames"])
    made_by = {pick["frame"]: pick["by"] for pick in result["picks"]}
    cm2 = result["area_cm2"]
    drawn = set(result.get("contours_edited", ()))
    for frame in range(result["frames"]):
        yield {"file": result["file"], "frame": frame, "time_ms": result["frame_times_ms"][frame],
               "area_px": result["area_px"][frame], "area_cm2": "" if cm2 is None else cm2[frame],
               "event": "ED" if frame in ed else "ES" if frame in es else "",
               "event_by": made_by.get(frame, ""), "contour": "user" if frame in drawn else "model", "flags": ";".join(flags_of.get(frame, []))}


def beat_columns(units: dict[str, str]) -> tuple[str, ...]:
    return ("file", "beat", "ed_frame", "ed_by", "ed_model_frame", "es_frame", "es_by", "es_model_frame",
            "ed_time_ms", "es_time_ms", *(measure_column(name, units) for name in MEASURES), "volumes",
            "user_contours", "flags", *PROVENANCE_COLUMNS)


def _provenance(result: dict) -> dict:
    made = result.get("provenance") or {}
    return {column: _cell(made.get(column)) for column in PROVENANCE_COLUMNS}


def _beat_warnings(result: dict, beat: int | None) -> str:
    """Codes of the warnings about the whole cine (no frames or beats named) or about ``beat``."""
    return ";".join(flag["code"] for flag in result["flags"] if flag["severity"] == "warning"
                    and (not flag["frames"] and not flag["beats"] or beat in flag["beats"]))


def beat_rows(result: dict) -> Iterator[dict]:
    """One row per beat, then ``mean`` and ``sd`` rows; headers carry the units."""
    units, provenance = result["units"], _provenance(result)
    origin = {(pick["event"], pick["frame"]): pick for pick in result["picks"]}
    for index, beat in enumerate(result["beats"]):
        row = {"file": result["file"], "beat": index + 1, "flags": _beat_warnings(result, index),
               "volumes": result["volumes"], **provenance}
        row.update({key: beat[key] for key in ("ed_frame", "es_frame", "ed_time_ms", "es_time_ms")})
        for event in ("ED", "ES"):
            pick = origin[(event, beat[f"{event.lower()}_frame"])]
            row[f"{event.lower()}_by"], row[f"{event.lower()}_model_frame"] = pick["by"], _cell(pick["model_frame"])
        row.update({measure_column(name, units): _cell(beat[name]) for name in MEASURES})
        drawn = set(result.get("contours_edited", ()))
        row["user_contours"] = ";".join(phase for phase in ("ED", "ES") if beat[f"{phase.lower()}_frame"] in drawn)
        yield row
    for statistic in ("mean", "sd"):
        row = {"file": result["file"], "beat": statistic, "flags": _beat_warnings(result, None),
               "volumes": result["volumes"], **provenance}
        row.update({measure_column(name, units): _cell(result["summary"][name][statistic])
                    for name in MEASURES})
        yield row


def _cell(value: Any) -> Any:
    return "" if value is None else value


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: Any) -> Any:
    """A cell a spreadsheet will not run: text that starts like a formula (``=``, ``+``, ``-``,
    ``@``, as a file name may) gets a leading ``'`` (OWASP's advice on CSV injection); numbers,
    negative ones included, stay numbers."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        try:
            float(value)
        except ValueError:
            return "'" + value
    return value


class _InertWriter(csv.DictWriter):
    def writerow(self, rowdict: Mapping[str, Any]) -> Any:
        return super().writerow({key: inert(value) for key, value in rowdict.items()})

    def writerows(self, rowdicts: Iterable[Mapping[str, Any]]) -> None:
        for row in rowdicts:
            self.writerow(row)


def csv_writer(out: IO[str], columns: Sequence[str]) -> csv.DictWriter:
    """A writer of these tables' rows to ``out`` (a missing cell empty, an extra key ignored,
    every text cell :func:`inert`)."""
    return _InertWriter(out, fieldnames=list(columns), restval="", extrasaction="ignore")


def write_csv(path: str | os.PathLike[str], columns: Sequence[str], rows: Iterable[dict]) -> None:
    with _text_output(path) as out:
        writer = csv_writer(out, columns)
        writer.writeheader()
        writer.writerows(rows)


def write_frames_csv(path: str | os.PathLike[str], results: Sequence[dict]) -> None:
    """One row per frame of every cine."""
    write_csv(path, FRAME_COLUMNS, (row for result in results for row in frame_rows(result)))


def write_beats_csv(path: str | os.PathLike[str], results: Sequence[dict]) -> None:
    """One row per beat of every cine, then its mean and sd rows; a batch of calibrated and
    uncalibrated cines gets both sets of unit columns."""
    write_csv(path, _batch_beat_columns(results), (row for result in results for row in beat_rows(result)))


def _batch_beat_columns(results: Sequence[dict]) -> list[str]:
    """The per-beat columns of every unit set in a batch (calibrated and uncalibrated cines)."""
    unit_sets = [result["units"] for result in results] or [CM_UNITS]
    return list(dict.fromkeys(column for units in unit_sets for column in beat_columns(units)))


def write_cohort_csv(path: str | os.PathLike[str], results: Sequence[dict], failed: Sequence[dict]) -> None:
    """A cohort in one table: each cine's per-beat rows (then its mean and sd) led by its ``status``
    and ``reviewed`` tick, then one row per file that failed, with its ``error``."""
    columns = ["status", "reviewed", *_batch_beat_columns(results), "error"]

    def rows() -> Iterator[dict]:
        for result in results:
            for row in beat_rows(result):
                yield {"status": result.get("status", ""), "reviewed": result.get("reviewed", ""), **row}
        for failure in failed:
            yield {"status": "failed", "file": failure["file"], "error": failure["error"]}
    write_csv(path, columns, rows())


BIPLANE_COLUMNS = ("four_chamber", "two_chamber", "pair", "a4c_ed_frame", "a2c_ed_frame", "a4c_es_frame",
                   "a2c_es_frame", "edv_biplane_mL", "esv_biplane_mL", "ef_biplane_percent",
                   "ed_length_difference_percent", "es_length_difference_percent", "flags")


def biplane_rows(result: dict) -> Iterator[dict]:
    """One row per pair of beats of an A4C + A2C pair, then ``mean`` and ``sd`` rows."""
    files = {"four_chamber": result["four_chamber"], "two_chamber": result["two_chamber"]}
    warnings = [flag for flag in result["flags"] if flag["severity"] == "warning"]
    for index, beat in enumerate(result["beats"]):
        yield {**files, "pair": index + 1,
               "a4c_ed_frame": _cell(beat["ed_frames"][0]), "a2c_ed_frame": _cell(beat["ed_frames"][1]),
               "a4c_es_frame": _cell(beat["es_frames"][0]), "a2c_es_frame": _cell(beat["es_frames"][1]),
               "edv_biplane_mL": _cell(beat["edv"]), "esv_biplane_mL": _cell(beat["esv"]),
               "ef_biplane_percent": _cell(beat["ef_percent"]),
               "ed_length_difference_percent": _cell(beat["ed_length_difference_percent"]),
               "es_length_difference_percent": _cell(beat["es_length_difference_percent"]),
               "flags": ";".join(f["code"] for f in warnings if not f["beats"] or index in f["beats"])}
    summary = result["summary"]
    for statistic in ("mean", "sd"):
        yield {**files, "pair": statistic, "edv_biplane_mL": _cell(summary["edv"][statistic]),
               "esv_biplane_mL": _cell(summary["esv"][statistic]),
               "ef_biplane_percent": _cell(summary["ef_percent"][statistic]),
               "flags": ";".join(f["code"] for f in warnings if not f["beats"])}


def write_biplane_csv(path: str | os.PathLike[str], results: Sequence[dict]) -> None:
    write_csv(path, BIPLANE_COLUMNS, (row for result in results for row in biplane_rows(result)))


def _beside(frames_csv: str | os.PathLike[str], table: str) -> Path:
    path = Path(frames_csv)
    return path.with_name(f"{path.stem}_{table}{path.suffix or '.csv'}")


def beats_csv_path(frames_csv: str | os.PathLike[str]) -> Path:
    """Where the per-beat table goes beside the per-frame CSV: ``OUT.csv`` → ``OUT_beats.csv``."""
    return _beside(frames_csv, "beats")


def biplane_csv_path(frames_csv: str | os.PathLike[str]) -> Path:
    """``OUT.csv`` → ``OUT_biplane.csv``: the biplane table, written when a pair was found."""
    return _beside(frames_csv, "biplane")


class MaskWriter:
    """Native boolean LV masks, one (T, H, W) array per cine, added to an open ``.npz`` archive.

    Keys are ``<index>_<file stem>`` (index in the batch, three digits); ``np.load`` reads it
    without pickle.
    """

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        self._count = 0

    def add(self, analysis: CineAnalysis, stem: str | None = None) -> str:
        """One cine's masks, keyed ``<index>_<stem>`` (``stem``: its file's unless given)."""
        with self._member(analysis.cine.path.stem if stem is None else stem) as (key, member):
            np.lib.format.write_array(member, analysis.native_masks(), allow_pickle=False)
        return key

    def add_npy(self, stem: str, source: IO[bytes]) -> str:
        """One cine's masks already written as ``.npy`` bytes (a batch worker's), copied as they are."""
        with self._member(stem) as (key, member):
            shutil.copyfileobj(source, member)
        return key

    @contextmanager
    def _member(self, stem: str) -> Iterator[tuple[str, IO[bytes]]]:
        key = f"{self._count:03d}_{stem}"
        with self._archive.open(f"{key}.npy", "w", force_zip64=True) as member:
            yield key, member
        self._count += 1


@contextmanager
def mask_archive(path: str | os.PathLike[str]) -> Iterator[MaskWriter]:
    """A :class:`MaskWriter` whose ``.npz`` appears at ``path`` only when the block ends normally."""
    with atomic_output(path) as temporary, \
            zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        yield MaskWriter(archive)
