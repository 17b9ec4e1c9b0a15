"""The cine with the LV overlay: zoom and pan (pyqtgraph ViewBox), frame, time and calibration."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from echoviewer.analysis.cine_analysis import CineAnalysis
from echoviewer.analysis.overlay import render_frame, sector_only
from echoviewer.analysis.quality import dice_per_frame
from echoviewer.gui.contour_editor import ContourItem
from echoviewer.gui.controller import StudyController
from echoviewer.gui.view_options import ViewOptions
from echoviewer.io import Cine
from echoviewer.study import Study


def calibration_text(cine: Cine) -> str:
    calibration = cine.calibration
    if calibration is None:
        return "uncalibrated"
    return f"{calibration.cm_per_px_x * 10:.3f} × {calibration.cm_per_px_y * 10:.3f} mm/px"


class CineView(QWidget):
    """Draws ``controller``'s current frame with the overlay ``options`` ask for (and the
    disagreement when the controller compares models), the contour's landmarks and, while editing,
    its control points (:class:`~echoviewer.gui.contour_editor.ContourItem`)."""

    REDRAWN_ON = ("overlay", "opacity", "identifiers", "landmarks", "contour_editing", "reference")  # the options this view draws

    def __init__(self, controller: StudyController, options: ViewOptions, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self.options = controller, options
        self._cine: Cine | None = None
        # Masks are made per frame when drawn (a 112² → native resize: ~0.05 ms, bench/gui.py),
        # so nothing of the size of the cine is kept for them.
        self._analysis: CineAnalysis | None = None
        self._sector_only = False  # while a snapshot is taken (:meth:`masked_for_snapshot`)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("k")
        self.view = self.graphics.addViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.image.setAutoDownsample(True)
        self.view.addItem(self.image)
        self.contour = ContourItem()
        self.view.addItem(self.contour)
        self.contour.edited.connect(controller.set_contour)
        self.contour.refused.connect(controller.error)
        self.graphics.scene().sigMouseClicked.connect(self.contour.scene_clicked)
        self.info = QLabel("Open a cine: File ▸ Open (Ctrl+O), or drop a file here")
        self.info.setObjectName("cineInfo")
        self.info.setStyleSheet("QLabel#cineInfo { color: #ddd; background: #202020; padding: 3px 6px; }")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.info)

        controller.preview.connect(self._show_preview)
        controller.cine_loaded.connect(self._set_cine)
        controller.study_changed.connect(self._set_study)
        controller.frame_changed.connect(self.redraw)
        controller.compare_changed.connect(self.redraw)
        controller.reference_changed.connect(self.redraw)
        options.changed.connect(self._option_changed)

    # ---- inputs ------------------------------------------------------------------------------
    def _show_preview(self, frame: np.ndarray) -> None:
        """The new file's first frame while it decodes; the open study stays until the new cine
        arrives (if the file fails, the next redraw shows the study again)."""
        self._show(frame, fit=True)
        self.info.setText("decoding…")

    def _set_cine(self, cine: Cine) -> None:
        fit = self._cine is None or (cine.width, cine.height) != (self._cine.width, self._cine.height)
        self._cine = cine
        self._analysis = None
        self._show(cine.display_frame(0), fit=fit)

    def _set_study(self, study: Study) -> None:
        self._analysis = study.analysis
        self.redraw()

    def _option_changed(self, name: str, _value: object) -> None:
        if name in self.REDRAWN_ON:
            self.redraw()

    # ---- drawing -----------------------------------------------------------------------------
    def _show(self, picture: np.ndarray, fit: bool = False) -> None:
        self.image.setImage(picture, autoLevels=False, levels=(0, 255))
        if fit:
            self.view.autoRange(padding=0.0)

    def rendered(self, frame: int) -> np.ndarray:
        """The picture of ``frame`` as drawn: the display frame with the overlay when there is one
        (black outside the imaging sector while a snapshot is taken)."""
        mode, reference = self.options.overlay, self.reference_masks()
        if self._analysis is None or mode == "hidden" and (reference is None or frame not in reference):
            assert self._cine is not None, "rendered() needs an open cine"
            picture = self._cine.display_frame(frame)
            return sector_only(picture, self._cine.sector_mask) if self._sector_only else picture
        return render_frame(self._analysis, frame, mode=mode, opacity=self.options.opacity,
                            compare=self.controller.compare, reference=reference, sector=self._sector_only)

    @contextmanager
    def masked_for_snapshot(self, enabled: bool = True) -> Iterator[None]:
        """Within the block (when ``enabled``) the picture is black outside the imaging sector, so a
        snapshot of the screen leaves out what scanners burn in around it (names, IDs, dates), as the
        figure and video exports do; a first frame shown while the file decodes, whose sector is not
        known yet, is hidden instead."""
        if not enabled:
            yield
            return
        self._sector_only = True
        self.image.setVisible(self._cine is not None)
        self.redraw()
        try:
            yield
        finally:
            self._sector_only = False
            self.image.setVisible(True)
            self.redraw()

    def reference_masks(self) -> dict[int, np.ndarray] | None:
        """The reference contour's masks (source frame → mask) when one is open and shown."""
        reference = self.controller.reference
        return reference.masks if reference is not None and self.options.reference else None

    def redraw(self, *_: object) -> None:
        if self._cine is None:
            return
        frame = self.controller.frame
        self._show(self.rendered(frame))
        study = self.controller.study
        shown = study is not None and self._analysis is not None and self.options.overlay != "hidden"
        self.contour.show_contour(study.contour(frame) if shown and study is not None else None,
                                  editable=self.options.contour_editing, landmarks=self.options.landmarks)
        self.info.setText(self._info_text(frame))

    def _info_text(self, frame: int) -> str:
        cine, study = self._cine, self.controller.study
        assert cine is not None  # redraw asks only with a cine open
        parts = [f"frame {frame} of 0–{cine.n_frames - 1}",  # 0-based, as in every export
                 f"{cine.times_ms[frame] / 1000:.3f} s",
                 f"{cine.timing.fps:.1f} fps" + (" (assumed)" if cine.timing.assumed else ""),
                 calibration_text(cine)]
        if study is not None:
            event = study.event_at(frame)
            if event is not None:
                edited = frame in study.picks.edited(event)
                parts.insert(0, f"<b>{event}</b>{' (edited)' if edited else ''}")
            if frame in study.contours:
                parts.insert(1 if event is not None else 0, "contour edited")
            reference = self.reference_masks()
            if reference is not None and frame in reference:
                dice = dice_per_frame(study.analysis.native_mask(frame)[None], reference[frame][None])[0]
                parts.append(f"<span style='color:#3cdc5a'>reference</span> Dice {dice:.2f}")
        if self.options.identifiers:
            ids = cine.identifiers
            parts.append(f"patient {ids.patient_name or '—'} · ID {ids.patient_id or '—'}")
        return " · ".join(parts)
