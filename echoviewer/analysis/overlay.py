"""The LV mask drawn over a frame (filled, outlined or hidden), and a cine exported with it as video.

A comparison mask adds the disagreement: pixels that one model calls LV and the other does not.
A reference mask (a DICOM SEG read back: an expert's or another tool's contour) is outlined in
its own colour beside the model's.
The video holds pixels only: OpenCV writes no patient identifiers, and figures and videos are
black outside the imaging sector unless asked for the full frame (names burned into the pixels).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import cv2
import numpy as np

from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.figure import curve_panel, figure
from echoviewer.io.atomic import atomic_output

OVERLAY_MODES = ("fill", "contour", "hidden")
LV_COLOUR = (255, 80, 40)
DISAGREEMENT_MIN_OPACITY = 0.7
DISAGREEMENT_COLOUR = (255, 0, 255)
REFERENCE_COLOUR = (60, 220, 90)  # green: gold marks the user's own picks on the curve
_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}

Colour = tuple[int, int, int]


class ExportCancelled(Exception):
    """The user stopped a video export; no file was written."""


def _check_mode(mode: str) -> None:
    if mode not in OVERLAY_MODES:
        raise ValueError(f"overlay mode {mode!r} is unknown; use one of {', '.join(OVERLAY_MODES)}")


def contour_thickness(shape: tuple[int, ...]) -> int:
    """Outline width in pixels for a frame of this (H, W[, 3]) shape: 1 px per 300 px of its
    shorter side, at least 1."""
    return max(1, round(min(shape[:2]) / 300))


def _blend(image: np.ndarray, where: np.ndarray, colour: Colour, opacity: float) -> None:
    pixels = image[where].astype(np.float32)
    image[where] = (pixels * (1.0 - opacity) + np.array(colour, np.float32) * opacity + 0.5).astype(np.uint8)


def _outline(image: np.ndarray, mask: np.ndarray, colour: Colour, thickness: int) -> None:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    cv2.drawContours(image, contours, -1, colour, thickness)


def _checked_mask(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.shape != shape[:2]:
        raise ValueError(f"{name} has shape {mask.shape}, the frame {shape[:2]}; "
                         "pass a mask of the frame's size")
    return mask.astype(bool, copy=False)


def draw_overlay(frame: np.ndarray, mask: np.ndarray | None, *, mode: str = "fill",
                 opacity: float = 0.4, colour: Colour = LV_COLOUR,
                 other: np.ndarray | None = None, reference: np.ndarray | None = None) -> np.ndarray:
    """A new uint8 RGB image of ``frame`` (grey (H, W) or RGB (H, W, 3) uint8) with the boolean
    (H, W) LV ``mask`` drawn: "fill" blends ``colour`` at ``opacity`` and outlines it (1 px),
    "contour" only outlines it (:func:`contour_thickness`), "hidden" draws nothing. With
    ``other`` (a second model's mask), pixels where the two differ are blended in
    :data:`DISAGREEMENT_COLOUR` instead. ``reference`` (a boolean (H, W) mask) is outlined in
    :data:`REFERENCE_COLOUR` over everything, whatever the mode."""
    _check_mode(mode)
    if not 0.0 <= opacity <= 1.0:
        raise ValueError(f"opacity {opacity} is outside 0-1; pass a fraction")
    if frame.dtype != np.uint8 or not (frame.ndim == 2 or frame.ndim == 3 and frame.shape[2] == 3):
        raise ValueError(f"frame must be uint8 (H, W) or (H, W, 3), not {frame.dtype} {frame.shape}")
    image = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB) if frame.ndim == 2 else np.array(frame, order="C")
    if mode != "hidden" and mask is not None:
        _draw_mask(image, _checked_mask(mask, frame.shape, "mask"), mode, opacity, colour, other)
    if reference is not None:
        _outline(image, _checked_mask(reference, frame.shape, "reference"), REFERENCE_COLOUR,
                 contour_thickness(frame.shape))
    return image


def _draw_mask(image: np.ndarray, mask: np.ndarray, mode: str, opacity: float, colour: Colour,
               other: np.ndarray | None) -> None:
    colour = (int(colour[0]), int(colour[1]), int(colour[2]))
    disagree = np.zeros_like(mask) if other is None else mask ^ _checked_mask(other, image.shape, "other")
    if mode == "fill":
        _blend(image, mask & ~disagree, colour, opacity)
    _outline(image, mask, colour, 1 if mode == "fill" else contour_thickness(image.shape))
    # Over the outline and never fainter than 70 %: models that mostly agree differ in a thin band.
    _blend(image, disagree, DISAGREEMENT_COLOUR, max(opacity, DISAGREEMENT_MIN_OPACITY))


def sector_only(frame: np.ndarray, sector: np.ndarray) -> np.ndarray:
    """A copy of ``frame`` black outside the imaging ``sector`` (boolean (H, W)): what scanners burn
    in around it (names, IDs, dates) goes, as EchoNet-Dynamic de-identifies its videos."""
    kept = np.array(frame, copy=True)
    kept[~sector] = 0
    return kept


def render_frame(analysis: CineAnalysis, index: int, *, mode: str = "fill", opacity: float = 0.4,
                 compare: bool = False, reference: Mapping[int, np.ndarray] | None = None,
                 sector: bool = False) -> np.ndarray:
    """Frame ``index`` as the viewer shows it and the video holds it: the display frame with the
    LV overlay, with ``compare`` the disagreement with ``analysis.comparison`` (if any), and the
    ``reference`` mask of this frame (frame → mask, where it has one) outlined; with ``sector``
    black outside the imaging sector (:func:`sector_only`)."""
    comparison = analysis.comparison if compare else None
    frame = analysis.cine.display_frame(index)
    if sector:
        frame = sector_only(frame, analysis.cine.sector_mask)
    return draw_overlay(frame, analysis.native_mask(index),
                        mode=mode, opacity=opacity,
                        other=None if comparison is None else comparison.native_mask(index),
                        reference=None if reference is None else reference.get(index))


def write_figure_png(path: str | os.PathLike[str], analysis: CineAnalysis, index: int, *, mode: str = "fill",
                     opacity: float = 0.4, compare: bool = False, labels: bool = True,
                     full_frame: bool = False) -> None:
    """Frame ``index`` at the cine's native resolution with its overlay and, with ``labels``, the
    frame, time, ED/ES and scale bar burned in (:mod:`echoviewer.analysis.figure`); black outside
    the imaging sector unless ``full_frame``."""
    path = Path(path)
    if not 0 <= index < analysis.cine.n_frames:
        raise ValueError(f"frame {index} is outside 0-{analysis.cine.n_frames - 1}")
    image = figure(render_frame(analysis, index, mode=mode, opacity=opacity, compare=compare, sector=not full_frame),
                   analysis, index, labels=labels)
    ok, encoded = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"{path.name}: OpenCV could not encode the PNG")
    with atomic_output(path) as temporary:
        temporary.write_bytes(encoded.tobytes())


def write_overlay_video(path: str | os.PathLike[str], analysis: CineAnalysis, *, mode: str = "fill",
                        opacity: float = 0.4, compare: bool = False, labels: bool = False, curve: bool = False,
                        full_frame: bool = False, progress: Callable[[int, int], None] | None = None,
                        cancelled: Callable[[], bool] | None = None) -> None:
    """Write the cine with its LV overlay as ``.mp4`` (MPEG-4 Part 2) or ``.avi`` (MJPEG) at the
    cine's frame rate; with ``compare``, the disagreement with ``analysis.comparison`` (when it has
    one) too; with ``labels`` the frame, time, ED/ES and scale bar burned in, with ``curve`` the
    area curve beside the cine; black outside the imaging sector unless ``full_frame``. ``progress(done, total)`` follows each frame; when ``cancelled()``
    turns true the export stops, no file is left and :class:`ExportCancelled` is raised."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _FOURCC:
        raise ValueError(f"{path.name}: cannot write {suffix or 'a suffix-less'} video; use .mp4 or .avi")
    _check_mode(mode)
    cine = analysis.cine
    # Both codecs subsample chroma in 2×2 blocks (OpenCV's MJPEG drops an odd last row or
    # column): an odd side gets one black pixel more.
    width = cine.width + (curve_panel(analysis, 0, cine.height).shape[1] if curve else 0)
    pad = (cine.height % 2, width % 2)
    size = (width + pad[1], cine.height + pad[0])
    total = cine.n_frames
    with atomic_output(path, suffix=suffix) as temporary:
        writer = cv2.VideoWriter(str(temporary), cv2.VideoWriter.fourcc(*_FOURCC[suffix]),
                                 cine.timing.fps, size)
        try:
            if not writer.isOpened():
                raise OSError(f"{path.name}: OpenCV cannot write a {suffix} video there; check that "
                              "the folder exists and is writable, or try .avi")
            for index in range(total):
                if cancelled is not None and cancelled():
                    raise ExportCancelled(f"{path.name}: export cancelled; no file written")
                image = figure(render_frame(analysis, index, mode=mode, opacity=opacity, compare=compare,
                                            sector=not full_frame),
                               analysis, index, labels=labels, curve=curve)
                bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
                writer.write(cv2.copyMakeBorder(bgr, 0, pad[0], 0, pad[1], cv2.BORDER_CONSTANT))
                if progress is not None:
                    progress(index + 1, total)
        finally:
            writer.release()
