"""End-diastole (ED, largest LV) and end-systole (ES, smallest LV) frames from an LV area curve.

Two rules:

* :func:`find_events` finds every beat's ED and ES without a reference: peaks of the curve (as
  SciPy's ``find_peaks``), with a minimum spacing from the frame rate and the fastest plausible
  heart rate, and a prominence relative to a robust range of the curve (5th to 95th percentile),
  so neither the size of the heart nor the zoom matters.
* :func:`block_rule` is the EchoDFKD evaluation rule, which refines a given reference frame: the
  lowest point of the below-median block nearest to the reference (for aFD, the mean absolute
  frame distance between estimates and references).
"""

from __future__ import annotations

import math

import numpy as np

MIN_HEART_RATE_BPM = 30.0
MAX_HEART_RATE_BPM = 220.0
SMOOTHING_HALF_WIDTH_S = 0.03  # events are looked for on the curve smoothed over ±30 ms
TIMING_THRESHOLD = 25  # uint8 soft-mask level for the timing curve (sigmoid ≳ 0.10), as EchoDFKD
MASK_THRESHOLD = 80  # uint8 soft-mask level for masks, areas and Dice (sigmoid ≳ 0.32), as EchoDFKD


def area_curve(soft_masks: np.ndarray, threshold: int = TIMING_THRESHOLD) -> np.ndarray:
    """Pixels above ``threshold`` in each uint8 soft mask (T, H, W) → float (T,)."""
    return (soft_masks > threshold).reshape(len(soft_masks), -1).sum(axis=1).astype(float)


def find_events(area: np.ndarray, fps: float, *, prominence: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """ED frames (local maxima) and ES frames (local minima) of every beat.

    Peaks closer than 60 % of a beat at 220 bpm are merged (the higher wins); a peak must stand out by
    ``prominence`` × (95th − 5th percentile of the curve). Above 33 fps the curve is first smoothed
    over ±30 ms, so frame-to-frame mask jitter cannot split one event in two, and each event is then
    moved to the raw curve's extreme within that window. Events at the clip's ends are found only
    when the curve turns there, as SciPy never reports an end sample as a peak.
    """
    area = np.asarray(area, float)
    spread = np.percentile(area, 95) - np.percentile(area, 5) if len(area) else 0.0
    if len(area) < 3 or spread <= 0:
        return np.empty(0, int), np.empty(0, int)
    distance = max(1, int(round(0.6 * fps * 60.0 / MAX_HEART_RATE_BPM)))
    half = int(fps * SMOOTHING_HALF_WIDTH_S)
    curve = moving_mean(area, half) if half else area
    events = []
    for sign in (1.0, -1.0):
        peaks = find_peaks(sign * curve, distance=distance, prominence=prominence * spread)
        starts = [max(p - half, 0) for p in peaks]
        refined = [start + int(np.argmax(sign * area[start:p + half + 1])) for start, p in zip(starts, peaks)]
        events.append(np.unique(np.asarray(refined, int)))
    return events[0], events[1]


def moving_mean(x: np.ndarray, half: int) -> np.ndarray:
    """The mean of each sample's ±``half`` neighbours, the ends repeated beyond the curve (SciPy's
    ``uniform_filter1d(x, 2 * half + 1, mode="nearest")``; the same values for integer counts)."""
    padded = np.pad(np.asarray(x, float), half, mode="edge")
    sums = np.concatenate(([0.0], np.cumsum(padded)))
    return (sums[2 * half + 1:] - sums[:-2 * half - 1]) / (2 * half + 1)


def find_peaks(x: np.ndarray, *, distance: float, prominence: float) -> np.ndarray:
    """The peaks SciPy's ``find_peaks(x, distance=distance, prominence=prominence)`` returns.

    Here, not imported: ``scipy.signal`` costs every process that analyses a cine ~0.4 s to import
    (it pulls ``scipy.stats``), far more than this takes on a curve of a few hundred frames. Local
    maxima (a plateau's middle, left of centre), then the highest first keeps its ±``distance``
    (rounded up) clear, then those standing out by at least ``prominence`` over the higher of the
    lowest points on each side before a higher sample.
    """
    x = np.asarray(x, float)
    peaks = []
    i = 1
    while i < len(x) - 1:
        if x[i - 1] < x[i]:
            ahead = i + 1
            while ahead < len(x) - 1 and x[ahead] == x[i]:
                ahead += 1
            if x[ahead] < x[i]:
                peaks.append((i + ahead - 1) // 2)
                i = ahead
        i += 1
    spacing = math.ceil(distance)
    keep = np.ones(len(peaks), bool)
    for j in np.argsort(x[peaks])[::-1]:  # the same order as SciPy's, ties included
        if keep[j]:
            near = np.abs(np.asarray(peaks) - peaks[j]) < spacing
            keep[near] = False
            keep[j] = True
    kept = []
    for peak in np.asarray(peaks, int)[keep]:
        higher = np.flatnonzero(x > x[peak])
        left = higher[higher < peak]
        right = higher[higher > peak]
        left_min = x[(left[-1] + 1 if len(left) else 0):peak + 1].min()
        right_min = x[peak:(right[0] if len(right) else len(x))].min()
        if x[peak] - max(left_min, right_min) >= prominence:
            kept.append(peak)
    return np.asarray(kept, int)


def block_rule(area: np.ndarray, reference: int, kind: str) -> int:
    """EchoDFKD's estimate of the ED (``kind="ed"``) or ES frame nearest to ``reference``.

    The curve is z-scored (negated for ED so both events are minima); frames strictly below the
    median (or, if none, at most the median) form blocks of consecutive frames; the block whose
    nearer end is closest to the reference wins (ties: the earliest), and its lowest frame is the
    estimate. Only the ends count, so from a reference between two blocks the one with the nearer
    edge wins even when the other holds a lower frame nearer to the reference (a block holding the
    reference always wins): the paper's rule, kept as it is for comparable aFD.
    """
    if kind not in ("ed", "es"):
        raise ValueError(f"kind must be 'ed' or 'es', not {kind!r}")
    curve = np.asarray(area, float)
    sd = curve.std()
    z = (curve - curve.mean()) / sd if sd > 0 else np.zeros_like(curve)
    if kind == "ed":
        z = -z
    median = np.median(z)
    low = z < median
    if not low.any():
        low = z <= median
    edges = np.flatnonzero(np.diff(np.concatenate([[0], low.astype(int), [0]])))
    blocks = edges.reshape(-1, 2) - [0, 1]  # inclusive (start, end)
    distances = np.minimum(np.abs(blocks[:, 0] - reference), np.abs(blocks[:, 1] - reference))
    start, end = blocks[int(np.argmin(distances))]
    return int(start + np.argmin(z[start:end + 1]))
