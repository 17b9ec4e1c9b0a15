"""Where the ultrasound image is: the sector mask and, without DICOM regions, its rectangle.

Outside the sector the image is black but for burned-in text, rulers and traces, which are thin
and apart from it; so the sector is the convex hull of the largest blob of pixels that are not
black in some frame (dark blood pools inside it are filled by the hull).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

from echoviewer.io.pixels import frame_grey, has_colour, sample_indices

_SAMPLED_FRAMES = 16
_NON_BLACK_THRESHOLD = 8


@dataclass(frozen=True)
class ImagingRegion:
    """Rectangle holding the 2D image, inclusive pixel bounds as DICOM writes them."""

    x0: int
    y0: int
    x1: int
    y1: int
    source: str


def region_samples(n_frames: int) -> np.ndarray:
    """The frames :func:`content_region` looks at."""
    return sample_indices(n_frames, _SAMPLED_FRAMES)


def _candidate_pixels(frames: np.ndarray) -> np.ndarray:
    return frames[region_samples(frames.shape[0])].max(axis=0) > _NON_BLACK_THRESHOLD


def _largest_convex_blob(candidates: np.ndarray) -> np.ndarray | None:
    binary: np.ndarray = candidates.astype(np.uint8)
    size = max(3, (min(binary.shape) // 40) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    binary = cv2.morphologyEx(binary, cv2.MORPH_CLOSE, kernel)
    binary = cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel)
    n_labels, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    if n_labels < 2:
        return None
    largest = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    points = cv2.findNonZero((labels == largest).astype(np.uint8))
    mask = np.zeros(binary.shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(points), 1)
    return mask.astype(bool)


def estimate_sector_mask(frames: np.ndarray, region: ImagingRegion) -> np.ndarray:
    """Boolean (H, W) mask of the imaging sector inside ``region``; the rectangle if none is found."""
    height, width = frames.shape[1:3]
    mask = np.zeros((height, width), bool)
    window = (slice(region.y0, region.y1 + 1), slice(region.x0, region.x1 + 1))
    blob = _largest_convex_blob(_candidate_pixels(frames[(slice(None), *window)]))
    mask[window] = True if blob is None else blob
    return mask


def content_region(frames: np.ndarray) -> ImagingRegion:
    """Bounding rectangle of the sector estimated from the pixels (the whole frame if none)."""
    height, width = frames.shape[1:3]
    whole = ImagingRegion(0, 0, width - 1, height - 1, "whole frame")
    blob = _largest_convex_blob(_candidate_pixels(frames))
    if blob is None:
        return whole
    ys, xs = np.nonzero(blob)
    return ImagingRegion(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()), "image content")


def look_samples(n_frames: int) -> list[int]:
    """The frames :func:`sampled_look` needs, in order."""
    return sorted({*sample_indices(n_frames).tolist(), *region_samples(n_frames).tolist()})


def sampled_look(frames: Iterable[tuple[int, np.ndarray]], n_frames: int, *, bgr: bool = False
                 ) -> tuple[bool, ImagingRegion]:
    """(whether the content has colour, :func:`content_region`) of a cine of ``n_frames``, judged as
    its loader judges them but from (index, uint8 frame) pairs at :func:`look_samples` alone ((H, W)
    grey or (H, W, 3) RGB, BGR with ``bgr``), each looked at as it comes and let go."""
    colour_at, region_at = set(sample_indices(n_frames).tolist()), set(region_samples(n_frames).tolist())
    colour, greys = False, []
    for index, frame in frames:
        if index in colour_at and frame.ndim == 3 and not colour:
            colour = has_colour([frame])
        if index in region_at:
            greys.append(np.array(frame_grey(frame, bgr)))
    return colour, content_region(np.stack(greys))
