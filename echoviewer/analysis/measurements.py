"""Per-beat LV measurements from ED/ES picks, after ASE/EACVI single-plane (A4C) conventions.

A beat is an ED frame and the first ES frame after it, before the next ED. Heart rate comes from
the interval between this beat's ED and the next one, in the cine's frame times. Areas, lengths
and volumes are in cm², cm and mL when the cine is calibrated, else in pixels (px², px, px³,
assuming square pixels); FAC and EF are ratios and need no calibration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from echoviewer.analysis.geometry import LongAxis, area_length_volume, disk_volume, long_axis
from echoviewer.io import Calibration

CM_UNITS = {"area": "cm2", "length": "cm", "volume": "mL"}
PX_UNITS = {"area": "px2", "length": "px", "volume": "px3"}


@dataclass(frozen=True)
class Beat:
    """One beat's measurements; ``None`` where a value cannot be computed."""

    ed_frame: int
    es_frame: int
    ed_time_ms: float
    es_time_ms: float
    ed_area: float
    es_area: float
    fac_percent: float | None
    ed_length: float | None
    es_length: float | None
    edv_disks: float | None
    esv_disks: float | None
    ef_disks_percent: float | None
    edv_area_length: float | None
    esv_area_length: float | None
    ef_area_length_percent: float | None
    heart_rate_bpm: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


MEASURES = tuple(name for name in Beat.__dataclass_fields__ if name not in
                 ("ed_frame", "es_frame", "ed_time_ms", "es_time_ms"))
# Which unit (a key of CM_UNITS / PX_UNITS) each dimensional measure is in; the others name theirs.
UNIT_KIND = {"ed_area": "area", "es_area": "area", "ed_length": "length", "es_length": "length",
             "edv_disks": "volume", "esv_disks": "volume", "edv_area_length": "volume",
             "esv_area_length": "volume"}


def pair_beats(ed_frames: Sequence[int], es_frames: Sequence[int]) -> list[tuple[int, int]]:
    """(ED, ES) of every beat: each ED with the first ES after it and before the next ED."""
    ed = sorted(int(f) for f in ed_frames)
    es = np.asarray(sorted(int(f) for f in es_frames), int)
    pairs = []
    for index, frame in enumerate(ed):
        stop = ed[index + 1] if index + 1 < len(ed) else np.inf
        after = es[(es > frame) & (es < stop)]
        if after.size:
            pairs.append((frame, int(after[0])))
    return pairs


def pick_of_beat(frame: int, own: Sequence[int], other: Sequence[int]) -> int | None:
    """The pick among ``own`` (ED frames, say) of the beat that ``frame`` lies in: the nearest one
    with none of ``other`` (the ES frames) strictly between it and ``frame``; None when that beat
    has none."""
    candidates = [f for f in own if not any(min(f, frame) < o < max(f, frame) for o in other)]
    return min(candidates, key=lambda f: (abs(f - frame), f), default=None)


def change_percent(before: float | None, after: float | None) -> float | None:
    """(before − after) / before in % (FAC, EF); None when either is missing or before is not positive."""
    if before is None or after is None or before <= 0:
        return None
    return 100.0 * (before - after) / before


def pixel_spacing(calibration: Calibration | None) -> tuple[float, float]:
    """cm per pixel (x, y), or (1, 1): lengths and volumes in pixels when uncalibrated."""
    return (calibration.cm_per_px_x, calibration.cm_per_px_y) if calibration else (1.0, 1.0)


def measure_beats(mask_of: Callable[[int], np.ndarray], area: np.ndarray, times_ms: np.ndarray,
                  ed_frames: Sequence[int], es_frames: Sequence[int], calibration: Calibration | None,
                  axis_of: Callable[[int, tuple[float, float]], LongAxis | None] | None = None) -> list[Beat]:
    """Measurements of every beat. ``mask_of(frame)`` gives the native boolean LV mask and ``area``
    the native LV area per frame in the same unit as the calibration (cm² or px²); ``axis_of(frame,
    spacing)``, where it gives one, is that frame's long axis (a user's landmarks) instead of the
    one found on the mask."""
    spacing = pixel_spacing(calibration)
    ed_sorted = sorted(int(f) for f in ed_frames)
    beats = []
    for ed, es in pair_beats(ed_frames, es_frames):
        geometry = {}
        for phase, frame in (("ed", ed), ("es", es)):
            mask = mask_of(frame)
            axis = (axis_of(frame, spacing) if axis_of is not None else None) or long_axis(mask, spacing)
            geometry[phase] = (None, None, None) if axis is None else (
                axis.length, disk_volume(mask, axis, spacing),
                area_length_volume(float(area[frame]), axis.length))
        later = [f for f in ed_sorted if f > ed]
        interval = float(times_ms[later[0]] - times_ms[ed]) if later else 0.0
        (ed_length, edv_disks, edv_al), (es_length, esv_disks, esv_al) = geometry["ed"], geometry["es"]
        beats.append(Beat(
            ed_frame=ed, es_frame=es, ed_time_ms=float(times_ms[ed]), es_time_ms=float(times_ms[es]),
            ed_area=float(area[ed]), es_area=float(area[es]),
            fac_percent=change_percent(float(area[ed]), float(area[es])),
            ed_length=ed_length, es_length=es_length,
            edv_disks=edv_disks, esv_disks=esv_disks, ef_disks_percent=change_percent(edv_disks, esv_disks),
            edv_area_length=edv_al, esv_area_length=esv_al,
            ef_area_length_percent=change_percent(edv_al, esv_al),
            heart_rate_bpm=60000.0 / interval if interval > 0 else None))
    return beats


def summarize(beats: Sequence[Any], measures: Sequence[str] = MEASURES) -> dict[str, dict[str, float | int | None]]:
    """Mean, SD (n − 1; None for one value) and count of every measure (an attribute of each beat)
    over the beats that have it."""
    summary = {}
    for name in measures:
        values = np.array([v for beat in beats if (v := getattr(beat, name)) is not None], float)
        summary[name] = {"mean": float(values.mean()) if values.size else None,
                         "sd": float(values.std(ddof=1)) if values.size > 1 else None,
                         "n": int(values.size)}
    return summary
