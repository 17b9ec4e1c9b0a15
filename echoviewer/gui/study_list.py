"""The cines of an opened folder; Page Up / Page Down step through them."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QListWidget, QListWidgetItem, QWidget

from echoviewer.io import find_cines


class StudyList(QListWidget):
    chosen = Signal(str)  # a path to open

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.folder: Path | None = None
        self._open: Path | None = None  # a click and the double-click's activation open it once
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.itemActivated.connect(self._activated)
        self.itemClicked.connect(self._activated)

    def set_folder(self, folder: str | Path) -> int:
        """List the cines under ``folder`` (recursively); returns how many there are."""
        self.folder = Path(folder)
        self.clear()
        for path in find_cines(self.folder):
            item = QListWidgetItem(str(path.relative_to(self.folder)))
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.addItem(item)
        return self.count()

    def paths(self) -> list[Path]:
        """The listed cines, in order."""
        return [Path(self.item(row).data(Qt.ItemDataRole.UserRole)) for row in range(self.count())]

    def mark_open(self, path: str) -> None:
        """Highlight ``path`` when it is in the list (opened from here or elsewhere)."""
        self._open = Path(path)
        for row in range(self.count()):
            if Path(self.item(row).data(Qt.ItemDataRole.UserRole)) == Path(path):
                self.blockSignals(True)
                self.setCurrentRow(row)
                self.blockSignals(False)
                return
        self.clearSelection()

    def step(self, offset: int) -> None:
        """Open the next (``offset`` > 0) or previous cine in the list."""
        if self.count() == 0:
            return
        row = min(max(self.currentRow() + offset if self.currentRow() >= 0 else 0, 0), self.count() - 1)
        if row != self.currentRow():
            self.setCurrentRow(row)
            self.chosen.emit(self.item(row).data(Qt.ItemDataRole.UserRole))

    def _activated(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if Path(path) != self._open:
            self.chosen.emit(path)
