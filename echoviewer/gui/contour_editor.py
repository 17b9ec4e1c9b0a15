"""The LV contour over the cine: its landmarks and long axis, and, when editing, control points to drag.

Built on pyqtgraph's ``GraphItem`` (nodes and the edges between them), as pyqtgraph's own
"CustomGraphItem" example drags nodes: a drag on a point moves it, and the edit is sent when the
drag ends, so one drag is one undo step. A double click on the outline adds a point there (never
on the mitral line, which stays straight between the hinges); a right click on a point removes it
(not a hinge or the apex: those move). Hinges are squares, the apex a triangle, other points dots; the outline is the contour's
spline through them.
The item only shows a :class:`~echoviewer.analysis.contour.Contour` and says what the user did
(``edited``, ``refused``); the controller changes the study.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal

from echoviewer.analysis.contour import Contour

CONTOUR_COLOUR = (255, 215, 0)  # the editable outline and its points
LANDMARK_COLOUR = (0, 230, 255)
NEAR_PX = 8  # how close to the outline (screen pixels) a double click adds a point
CENTRE = 0.5  # a pixel (col, row) covers [col, col + 1) on the image item: its centre is + 0.5


# Made once: a QBrush or QPen made per frame leaks a reference to None in PySide6 (about 12 a frame).
LANDMARK_BRUSH, POINT_BRUSH, SYMBOL_PEN = pg.mkBrush(LANDMARK_COLOUR), pg.mkBrush(CONTOUR_COLOUR), pg.mkPen("k")


class ContourItem(pg.GraphItem):
    """Draws one contour; see the module docstring. ``edited(contour, step)`` after a change."""

    edited = Signal(object, str)
    refused = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.axis = pg.PlotCurveItem(pen=pg.mkPen(LANDMARK_COLOUR, width=1.5, style=Qt.PenStyle.DashLine))
        self.axis.setParentItem(self)
        self.outline = pg.PlotCurveItem(pen=pg.mkPen(CONTOUR_COLOUR, width=1.5))  # or the mitral line alone
        self.outline.setParentItem(self)
        self.contour: Contour | None = None
        self.editable = False
        self._dragged: int | None = None
        self._offset = np.zeros(2)

    def show_contour(self, contour: Contour | None, *, editable: bool, landmarks: bool) -> None:
        """Show ``contour`` (None: nothing) with every control point when ``editable``, else only its
        landmarks (when ``landmarks``); the long axis whenever either is shown."""
        self.contour, self.editable, self._dragged = contour, editable, None
        if contour is None or not (editable or landmarks):
            self.setData(pos=np.zeros((0, 2)), adj=None)
            self.axis.setData([], [])
            self.outline.setData([], [])
            return
        self._draw(contour)

    def _draw(self, contour: Contour) -> None:
        first, apex, last = contour.landmarks
        shown = contour.points + CENTRE
        base = (shown[first] + shown[last]) / 2
        self.axis.setData([shown[apex, 0], base[0]], [shown[apex, 1], base[1]])
        if self.editable:
            outline = np.vstack([contour.outline(), contour.points[:1]]) + CENTRE  # closed by the mitral line
            self.outline.setData(outline[:, 0], outline[:, 1])
            indices = np.arange(len(shown))
            symbols = ["s" if i in (first, last) else "t1" if i == apex else "o" for i in indices]
            sizes = [11 if i in (first, apex, last) else 8 for i in indices]
            brushes = [LANDMARK_BRUSH if i in (first, apex, last) else POINT_BRUSH for i in indices]
            self.setData(pos=shown, adj=None, symbol=symbols, size=sizes, symbolBrush=brushes,
                         symbolPen=SYMBOL_PEN, pxMode=True)
        else:
            # The mitral line as a curve, not as GraphItem's edges: those are drawn through a
            # QPicture whose PySide6 calls leak a reference to None each (18 a frame here).
            self.outline.setData(shown[[first, last], 0], shown[[first, last], 1])
            self.setData(pos=shown[[first, apex, last]], adj=None, symbol=["s", "t1", "s"], size=10,
                         symbolBrush=LANDMARK_BRUSH, symbolPen=SYMBOL_PEN, pxMode=True)

    def _near_outline(self, x: float, y: float) -> bool:
        """Within a few screen pixels of the outline, whatever the zoom."""
        assert self.contour is not None
        screen_pixel = self.pixelLength(pg.Point(1, 0)) or 1.0
        return self.contour.nearest_segment(x, y)[1] <= NEAR_PX * screen_pixel

    def _point_at(self, position: QPointF) -> int | None:
        found = self.scatter.pointsAt(position)
        return int(found[0].index()) if len(found) else None

    @staticmethod
    def _step(contour: Contour, index: int) -> str:
        first, apex, last = contour.landmarks
        return "Move the apex" if index == apex else "Move a hinge" if index in (first, last) else "Move a contour point"

    # ---- mouse -------------------------------------------------------------------------------
    def mouseDragEvent(self, ev) -> None:  # noqa: N802 (pyqtgraph's name)
        if not self.editable or self.contour is None or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        if ev.isStart():
            index = self._point_at(ev.buttonDownPos())
            if index is None:
                ev.ignore()  # not on a point: the view pans
                return
            self._dragged = index
            grabbed = np.array([ev.buttonDownPos().x(), ev.buttonDownPos().y()])
            self._offset = self.contour.points[index] + CENTRE - grabbed
        elif self._dragged is None:
            ev.ignore()
            return
        ev.accept()
        index = self._dragged
        x, y = np.array([ev.pos().x(), ev.pos().y()]) + self._offset - CENTRE
        moved = self.contour.moved(index, float(x), float(y))
        if not ev.isFinish():
            self._draw(moved)
            return
        self._dragged = None
        self.edited.emit(moved, self._step(self.contour, index))

    def scene_clicked(self, ev) -> None:
        """A click anywhere in the scene (``GraphicsScene.sigMouseClicked``): the outline between
        the points is not this item's to receive, so clicks are read here by position."""
        if not self.editable or self.contour is None or not self.isVisible():
            return
        position = self.mapFromScene(ev.scenePos())
        x, y = position.x() - CENTRE, position.y() - CENTRE
        index = self._point_at(position)
        if ev.button() == Qt.MouseButton.RightButton and index is not None:
            ev.accept()
            try:
                self.edited.emit(self.contour.removed(index), "Remove a contour point")
            except ValueError as exc:
                self.refused.emit(str(exc))
        elif ev.button() == Qt.MouseButton.LeftButton and ev.double() and index is None and self._near_outline(x, y):
            ev.accept()
            self.edited.emit(self.contour.inserted(x, y)[0], "Add a contour point")
