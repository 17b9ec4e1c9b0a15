"""Frame timing from DICOM attributes, with the precedence of PS3.3 C.7.6.5.

FrameTimeVector (when it has one positive step per frame) → FrameTime → CineRate → RecommendedDisplayFrameRate →
EffectiveDuration → an assumed rate (flagged). CineRate and RecommendedDisplayFrameRate are
display hints, not acquisition timing; they are used only when nothing better exists, and the
timing note says so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from echoviewer.io.cine import FrameTiming

ASSUMED_FPS = 30.0
# Frame rates an echo cine can have (high-frame-rate research scanners reach ~1,000 fps, stress
# loops store ~1 fps): a rate or interval outside is a damaged or mistyped value, ignored like an
# absent one, so no analysis divides by a zero or an infinite interval.
PLAUSIBLE_FPS = (0.5, 1000.0)


def plausible_fps(fps: float) -> bool:
    return math.isfinite(fps) and PLAUSIBLE_FPS[0] <= fps <= PLAUSIBLE_FPS[1]


def plausible_steps(steps_ms: np.ndarray) -> bool:
    """Whether every frame-to-frame step (ms) is a plausible frame interval."""
    steps = np.asarray(steps_ms, dtype=np.float64)
    return bool(steps.size) and bool(np.all(np.isfinite(steps))) and \
        bool(np.all((steps >= 1000.0 / PLAUSIBLE_FPS[1]) & (steps <= 1000.0 / PLAUSIBLE_FPS[0])))


def _implausible(keyword: str, value: float, unit: str) -> str:
    low, high = PLAUSIBLE_FPS
    return f"{keyword} {value:g} {unit} is outside {low:g}-{high:g} fps; ignored"


def _positive_float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _as_list(value: Any) -> list[Any]:
    """pydicom gives a bare value for VM 1 and a MultiValue otherwise."""
    return [value] if isinstance(value, (int, float, str, bytes)) else list(value)


def _from_vector(ds: Any, n_frames: int) -> tuple[FrameTiming | None, str]:
    vector = ds.get("FrameTimeVector")
    if vector is None:
        return None, ""
    try:
        values = _as_list(vector)
        steps = np.array([float(v) for v in values])
    except (TypeError, ValueError):
        return None, "FrameTimeVector unreadable"
    if len(steps) == n_frames:
        steps = steps[1:]  # the first increment is defined as 0
    if len(steps) != n_frames - 1 or n_frames < 2:
        return None, f"FrameTimeVector has {len(values)} values for {n_frames} frames; ignored"
    if not np.all(np.isfinite(steps)) or np.any(steps <= 0):
        return None, "FrameTimeVector has non-positive increments; ignored"
    if not plausible_steps(steps):
        return None, f"FrameTimeVector has steps outside {PLAUSIBLE_FPS[0]:g}-{PLAUSIBLE_FPS[1]:g} fps; ignored"
    times = np.concatenate([[0.0], np.cumsum(steps)])
    return FrameTiming.from_times(times, "FrameTimeVector"), ""


def dicom_timing(ds: Any, n_frames: int) -> FrameTiming:
    """Per-frame times for a DICOM dataset with ``n_frames`` frames."""
    notes: list[str] = []
    timing, note = _from_vector(ds, n_frames)
    if timing is not None:
        return timing
    if note:
        notes.append(note)

    frame_time = _positive_float(ds.get("FrameTime"))
    if frame_time is not None:
        if plausible_fps(1000.0 / frame_time):
            return FrameTiming.uniform(n_frames, frame_time, "FrameTime", note="; ".join(notes))
        notes.append(_implausible("FrameTime", frame_time, "ms"))

    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive_float(ds.get(keyword))
        if rate is not None:
            if not plausible_fps(rate):
                notes.append(_implausible(keyword, rate, "fps"))
                continue
            notes.append(f"{keyword} is a display rate, not acquisition timing")
            return FrameTiming.uniform(n_frames, 1000.0 / rate, keyword, note="; ".join(notes))

    duration_s = _positive_float(ds.get("EffectiveDuration"))
    if duration_s is not None and n_frames > 1:
        if plausible_fps((n_frames - 1) / duration_s):
            return FrameTiming.uniform(n_frames, duration_s * 1000.0 / (n_frames - 1),
                                       "EffectiveDuration", note="; ".join(notes))
        notes.append(_implausible("EffectiveDuration", duration_s, "s"))

    notes.append(f"no {'usable ' if notes else ''}frame timing in the file; {ASSUMED_FPS:g} fps assumed")
    return assumed_timing(n_frames, "; ".join(notes))


def assumed_timing(n_frames: int, note: str) -> FrameTiming:
    return FrameTiming.uniform(n_frames, 1000.0 / ASSUMED_FPS, "assumed", assumed=True, note=note)
