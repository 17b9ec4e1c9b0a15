"""Checks of a model's masks on a real cine that need no labels.

Each is a small function of the native LV area curve (pixels per frame) or of the native masks:

* :func:`period` — the curve's heart period: the peak of its normalised autocorrelation at lags
  from 0.3 s to 2 s (200 to 30 bpm), its lag (frames) and the heart rate that lag means; beside it
  ``label_free_checks`` reports the product's own periodicity (:func:`echoviewer.analysis.quality.periodicity`,
  the number the ``aperiodic`` flag judges), so the yardstick and the viewer agree on it;
* :func:`spike_index` — how far the curve's maximum stands above its diastolic plateau, as a
  fraction of the curve's range; a mask that leaks through the open mitral valve into the atrium
  for a few frames shows as a spike above the plateau;
* :func:`closure_overshoot` — given the frames where the mitral valve closes (read on the images),
  how far the area in the frames just before each closure rises above the area at closure: a mask
  that leaks into the atrium at atrial contraction rises and falls back before the valve shuts,
  while a true atrial kick keeps rising until closure (where the index above cannot tell the two
  apart: the simulator's own truth curves score up to about 0.23 on it);
* :func:`area_jitter` — how much the curve jumps from one frame to the next, beyond a straight
  line through its neighbours, as a fraction of the area: the noise a rise before closure is
  weighed against;
* :func:`basal_motion` — how much the mask's basal edge (the line between its two basal corners,
  the mitral annulus hinges of :func:`echoviewer.analysis.geometry.long_axis`) moves from one frame
  to the next, in native pixels; a wandering mitral plane makes it jump.

:func:`label_free_checks` gathers them, with the beats ``analyze`` found, for one analysis.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.signal import correlate, find_peaks

from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.geometry import long_axis
from echoviewer.analysis.quality import periodicity

SHORTEST_PERIOD_S = 0.3  # 200 bpm
LONGEST_PERIOD_S = 2.0  # 30 bpm
PLATEAU_QUANTILE = 5 / 6  # the median of the curve's upper third of frames


def autocorrelation(curve: np.ndarray) -> np.ndarray:
    """The normalised autocorrelation r(k) = Σ x(t) x(t+k) / Σ x(t)², x the curve minus its mean,
    for lags k = 0 … T−1 (r(0) = 1; all zeros for a flat curve). Longer lags overlap less and
    weigh less, so one period beats two."""
    x = np.asarray(curve, float) - np.mean(curve)
    energy = float(np.dot(x, x))
    if not len(x) or energy == 0:
        return np.zeros(len(x))
    return correlate(x, x, mode="full")[len(x) - 1:] / energy


def period(area: np.ndarray, fps: float, *, shortest_s: float = SHORTEST_PERIOD_S,
           longest_s: float = LONGEST_PERIOD_S) -> dict[str, float | int | None]:
    """The highest local maximum of :func:`autocorrelation` at lags from ``shortest_s`` to
    ``longest_s`` (and at most T − 2 frames): ``autocorrelation``, ``lag_frames`` and ``bpm``
    (60 fps / lag). All None when there is none (a flat, monotonic or too short curve)."""
    r = autocorrelation(area)
    low, high = int(np.ceil(shortest_s * fps)), min(int(np.floor(longest_s * fps)), len(r) - 2)
    peaks, _ = find_peaks(r)
    peaks = peaks[(peaks >= low) & (peaks <= high)]
    if not peaks.size:
        return {"autocorrelation": None, "lag_frames": None, "bpm": None}
    lag = int(peaks[np.argmax(r[peaks])])
    return {"autocorrelation": float(r[lag]), "lag_frames": lag, "bpm": 60.0 * fps / lag}


def spike_index(area: np.ndarray) -> float | None:
    """(max − plateau) / (max − min) of the area curve, in [0, 1]; None for a flat curve.

    The plateau is the median of the upper third of the frames ranked by area (the curve's 5/6
    quantile): diastole is the long, flat, large-area part of a beat. A smooth beat-to-beat curve
    scores about 0.05–0.15 (a sinusoid: 0.067); a few frames of leak above the plateau raise it.
    """
    curve = np.asarray(area, float)
    if not len(curve):
        return None
    top, bottom = float(curve.max()), float(curve.min())
    if top == bottom:
        return None
    plateau = float(np.quantile(curve, PLATEAU_QUANTILE))
    return (top - plateau) / (top - bottom)


PRE_CLOSURE_FRAMES = 5  # 167 ms at 30 fps: a little longer than the atrial kick (80-140 ms)


def closure_overshoot(area: np.ndarray, closures: Sequence[int], *,
                      frames: int = PRE_CLOSURE_FRAMES) -> list[float | None]:
    """For each closure frame c: max(0, max(area[c − frames : c]) − area[c]) / area[c], the rise of
    the curve before closure above its value at closure, as a fraction of that value; None where the
    clip holds no frame before c or c is outside it, or the area at c is 0."""
    curve = np.asarray(area, float)
    out: list[float | None] = []
    for closure in closures:
        before = curve[max(closure - frames, 0):closure]
        if not 0 < closure < len(curve) or not before.size or curve[closure] <= 0:
            out.append(None)
            continue
        out.append(max(0.0, float(before.max() - curve[closure])) / float(curve[closure]))
    return out


def area_jitter(area: np.ndarray) -> dict[str, float | None]:
    """Median and 90th percentile of |a(t) − (a(t−1) + a(t+1)) / 2| / a(t) over the inner frames
    with a non-zero area; None for a curve shorter than 3 frames or with no such frame."""
    curve = np.asarray(area, float)
    if len(curve) < 3:
        return {"median": None, "p90": None}
    middle = curve[1:-1]
    kept = middle > 0
    if not kept.any():
        return {"median": None, "p90": None}
    jump = np.abs(middle - (curve[:-2] + curve[2:]) / 2)[kept] / middle[kept]
    return {"median": float(np.median(jump)), "p90": float(np.percentile(jump, 90))}


def basal_corners(mask: np.ndarray) -> np.ndarray | None:
    """The two basal corners (x, y) of the mask's largest piece, image-left first, native pixels;
    None for a mask too small to have a long axis."""
    axis = long_axis(mask)
    if axis is None:
        return None
    return np.array(sorted(axis.annulus), float)


def basal_motion(mask_of: Callable[[int], np.ndarray], n_frames: int) -> np.ndarray:
    """Frame-to-frame motion (px) of the basal edge: for frames t−1 and t, the mean distance their
    two corners moved, left to left and right to right; NaN where either frame has no corners.
    ``mask_of(i)`` is frame i's native mask. Shape (n_frames − 1,)."""
    corners = [basal_corners(mask_of(i)) for i in range(n_frames)]
    motion = np.full(max(n_frames - 1, 0), np.nan)
    for t in range(1, n_frames):
        before, now = corners[t - 1], corners[t]
        if before is not None and now is not None:
            motion[t - 1] = float(np.mean(np.hypot(*(now - before).T)))
    return motion


def _finite_stats(values: np.ndarray) -> dict[str, float | None]:
    finite = values[np.isfinite(values)]
    if not finite.size:
        return {"median_px": None, "p90_px": None}
    return {"median_px": float(np.median(finite)), "p90_px": float(np.percentile(finite, 90))}


def label_free_checks(analysis: CineAnalysis) -> dict:
    """Beats found, the area curve (native px), periodicity, spike index and basal-line stability of one
    analysed cine."""
    area = analysis.area_px
    segmentation = analysis.segmentation
    motion = basal_motion(segmentation.native_mask, segmentation.n_frames)
    fps = analysis.cine.timing.fps
    r = periodicity(area, fps)
    return {"frames": int(len(area)), "fps": float(fps),
            "ed_found": len(analysis.ed_frames), "es_found": len(analysis.es_frames),
            "ed_frames": list(analysis.ed_frames), "es_frames": list(analysis.es_frames),
            "area_px": [int(round(value)) for value in area],
            "beats": len(analysis.beats),
            "periodicity": {"r": None if np.isnan(r) else r, **period(area, fps)},
            "spike_index": spike_index(area), "area_jitter": area_jitter(area), "basal_motion": _finite_stats(motion)}
