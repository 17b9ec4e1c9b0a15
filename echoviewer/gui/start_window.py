"""The window the viewer shows while it starts.

It opens at the saved size with the cine's first frame as soon as that is decoded
(:func:`echoviewer.io.preview.first_frame`: milliseconds, after numpy, pydicom and OpenCV are
imported), before pyqtgraph, the analysis and onnxruntime are (most of a second more on two cores:
pyqtgraph alone resolves every Qt class when it loads). The full window then takes its place
(:func:`echoviewer.gui.app.run`), so the researcher sees the cine from the first moment instead of
nothing. Qt's widgets and numpy only; the rest is imported when the frame is asked for.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, QRectF, QSettings, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QWidget

DEFAULT_SIZE = (1440, 860)  # a first start, before viewer.ini holds the window's geometry
_BACKGROUND = QColor(0, 0, 0)  # the cine view's


def frame_image(frame: np.ndarray) -> QImage:
    """A QImage holding its own copy of a uint8 grey (H, W) or RGB (H, W, 3) frame."""
    frame = np.ascontiguousarray(frame)
    height, width = frame.shape[:2]
    kind = QImage.Format.Format_Grayscale8 if frame.ndim == 2 else QImage.Format.Format_RGB888
    return QImage(frame.data, width, height, frame.strides[0], kind).copy()


class StartWindow(QWidget):
    """A dark window at the saved geometry that draws one frame, fitted and centred."""

    def __init__(self, settings: QSettings) -> None:
        super().__init__()
        self.setWindowTitle("echoviewer")
        geometry = settings.value("geometry")
        self.restored = isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)
        if not self.restored:
            self.resize(*DEFAULT_SIZE)
        self.frame: QImage | None = None

    def show_first_frame(self, path: str | Path) -> bool:
        """Decode and draw ``path``'s first frame; False when it has no fast preview (the full
        window shows the cine when it has decoded it, and says what is wrong if it cannot)."""
        from echoviewer.io.preview import first_frame  # numpy, pydicom, OpenCV: tenths of a second

        frame = first_frame(path)
        if frame is None:
            return False
        self.frame = frame_image(frame)
        self.setWindowTitle(f"{Path(path).name} — echoviewer")
        self.update()
        return True

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        painter.fillRect(self.rect(), _BACKGROUND)
        if self.frame is not None:
            scale = min(self.width() / self.frame.width(), self.height() / self.frame.height())
            width, height = self.frame.width() * scale, self.frame.height() * scale
            target = QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawImage(target, self.frame)
        painter.setPen(QColor(200, 200, 200))
        painter.drawText(self.rect().adjusted(8, 8, -8, -8), Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
                         "Starting echoviewer…")
        painter.end()
