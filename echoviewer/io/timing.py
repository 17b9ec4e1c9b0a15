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
        return FrameTiming.uniform(n_frames, frame_time, "FrameTime", note="; ".join(notes))

    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = _positive_float(ds.get(keyword))
        if rate is not None:
            notes.append(f"{keyword} is a display rate, not acquisition timing")
            return FrameTiming.uniform(n_frames, 1000.0 / rate, keyword, note="; ".join(notes))

    duration_s = _positive_float(ds.get("EffectiveDuration"))
    if duration_s is not None and n_frames > 1:
        return FrameTiming.uniform(n_frames, duration_s * 1000.0 / (n_frames - 1),
                                   "EffectiveDuration", note="; ".join(notes))

    notes.append(f"no frame timing in the file; {ASSUMED_FPS:g} fps assumed")
    return assumed_timing(n_frames, "; ".join(notes))


def assumed_timing(n_frames: int, note: str) -> FrameTiming:
    return FrameTiming.uniform(n_frames, 1000.0 / ASSUMED_FPS, "assumed", assumed=True, note=note)
