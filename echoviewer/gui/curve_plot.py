"""LV area over time: the curve, a cursor on the current frame and draggable ED/ES markers."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer

from echoviewer.gui.controller import StudyController
from echoviewer.gui.view_options import ViewOptions
from echoviewer.study import EVENTS, Event, Study

MARKER_STYLE = {  # two colours and two shapes, readable by colour-blind users too
    "ED": {"symbol": "t1", "brush": (230, 70, 60), "label": "ED (largest LV)"},
    "ES": {"symbol": "t", "brush": (60, 140, 235), "label": "ES (smallest LV)"},
}
EDITED_PEN = pg.mkPen((255, 215, 0), width=2.5)
PLAIN_PEN = pg.mkPen((20, 20, 20), width=1)


def _legend_html() -> str:
    """The key, as the plot's title: a legend inside the plot would cover the curve."""
    def swatch(event: str, glyph: str) -> str:
        colour = "#" + "".join(f"{channel:02x}" for channel in MARKER_STYLE[event]["brush"])
        return f'<span style="color:{colour}">{glyph}</span> {MARKER_STYLE[event]["label"]}'
    return (f'{swatch("ED", "▲")} &nbsp; {swatch("ES", "▼")} &nbsp; '
            '<span style="color:#c9a000">◯</span> gold outline: picked by you')


class ScrubViewBox(pg.ViewBox):
    """Left click or drag moves the frame cursor; the wheel zooms the time axis."""

    def __init__(self, plot: CurvePlot) -> None:
        super().__init__(enableMenu=False)
        self.plot = plot
        self.setMouseEnabled(x=True, y=False)

    def mouseClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self.plot.scrub_to(self.mapSceneToView(event.scenePos()).x())
        else:
            super().mouseClickEvent(event)

    def mouseDragEvent(self, event, axis=None) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
            self.plot.scrub_to(self.mapSceneToView(event.scenePos()).x())
        else:
            super().mouseDragEvent(event, axis)


MIN_CURVE_FRAMES = 3  # fewer frames than this make no area curve worth plotting


class EventMarker(pg.TargetItem):
    """One ED or ES pick; dragging it snaps to frames on the curve, scrubs the cine to the frame
    under it, and moves the pick there on release."""

    def __init__(self, plot: CurvePlot, event: Event, frame: int, edited: bool) -> None:
        style = MARKER_STYLE[event]
        super().__init__(pos=plot.point(frame), size=14, symbol=style["symbol"],
                         pen=EDITED_PEN if edited else PLAIN_PEN, brush=style["brush"],
                         hoverPen=pg.mkPen("w", width=2), hoverBrush=style["brush"])
        # not ``self.event``: that would hide QObject.event, which Qt calls
        self.plot, self.kind, self.frame = plot, event, frame
        self.setZValue(10)
        self.setToolTip(f"{event} at frame {frame}{' (edited)' if edited else ''}: "
                        "drag to move it, right-click to remove it")

    def mouseClickEvent(self, ev) -> None:
        """A right click removes the pick."""
        if ev.button() == Qt.MouseButton.RightButton and not self.moving:
            ev.accept()
            QTimer.singleShot(0, lambda: self.plot.controller.delete_event(self.kind, self.frame))
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev) -> None:
        """Follow the mouse's frame along the curve; on release, move the pick there. (Replaces
        TargetItem's drag, whose offset from the press point drifts once the marker snaps, and
        no slot on sigPositionChanged: Qt emits it while tearing the scene down.)"""
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        frame = self.plot.frame_at(self.plot.plotItem.vb.mapSceneToView(ev.scenePos()).x())
        self.moving = not ev.isFinish()
        self.setPos(self.plot.point(frame))
        self.plot.controller.set_frame(frame)  # the cine shows the frame the pick would go to
        if ev.isFinish():
            # After this event returns: the move rebuilds the markers, this one included.
            QTimer.singleShot(0, lambda: self.plot.controller.move_event(self.kind, self.frame, frame))
            self.setPos(self.plot.point(self.frame))  # stays put if the move is refused


class CurvePlot(pg.PlotWidget):
    """The open study's area curve against time or frame (``options.time_axis``)."""

    def __init__(self, controller: StudyController, options: ViewOptions, parent=None) -> None:
        self.controller, self.options = controller, options
        super().__init__(parent, viewBox=ScrubViewBox(self))
        self._x = np.zeros(0)
        self._y = np.zeros(0)
        self.setBackground("w")
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setMenuEnabled(False)
        self.curve = self.plot(pen=pg.mkPen((40, 40, 40), width=1.8))
        self.cursor = pg.InfiniteLine(angle=90, movable=True, pen=pg.mkPen((255, 140, 0), width=2),
                                      hoverPen=pg.mkPen((255, 90, 0), width=3))
        self.cursor.sigDragged.connect(lambda line: self.scrub_to(line.value()))
        self.addItem(self.cursor, ignoreBounds=True)
        self.getAxis("left").setWidth(56)  # a fixed width: the plot never shifts under the mouse
        self.setTitle(_legend_html(), size="9pt")
        self.markers: list[EventMarker] = []
        self.no_curve = pg.TextItem(color=(90, 90, 90), anchor=(0.5, 0.5))
        self.no_curve.setVisible(False)
        self.addItem(self.no_curve, ignoreBounds=True)
        controller.cine_loaded.connect(lambda _cine: self._clear())
        controller.study_changed.connect(self._set_study)
        controller.frame_changed.connect(self._move_cursor)
        options.changed.connect(self._option_changed)

    # ---- coordinates -------------------------------------------------------------------------
    def point(self, frame: int) -> tuple[float, float]:
        return float(self._x[frame]), float(self._y[frame])

    def frame_at(self, x: float) -> int:
        if len(self._x) == 0:
            return 0
        return int(np.argmin(np.abs(self._x - x)))

    def scrub_to(self, x: float) -> None:
        self.controller.set_frame(self.frame_at(x))
        self._move_cursor(self.controller.frame)

    def _option_changed(self, name: str, _value: object) -> None:
        if name == "time_axis" and self.controller.study is not None:
            self._set_study(self.controller.study)
            self.autoRange()

    # ---- drawing -----------------------------------------------------------------------------
    def _clear(self) -> None:
        self.no_curve.setVisible(False)
        self.curve.setData([], [])
        self._x = self._y = np.zeros(0)
        for marker in self.markers:
            self.removeItem(marker)
        self.markers = []

    def _set_study(self, study: Study) -> None:
        analysis = study.analysis
        cine = analysis.cine
        self.no_curve.setVisible(False)
        self.cursor.setVisible(True)
        for axis in ("left", "bottom"):
            self.plotItem.showAxis(axis)
        self.showGrid(x=True, y=True, alpha=0.25)
        if cine.n_frames < MIN_CURVE_FRAMES:  # a still or two frames: say so, not an empty plot
            self._clear()
            self.no_curve.setVisible(True)
            self.cursor.setVisible(False)
            for axis in ("left", "bottom"):
                self.plotItem.hideAxis(axis)
            self.showGrid(x=False, y=False)
            self.no_curve.setText(f"no curve: {cine.n_frames} frame{'s' if cine.n_frames != 1 else ''}")
            self.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)
            self.no_curve.setPos(0.5, 0.5)
            return
        first = len(self._x) == 0
        area_cm2 = analysis.area_cm2
        self._y = area_cm2 if area_cm2 is not None else analysis.area_px
        time_axis = self.options.time_axis
        self._x = cine.times_ms / 1000.0 if time_axis else np.arange(cine.n_frames, dtype=float)
        self.curve.setData(self._x, self._y)
        self.setLabel("left", "LV area (cm²)" if area_cm2 is not None else "LV area (px²)")
        self.setLabel("bottom", "time (s)" if time_axis else "frame")
        for marker in self.markers:
            self.removeItem(marker)
        self.markers = [EventMarker(self, event, frame, frame in study.picks.edited(event))
                        for event in EVENTS for frame in study.picks.frames(event)]
        for marker in self.markers:
            self.addItem(marker, ignoreBounds=True)  # the curve alone sets the range
        self._move_cursor(self.controller.frame)
        if first:
            self.autoRange()

    def _move_cursor(self, frame: int) -> None:
        if len(self._x):
            self.cursor.setValue(float(self._x[frame]))
