"""One cine, one model: the LV area curve, ED/ES of every beat, measurements and quality flags.

ED and ES are the largest and smallest LV area (an A4C clip has no ECG): the peaks and troughs of
the native area curve, found by :func:`echoviewer.analysis.phases.find_events`. A user's corrected
picks replace them through :meth:`CineAnalysis.with_events`, which recomputes what depends on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property
from types import MappingProxyType

import numpy as np

from echoviewer.analysis.contour import Contour
from echoviewer.analysis.geometry import LongAxis, long_axis
from echoviewer.analysis.measurements import (CM_UNITS, PX_UNITS, Beat, measure_beats, pick_of_beat,
                                              pixel_spacing, summarize)
from echoviewer.analysis.onnx_model import OnnxModel
from echoviewer.analysis.phases import find_events
from echoviewer.analysis.quality import (Flag, beat_flags, dice_per_frame, disagreement_flag,
                                         mask_flags)
from echoviewer.analysis.segmentation import Segmentation, SegmentationCache, segment
from echoviewer.analysis.view_gate import CODE as VIEW_FLAG
from echoviewer.analysis.view_gate import ViewScore, score_view
from echoviewer.io import Calibration, Cine

EVENT_RULE = "ED = largest, ES = smallest LV area in each beat (no ECG in the clip)"


@dataclass(frozen=True, eq=False)
class CineAnalysis:
    """Everything measured on one cine with one model (plus, optionally, a comparison model).

    The fields are what the analysis was made from; the area curve, the beats and the flags follow
    from them and are measured once, when first asked for (:func:`analyze` asks in its worker),
    so :meth:`with_events` and :meth:`with_contours` only build one new value each.
    """

    cine: Cine
    segmentation: Segmentation
    ed_frames: tuple[int, ...]
    es_frames: tuple[int, ...]
    model_ed_frames: tuple[int, ...]  # the picks the analysis engine made, before any edit
    model_es_frames: tuple[int, ...]
    mask_flags: tuple[Flag, ...]
    view: ViewScore = ViewScore(None, None)
    comparison: Segmentation | None = None
    comparison_dice: np.ndarray | None = None
    events_edited: bool = False
    contours: Mapping[int, Contour] = field(default_factory=lambda: MappingProxyType({}))

    @cached_property
    def beats(self) -> tuple[Beat, ...]:
        """Every ED → next ES pair, measured (the user's contours where they drew them)."""
        area = _in_unit(self.area_px, self.cine.calibration)
        return tuple(measure_beats(self.native_mask, area, self.cine.times_ms, self.ed_frames,
                                   self.es_frames, self.cine.calibration,
                                   axis_of=lambda frame, _spacing: self.long_axis(frame)))

    @cached_property
    def flags(self) -> tuple[Flag, ...]:
        view = [] if self.view.reason is None else [
            Flag(VIEW_FLAG, "warning", f"not an apical view: {self.view.reason}; the LV mask, EF and volumes "
                 "are not to be trusted")]
        fixed = list(self.mask_flags)
        if self.comparison is not None and self.comparison_dice is not None:
            disagreement = disagreement_flag(self.comparison_dice, self.comparison.model.name)
            fixed += [disagreement] if disagreement else []
        timing, calibration = self.cine.timing, self.cine.calibration
        if timing.assumed:
            said = timing.note or "the file gives no frame rate"
            assumed = "" if "assumed" in said else f"; {timing.fps:g} fps assumed"
            fixed.append(Flag("frame_rate_assumed", "info",
                              f"{said}{assumed}, so heart rate and times are unreliable"))
        fixed += [Flag("header_damaged", "info", note) for note in self.cine.metadata.header_notes]
        if self.cine.metadata.damaged_frames:
            fixed.append(Flag("frames_damaged", "warning",
                              f"{self.cine.damage_summary()}; their masks and the beats that use them are unreliable",
                              list(self.cine.metadata.damaged_frames)))
        if self.cine.metadata.burned_in_annotation:
            fixed.append(Flag("burned_in_annotation", "info",
                              "the header says patient details are burned into the pixels: figures and videos "
                              "are black outside the imaging sector unless the full frame is asked for"))
        if calibration is None:
            fixed.append(Flag("uncalibrated", "info",
                              f"no calibration ({self.cine.calibration_note}): cm values unavailable; "
                              "areas, lengths and volumes in pixels (square pixels assumed)"))
        return tuple(view + beat_flags(self.beats, self.area_px, timing.fps) + fixed)

    @cached_property
    def area_px(self) -> np.ndarray:
        """LV area of every frame in native pixels: the user's contour where they drew one."""
        area = self.segmentation.native_area_px
        if not self.contours:
            return area
        area = area.copy()
        for frame in self.contours:
            area[frame] = np.count_nonzero(self.native_mask(frame))
        return area

    def native_mask(self, frame: int) -> np.ndarray:
        """Boolean (H, W) LV mask of ``frame`` on the cine's grid: the user's contour, else the model's."""
        contour = self.contours.get(frame)
        if contour is None:
            return self.segmentation.native_mask(frame)
        return contour.mask((self.cine.height, self.cine.width))

    def native_masks(self) -> np.ndarray:
        """Boolean (T, H, W) LV masks on the cine's grid, the user's contours in place."""
        masks = self.segmentation.native_masks()
        for frame in self.contours:
            masks[frame] = self.native_mask(frame)
        return masks

    @property
    def area_cm2(self) -> np.ndarray | None:
        return _cm2(self.area_px, self.cine.calibration)

    @property
    def units(self) -> dict[str, str]:
        return CM_UNITS if self.cine.calibration else PX_UNITS

    @property
    def summary(self) -> dict[str, dict[str, float | int | None]]:
        return summarize(self.beats)

    def with_events(self, ed_frames: Sequence[int], es_frames: Sequence[int]) -> CineAnalysis:
        """The same analysis with user-picked ED and ES frames (measurements and flags redone)."""
        ed, es = _checked(ed_frames, self.cine.n_frames), _checked(es_frames, self.cine.n_frames)
        return replace(self, ed_frames=ed, es_frames=es, events_edited=True)

    def with_contours(self, contours: Mapping[int, Contour]) -> CineAnalysis:
        """The same analysis with the user's contours on some frames: their areas, lengths and
        volumes come from those contours, and every beat measure that uses those frames follows."""
        bad = [frame for frame in contours if not 0 <= frame < self.cine.n_frames]
        if bad:
            raise ValueError(f"contour frames must lie in 0-{self.cine.n_frames - 1}; got {bad}")
        return replace(self, contours=MappingProxyType(dict(sorted(contours.items()))))

    def long_axis(self, frame: int) -> LongAxis | None:
        """The long axis of ``frame`` in the cine's units: the landmarks of the user's contour where
        they drew one, else found on the model's mask; None for a mask too small to have one."""
        spacing = pixel_spacing(self.cine.calibration)
        contour = self.contours.get(frame)
        axis = None if contour is None else contour.long_axis(spacing)
        return axis or long_axis(self.native_mask(frame), spacing)

    def pick_origins(self) -> list[dict]:
        """Every ED and ES pick in frame order: ``{"event", "frame", "by": "model" | "user",
        "model_frame"}``. A pick is the user's where the model put no pick of that kind on that
        frame; ``model_frame`` is the model's own pick of that beat (the nearest of that kind with
        no model pick of the other kind between; None where the model found none there)."""
        model = {"ED": self.model_ed_frames, "ES": self.model_es_frames}
        rows = []
        for event, frames, other in (("ED", self.ed_frames, "ES"), ("ES", self.es_frames, "ED")):
            for frame in frames:
                by = "model" if frame in model[event] else "user"
                rows.append({"event": event, "frame": frame, "by": by, "model_frame": frame if by == "model"
                             else pick_of_beat(frame, model[event], model[other])})
        return sorted(rows, key=lambda row: (row["frame"], row["event"]))

    @property
    def volume_method(self) -> str:
        """What the beats' volumes are: single-plane, in the view the file names (biplane needs
        a second cine: :mod:`echoviewer.analysis.biplane`)."""
        return f"single-plane {self.cine.metadata.view or 'apical (view not named)'}"

    def as_dict(self) -> dict:
        """JSON-ready; no patient identifiers."""
        cine, calibration = self.cine, self.cine.calibration
        area_cm2 = self.area_cm2
        result = {
            "file": str(cine.path),
            "frames": cine.n_frames,
            "frame_times_ms": _rounded(cine.times_ms, 3),
            "fps": round(cine.timing.fps, 4),
            "fps_source": cine.timing.source,
            "calibration": asdict(calibration) if calibration else None,
            "calibration_note": cine.calibration_note,
            "model": asdict(self.segmentation.model),
            "units": self.units,
            "area_px": _rounded(self.area_px, 1),
            "area_cm2": None if area_cm2 is None else _rounded(area_cm2, 4),
            "ed_frames": list(self.ed_frames),
            "es_frames": list(self.es_frames),
            "model_ed_frames": list(self.model_ed_frames),
            "model_es_frames": list(self.model_es_frames),
            "picks": self.pick_origins(),
            "events_rule": EVENT_RULE + (" (picks edited by the user)" if self.events_edited else ""),
            "contours_edited": list(self.contours),
            "volumes": self.volume_method,
            "beats": [{key: _round(value) for key, value in beat.as_dict().items()} for beat in self.beats],
            "summary": {name: {key: _round(value) for key, value in stats.items()}
                        for name, stats in self.summary.items()},
            "flags": [flag.as_dict() for flag in self.flags],
            "view": {"apical_probability": _round(self.view.apical_probability),
                     "not_apical": self.view.flagged, "reason": self.view.reason,
                     "named": cine.metadata.view or None, "named_in": cine.metadata.view_source or None},
        }
        if self.comparison is not None and self.comparison_dice is not None:
            result["comparison"] = {"model": asdict(self.comparison.model),
                                    "dice": _rounded(self.comparison_dice, 4),
                                    "mean_dice": _round(float(self.comparison_dice.mean()))}
        return result


def _checked(frames: Sequence[int], n_frames: int) -> tuple[int, ...]:
    picked = tuple(sorted({int(f) for f in frames}))
    if any(not 0 <= f < n_frames for f in picked):
        raise ValueError(f"frames must lie in 0-{n_frames - 1}; got {list(picked)}")
    return picked


def _round(value: float | int | None, digits: int = 4) -> float | int | None:
    return round(value, digits) if isinstance(value, float) else value


def _rounded(values: np.ndarray, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def _cm2(area_px: np.ndarray, calibration: Calibration | None) -> np.ndarray | None:
    return None if calibration is None else area_px * (calibration.cm_per_px_x * calibration.cm_per_px_y)


def _in_unit(area_px: np.ndarray, calibration: Calibration | None) -> np.ndarray:
    calibrated = _cm2(area_px, calibration)
    return area_px if calibrated is None else calibrated


def _dice(a: Segmentation, b: Segmentation) -> np.ndarray:
    """Per-frame Dice in the model view, or on native pixels when the two models see other sizes."""
    if a.masks.shape == b.masks.shape and a.crop == b.crop:
        return dice_per_frame(a.masks, b.masks)
    return dice_per_frame(a.native_masks(), b.native_masks())


def analyze(cine: Cine, model: OnnxModel, *, compare: OnnxModel | None = None,
            cache: SegmentationCache | None = None) -> CineAnalysis:
    """Segment ``cine`` with ``model`` (and ``compare``, for the disagreement flag), find every
    beat's ED and ES, measure and flag. With a ``cache``, a (cine, model) pair is segmented once."""
    run = cache.segment if cache is not None else segment
    segmentation = run(cine, model)
    events = find_events(segmentation.native_area_px, cine.timing.fps)
    ed, es = (tuple(int(f) for f in frames) for frames in events)
    comparison = run(cine, compare) if compare is not None else None
    dice = None if comparison is None else _dice(segmentation, comparison)
    analysis = CineAnalysis(cine, segmentation, ed, es, ed, es, tuple(mask_flags(segmentation.masks, segmentation.sector)),
                            score_view(cine), comparison, dice)
    _ = analysis.flags  # beats and flags measured here, in the worker, not where first shown
    return analysis
