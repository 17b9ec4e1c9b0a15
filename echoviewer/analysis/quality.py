"""Quality flags a user must see, computed without labels.

Each flag is a code, a severity (``warning`` or ``info``), a one-line message and the frames or
beats it concerns:

* ``no_beat`` — no ED followed by an ES: nothing could be measured.
* ``aperiodic`` — the area curve does not repeat at any heart rate between 30 and 220 bpm (best
  Pearson correlation of the curve with itself shifted by one period below 0.3).
* ``mask_empty``, ``mask_split``, ``mask_at_sector_edge`` — frames with no LV, with the LV in
  several pieces (a second piece of at least 2 % of the largest), or touching the sector's edge
  (the LV is probably cut off or foreshortened).
* ``model_disagreement`` — frames where the model and the comparison model (student vs teacher)
  overlap with Dice below 0.8.
* ``implausible_ef``, ``implausible_heart_rate`` — beats with EF outside 5–90 % or a heart rate
  outside 30–220 bpm.
* ``view_not_apical`` — not an apical view the models can measure (:mod:`echoviewer.analysis.view_gate`).
* ``frames_damaged`` — frames whose compressed data is damaged (``CineMetadata.damaged_frames``).
* ``frame_rate_assumed``, ``uncalibrated`` (info) — timings or cm values the file could not give.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

from echoviewer.analysis.measurements import Beat
from echoviewer.analysis.phases import MAX_HEART_RATE_BPM, MIN_HEART_RATE_BPM

PERIODIC_CORRELATION = 0.3
SPLIT_FRACTION = 0.02
DISAGREEMENT_DICE = 0.8
EF_RANGE = (5.0, 90.0)
_EDGE_PX = 1  # model-view pixels from the sector's edge that count as touching it


@dataclass(frozen=True)
class Flag:
    code: str
    severity: str
    message: str
    frames: list[int] = field(default_factory=list)
    beats: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def periodicity(area: np.ndarray, fps: float) -> float:
    """Best Pearson correlation of the curve with itself shifted by one period of 30–220 bpm (NaN
    when the clip is too short to hold two of the shortest periods)."""
    curve = np.asarray(area, float)
    shortest = max(1, int(np.ceil(fps * 60.0 / MAX_HEART_RATE_BPM)))
    longest = min(int(fps * 60.0 / MIN_HEART_RATE_BPM), len(curve) - shortest)
    best = np.nan
    for lag in range(shortest, longest + 1):
        a, b = curve[:-lag], curve[lag:]
        if a.std() > 0 and b.std() > 0:
            best = np.fmax(best, float(np.corrcoef(a, b)[0, 1]))
    return float(best)


def _frames(condition: np.ndarray | np.bool_) -> list[int]:
    return [int(i) for i in np.flatnonzero(condition)]


def mask_flags(masks: np.ndarray, sector: np.ndarray) -> list[Flag]:
    """Empty, split and edge-touching masks; boolean (T, h, w) masks and (h, w) sector, model view."""
    padded = np.pad(sector.astype(np.uint8), 1)  # the image border is an edge too
    inner = cv2.erode(padded, np.ones((2 * _EDGE_PX + 1,) * 2, np.uint8))[1:-1, 1:-1] > 0
    empty, split = [], []
    for index, mask in enumerate(masks):
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
        areas = np.sort(stats[1:, cv2.CC_STAT_AREA])[::-1]
        if not areas.size:
            empty.append(index)
        elif areas.size > 1 and areas[1] >= SPLIT_FRACTION * areas[0]:
            split.append(index)
    edge = _frames((masks & ~inner).reshape(len(masks), -1).any(axis=1))
    flags = []
    if empty:
        flags.append(Flag("mask_empty", "warning", f"no LV found in {len(empty)} frame(s)", empty))
    if split:
        flags.append(Flag("mask_split", "warning", f"LV mask in several pieces in {len(split)} frame(s)",
                          split))
    if edge:
        flags.append(Flag("mask_at_sector_edge", "warning",
                          f"LV mask touches the imaging sector's edge in {len(edge)} frame(s): the LV "
                          "may be cut off or foreshortened", edge))
    return flags


def dice_per_frame(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Dice of two boolean (T, h, w) mask stacks, frame by frame (1 where both are empty)."""
    both = (a & b).reshape(len(a), -1).sum(axis=1)
    total = a.reshape(len(a), -1).sum(axis=1) + b.reshape(len(b), -1).sum(axis=1)
    return np.where(total > 0, 2.0 * both / np.maximum(total, 1), 1.0)


def disagreement_flag(dice: np.ndarray, other: str) -> Flag | None:
    low = dice < DISAGREEMENT_DICE
    if not low.any():
        return None
    return Flag("model_disagreement", "warning",
                f"{other} disagrees (Dice < {DISAGREEMENT_DICE}) in {int(low.sum())} frame(s); "
                f"mean Dice {float(dice.mean()):.3f}", _frames(low))


def beat_flags(beats: Sequence[Beat], area: np.ndarray, fps: float) -> list[Flag]:
    """No beat, an aperiodic curve, implausible EF or heart rate."""
    flags = []
    if not beats:
        flags.append(Flag("no_beat", "warning",
                          "no beat found (no ED followed by an ES): no measurement; check the mask "
                          "and the clip length"))
    r = periodicity(area, fps)
    if not r >= PERIODIC_CORRELATION:
        detail = "clip too short to judge" if np.isnan(r) else f"best correlation {r:.2f}"
        flags.append(Flag("aperiodic", "warning",
                          f"the LV area curve does not repeat at 30-220 bpm ({detail}): ED/ES picks "
                          "are unreliable"))
    low, high = EF_RANGE
    bad_ef = [i for i, beat in enumerate(beats)
              if any(ef is not None and not low <= ef <= high
                     for ef in (beat.ef_disks_percent, beat.ef_area_length_percent))]
    if bad_ef:
        flags.append(Flag("implausible_ef", "warning", f"EF outside {low:g}-{high:g} % in "
                          f"{len(bad_ef)} beat(s)", beats=bad_ef))
    bad_rate = [i for i, beat in enumerate(beats) if beat.heart_rate_bpm is not None
                and not MIN_HEART_RATE_BPM <= beat.heart_rate_bpm <= MAX_HEART_RATE_BPM]
    if bad_rate:
        flags.append(Flag("implausible_heart_rate", "warning",
                          f"heart rate outside {MIN_HEART_RATE_BPM:g}-{MAX_HEART_RATE_BPM:g} bpm in "
                          f"{len(bad_rate)} beat(s)", beats=bad_rate))
    return flags
