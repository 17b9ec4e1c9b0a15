"""Figure-ready pictures: labels and a scale bar burned into a frame, and the area curve drawn beside
it, for the PNG of a frame and the overlay video (native resolution, no Qt).

The labels name the frame (0-based, as every export), its time, ED or ES when it is a pick, and a
scale bar of 1, 2, 5 or 10 cm (the longest that fits in a fifth of the width), from the cine's
horizontal pixel size; an uncalibrated cine says so instead. Patient identifiers are never burned
in. The curve panel is drawn with OpenCV on the frame's height: the LV area against time with the
ED (red, up) and ES (blue, down) picks and the current frame as an orange line.
"""

from __future__ import annotations

import cv2
import numpy as np

from echoviewer.analysis.cine_analysis import CineAnalysis

FONT = cv2.FONT_HERSHEY_SIMPLEX
BAR_CM = (1, 2, 5, 10)
ED_COLOUR, ES_COLOUR, CURSOR_COLOUR = (220, 40, 40), (40, 90, 230), (255, 140, 0)  # RGB
CURVE_WIDTH_RATIO = 1.25  # the curve panel's width, in frame heights


def _scale(image: np.ndarray) -> float:
    """Text and line size for the picture's size (readable on 112 px and on 1080 px)."""
    return max(0.35, min(image.shape[0], image.shape[1]) / 700)


def _text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float,
          colour: tuple[int, int, int] = (255, 255, 255), box: bool = True) -> None:
    thickness = max(1, round(scale * 2))
    (width, height), base = cv2.getTextSize(text, FONT, scale, thickness)
    x, y = origin
    if box:
        pad = max(2, round(4 * scale))
        cv2.rectangle(image, (x - pad, y - height - pad), (x + width + pad, y + base + pad), (0, 0, 0), -1)
    cv2.putText(image, text, (x, y), FONT, scale, colour, thickness, cv2.LINE_AA)


def event_at(analysis: CineAnalysis, index: int) -> str:
    return "ED" if index in analysis.ed_frames else "ES" if index in analysis.es_frames else ""


def burn_labels(image: np.ndarray, analysis: CineAnalysis, index: int) -> np.ndarray:
    """A copy of RGB ``image`` (a frame of ``analysis``'s cine) with frame, time, ED/ES and the
    scale bar burned in."""
    image = np.array(image, order="C")
    scale = _scale(image)
    margin = max(6, round(14 * scale))
    line = round(42 * scale)
    cine = analysis.cine
    event = event_at(analysis, index)
    _text(image, f"frame {index}  {cine.times_ms[index] / 1000:.3f} s", (margin, margin + line // 2), scale)
    if event:
        _text(image, event, (margin, margin + line // 2 + line), scale * 1.2,
              ED_COLOUR if event == "ED" else ES_COLOUR)
    calibration = cine.calibration
    bottom = image.shape[0] - margin
    if calibration is None:
        _text(image, "uncalibrated", (margin, bottom), scale)
        return image
    fitting = [cm for cm in BAR_CM if cm / calibration.cm_per_px_x <= image.shape[1] / 5]
    cm = fitting[-1] if fitting else BAR_CM[0]
    length = round(cm / calibration.cm_per_px_x)
    right = image.shape[1] - margin
    thickness = max(2, round(3 * scale))
    # filled rectangles, not lines: a thick line's caps would add to the bar's true length
    cv2.rectangle(image, (right - length, bottom - thickness + 1), (right - 1, bottom), (255, 255, 255), -1)
    for x in (right - length, right - thickness):
        cv2.rectangle(image, (x, bottom - 3 * thickness), (x + thickness - 1, bottom), (255, 255, 255), -1)
    label = f"{cm} cm"
    (width, _), _ = cv2.getTextSize(label, FONT, scale, max(1, round(scale * 2)))
    _text(image, label, (right - length // 2 - width // 2, bottom - 5 * thickness), scale)
    return image


def curve_panel(analysis: CineAnalysis, index: int, height: int, width: int | None = None) -> np.ndarray:
    """An RGB picture (``height`` × ``width``) of the LV area curve, the picks and frame ``index``."""
    width = width or round(height * CURVE_WIDTH_RATIO)
    panel = np.full((height, width, 3), 255, np.uint8)
    scale = max(0.35, height / 900)
    area = analysis.area_cm2 if analysis.area_cm2 is not None else analysis.area_px
    unit = "cm2" if analysis.area_cm2 is not None else "px2"
    times = analysis.cine.times_ms / 1000.0
    left, right = round(width * 0.16), width - round(width * 0.05)
    top, bottom = round(height * 0.08), height - round(height * 0.14)
    if len(area) < 2:
        _text(panel, f"no curve: {len(area)} frame", (left, height // 2), scale, (60, 60, 60), box=False)
        return panel
    low, high = float(np.min(area)), float(np.max(area))
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 1.0)
    low, high = low - pad, high + pad
    span = float(times[-1] - times[0]) or 1.0

    def point(frame: int) -> tuple[int, int]:
        x = left + (times[frame] - times[0]) / span * (right - left)
        y = bottom - (area[frame] - low) / (high - low) * (bottom - top)
        return round(x), round(y)

    thickness = max(1, round(2 * scale))
    cv2.rectangle(panel, (left, top), (right, bottom), (150, 150, 150), 1)
    cursor = point(index)[0]
    cv2.line(panel, (cursor, top), (cursor, bottom), CURSOR_COLOUR, thickness + 1)
    cv2.polylines(panel, [np.array([point(f) for f in range(len(area))], np.int32)], False, (40, 40, 40),
                  thickness, cv2.LINE_AA)
    size = max(6, round(14 * scale))
    for frames, colour, up in ((analysis.ed_frames, ED_COLOUR, True), (analysis.es_frames, ES_COLOUR, False)):
        for frame in frames:
            x, y = point(frame)
            tip = (x, y - size) if up else (x, y + size)
            base = ((x - size, y + size // 2), (x + size, y + size // 2)) if up else \
                ((x - size, y - size // 2), (x + size, y - size // 2))
            cv2.fillPoly(panel, [np.array([tip, *base], np.int32)], colour, cv2.LINE_AA)
    small = scale * 0.9
    _text(panel, f"{high:.1f}" if unit == "cm2" else f"{high:.0f}", (4, top + 10), small, (60, 60, 60), box=False)
    _text(panel, f"{low:.1f}" if unit == "cm2" else f"{low:.0f}", (4, bottom), small, (60, 60, 60), box=False)
    _text(panel, f"LV area ({unit})", (left, top - 6), small, (60, 60, 60), box=False)
    _text(panel, f"{times[0]:.1f}", (left, bottom + round(24 * scale) + 4), small, (60, 60, 60), box=False)
    _text(panel, f"{times[-1]:.1f} s", (right - round(60 * scale), bottom + round(24 * scale) + 4), small,
          (60, 60, 60), box=False)
    return panel


def figure(image: np.ndarray, analysis: CineAnalysis, index: int, *, labels: bool = True,
           curve: bool = False) -> np.ndarray:
    """Frame ``index`` as drawn (``image``: the RGB frame with its overlay), with the labels burned
    in and the curve panel to its right, as asked."""
    if labels:
        image = burn_labels(image, analysis, index)
    if curve:
        image = np.hstack([image, curve_panel(analysis, index, image.shape[0])])
    return image
