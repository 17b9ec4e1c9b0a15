"""The cines of an opened folder with their status, EF, heart rate and reviewed tick (the
:class:`~echoviewer.gui.cohort.Cohort`'s entries); Page Up / Page Down step through them, past
the files that failed."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTreeWidget, QTreeWidgetItem, QWidget

from echoviewer.gui.cohort import Cohort, Entry
from echoviewer.io import find_cines

COLUMNS = ("File", "Status", "EF %", "HR", "Reviewed")
FILE, STATUS, EF, HR, REVIEWED = range(len(COLUMNS))
FAILED_COLOUR = QColor(200, 30, 30)
STATUS_COLOUR = {"edited": QColor(160, 110, 0), "reviewed": QColor(0, 120, 60)}


class StudyList(QTreeWidget):
    chosen = Signal(str)  # a path to open
    reviewed = Signal(bool)  # the open cine's tick was clicked
    refused = Signal(str)  # one line: why a click did nothing

    def __init__(self, cohort: Cohort, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cohort = cohort
        self.folder: Path | None = None
        self.labels: dict[Path, str] = {}  # names shown instead of the files' (retrieved series)
        self._open: Path | None = None  # a click and the double-click's activation open it once
        self.setColumnCount(len(COLUMNS))
        self.setHeaderLabels(list(COLUMNS))
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(FILE, QHeaderView.ResizeMode.Stretch)
        for column in (STATUS, EF, HR, REVIEWED):
            self.header().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.itemActivated.connect(self._activated)
        self.itemClicked.connect(self._clicked)
        cohort.reset.connect(self._fill)
        cohort.changed.connect(self._show_entry)

    # ---- rows --------------------------------------------------------------------------------
    def set_folder(self, folder: str | Path, labels: Mapping[Path, str] | None = None) -> int:
        """List the cines under ``folder`` (recursively); returns how many there are. ``labels``
        name files (a PACS cache's files are named by hashes) in the list. Raises
        CineLoadError for a folder that cannot be searched."""
        found = find_cines(folder)  # raises for the system's virtual folders: the list stays
        self.folder = Path(folder)
        self.labels = dict(labels or {})
        self.cohort.set_paths(found)
        return self.count()

    def paths(self) -> list[Path]:
        """The listed cines, in order."""
        return self.cohort.paths()

    def count(self) -> int:
        return self.topLevelItemCount()

    def item(self, row: int) -> QTreeWidgetItem:
        item = self.topLevelItem(row)
        if item is None:
            raise IndexError(f"row {row} is not in the study list")
        return item

    def currentRow(self) -> int:
        item = self.currentItem()
        return -1 if item is None else self.indexOfTopLevelItem(item)

    def setCurrentRow(self, row: int) -> None:
        item = self.topLevelItem(row)
        if item is not None:
            self.setCurrentItem(item)

    def _fill(self) -> None:
        self.clear()
        for index, entry in enumerate(self.cohort.entries):
            item = QTreeWidgetItem([self._name(entry.path), "", "", "", ""])
            item.setData(FILE, Qt.ItemDataRole.UserRole, str(entry.path))
            item.setToolTip(FILE, str(entry.path))
            for column in (EF, HR):
                item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.addTopLevelItem(item)
            self._show_entry(index)

    def _name(self, path: Path) -> str:
        if path in self.labels:
            return self.labels[path]
        try:
            return str(path.relative_to(self.folder)) if self.folder is not None else path.name
        except ValueError:
            return path.name

    def _show_entry(self, index: int) -> None:
        item, entry = self.topLevelItem(index), self.cohort.entries[index]
        if item is None:
            return
        status = entry.status
        item.setText(STATUS, status if status != "not opened" else "")
        item.setText(EF, "" if entry.ef_percent is None else f"{entry.ef_percent:.0f}")
        item.setText(HR, "" if entry.heart_rate_bpm is None else f"{entry.heart_rate_bpm:.0f}")
        item.setCheckState(REVIEWED, Qt.CheckState.Checked if entry.reviewed else Qt.CheckState.Unchecked)
        tip = f"could not be opened: {entry.failed}" if entry.failed else (
            "EF: single-plane method of disks, mean over beats; HR: mean over beats" if entry.analysed else "")
        for column in (STATUS, EF, HR):
            item.setToolTip(column, tip)
        colour = FAILED_COLOUR if entry.failed else STATUS_COLOUR.get(status)
        brush = QBrush(colour) if colour is not None else QBrush()
        for column in (FILE, STATUS):
            item.setForeground(column, brush)

    # ---- the open row ------------------------------------------------------------------------
    def mark_open(self, path: str) -> None:
        """Highlight ``path`` when it is in the list (opened from here or elsewhere)."""
        self._open = Path(path)
        index = self.cohort.index_of(path)
        self.blockSignals(True)
        if index is None:
            self.clearSelection()
        else:
            self.setCurrentRow(index)
        self.blockSignals(False)

    def step(self, offset: int) -> None:
        """Open the next (``offset`` > 0) or previous cine in the list, past those that failed."""
        entries: list[Entry] = self.cohort.entries
        if not entries:
            return
        row = self.currentRow()
        if row < 0:
            row = -1 if offset > 0 else len(entries)
        step = 1 if offset > 0 else -1
        row += step
        while 0 <= row < len(entries) and entries[row].failed:
            row += step
        if 0 <= row < len(entries) and row != self.currentRow():
            self.setCurrentRow(row)
            self.chosen.emit(str(entries[row].path))

    def _clicked(self, item: QTreeWidgetItem, column: int) -> None:
        if column == REVIEWED:
            self._tick(item)
            return
        self._activated(item)

    def _tick(self, item: QTreeWidgetItem) -> None:
        """The tick is the open cine's: a cine is reviewed by looking at it."""
        entry = self.cohort.entries[self.indexOfTopLevelItem(item)]
        ticked = item.checkState(REVIEWED) == Qt.CheckState.Checked
        if self._open is not None and entry.path.resolve() == self._open.resolve():
            if ticked != entry.reviewed:
                self.reviewed.emit(ticked)
            return
        self._show_entry(self.indexOfTopLevelItem(item))  # the tick goes back
        if ticked != entry.reviewed:
            self.refused.emit(f"open {entry.path.name} to review it: only the open cine can be ticked")

    def _activated(self, item: QTreeWidgetItem) -> None:
        path = item.data(FILE, Qt.ItemDataRole.UserRole)
        if Path(path) != self._open:
            self.chosen.emit(path)
