"""Small widgets the wizard's pages share: a status line, a file chooser row, a thumbnail strip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

THUMBNAIL = 112


class StatusLine(QLabel):
    """One line saying how a check went: busy (grey), fine (green) or what to fix (red)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.state = "idle"

    def _show(self, state: str, text: str, colour: str) -> None:
        self.state = state
        self.setStyleSheet(f"color: {colour};")
        self.setText(text)

    def busy(self, text: str) -> None:
        self._show("busy", text, "palette(mid)")

    def ok(self, text: str) -> None:
        self._show("ok", "✓ " + text, "#2e7d32")

    def error(self, text: str) -> None:
        self._show("error", "✗ " + text, "#c62828")


class PathRow(QWidget):
    """A path field with a Browse… button (and a Folder… button for a file or a folder);
    ``changed(path)`` when the user picks or types one."""

    changed = Signal(str)

    def __init__(self, title: str, file_filter: str | None, parent: QWidget | None = None, *,
                 or_folder: bool = False) -> None:
        super().__init__(parent)
        self.title, self.file_filter = title, file_filter  # no filter: choose a folder
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Browse… or type a path")
        self.edit.editingFinished.connect(lambda: self.changed.emit(self.path()))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.edit, 1)
        layout.addWidget(browse)
        if or_folder:
            folder = QPushButton("Folder…")
            folder.clicked.connect(self.browse_folder)
            layout.addWidget(folder)

    def path(self) -> str:
        text = self.edit.text().strip()
        return str(Path(text).expanduser().resolve()) if text else ""

    def set_path(self, path: str) -> None:
        self.edit.setText(path)
        self.changed.emit(self.path())

    def browse(self) -> None:
        if self.file_filter is None:
            self.browse_folder()
            return
        chosen, _ = QFileDialog.getOpenFileName(self, self.title, self.path() or str(Path.home()), self.file_filter)
        if chosen:
            self.set_path(chosen)

    def browse_folder(self) -> None:
        chosen = QFileDialog.getExistingDirectory(self, self.title, self.path() or str(Path.home()))
        if chosen:
            self.set_path(chosen)


def pixmap(image: np.ndarray, size: int = THUMBNAIL) -> QPixmap:
    """A uint8 grey (H, W) or RGB (H, W, 3) image as a pixmap scaled to fit ``size``."""
    image = np.ascontiguousarray(image)
    fmt = QImage.Format.Format_Grayscale8 if image.ndim == 2 else QImage.Format.Format_RGB888
    qimage = QImage(image.data, image.shape[1], image.shape[0], image.strides[0], fmt).copy()
    return QPixmap.fromImage(qimage).scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                            Qt.TransformationMode.SmoothTransformation)


class Thumbnails(QWidget):
    """A row of small pictures with captions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.row = QHBoxLayout(self)
        self.row.setContentsMargins(0, 0, 0, 0)
        self.row.addStretch(1)

    def clear(self) -> None:
        while self.row.count() > 1:
            item = self.row.takeAt(0)
            assert item is not None  # the row holds more than its stretch
            widget = item.widget()
            if widget is not None:
                widget.deleteLater()

    def add(self, picture: QPixmap, caption: str, size: int = THUMBNAIL) -> None:
        label = QLabel()
        label.setPixmap(picture)
        label.setFixedWidth(size + 8)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setToolTip(caption)
        text = QLabel(caption)
        text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        text.setFixedWidth(size + 8)
        text.setWordWrap(True)
        cell = QWidget()
        layout = QVBoxLayout(cell)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(label)
        layout.addWidget(text)
        self.row.insertWidget(self.row.count() - 1, cell)
