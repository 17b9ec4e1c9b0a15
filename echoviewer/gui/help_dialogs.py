"""The Help menu's windows: every keyboard shortcut, and the version with the active model's card.

The shortcut list is made from the window's own actions, so it cannot drift from the keys that
work; the model card is the model's JSON sidecar as written, shown as text (never run).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Iterable
from pathlib import Path

import PySide6
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QHeaderView, QLabel,
                               QPlainTextEdit, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget)

from echoviewer import __version__
from echoviewer.analysis.errors import ModelLoadError
from echoviewer.analysis.models import model_path
from echoviewer.analysis.onnx_model import file_sha256, sidecar_path


def shortcut_rows(actions: Iterable[QAction]) -> list[tuple[str, str]]:
    """(keys, what they do) for every action that has a key, in the order the actions were made."""
    rows = []
    for action in actions:
        keys = [k.toString(QKeySequence.SequenceFormat.NativeText) for k in action.shortcuts()]
        keys = [k for k in keys if k]  # a standard key this platform has no binding for
        if keys:
            rows.append((" or ".join(keys), action.text().replace("&", "").rstrip("…")))
    return rows


def _dialog(parent: QWidget | None, title: str, *widgets: QWidget) -> QDialog:
    dialog = QDialog(parent)
    dialog.setWindowTitle(title)
    layout = QVBoxLayout(dialog)
    for widget in widgets:
        layout.addWidget(widget)
    buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
    buttons.rejected.connect(dialog.reject)
    layout.addWidget(buttons)
    return dialog


def shortcuts_dialog(actions: Iterable[QAction], parent: QWidget | None = None) -> QDialog:
    rows = shortcut_rows(actions)
    table = QTableWidget(len(rows), 2)
    table.setObjectName("shortcuts")
    table.setHorizontalHeaderLabels(["Key", "Action"])
    table.verticalHeader().hide()
    table.verticalHeader().setDefaultSectionSize(table.fontMetrics().height() + 6)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    for row, (keys, text) in enumerate(rows):
        table.setItem(row, 0, QTableWidgetItem(keys))
        table.setItem(row, 1, QTableWidgetItem(text))
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    note = QLabel("In the area plot: click or drag to move the cursor; drag a marker to move its "
                  "pick, right-click it to remove it. While editing a contour (C): drag a point, "
                  "double-click the outline to add one, right-click a point to remove it.")
    note.setWordWrap(True)
    dialog = _dialog(parent, "Keyboard shortcuts", table, note)
    dialog.resize(560, 620)
    return dialog


def model_card_text(spec: str) -> str:
    """The model's file, sha256 and card, or one line on why it cannot be read."""
    try:
        path = model_path(spec)
        card = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
    except (ModelLoadError, OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"The model card of {spec} cannot be read: {exc}"
    return (f"file: {path}\nsha256: {file_sha256(path)}\n\n"
            + json.dumps(card, indent=1, ensure_ascii=False))


def about_dialog(model_spec: str, parent: QWidget | None = None) -> QDialog:
    heading = QLabel(f"<b>echoviewer {__version__}</b>: a clinical-research viewer for "
                     "echocardiography with data-free knowledge distillation (EchoDFKD, WACV 2025)."
                     f"<br>Python {platform.python_version()}, PySide6 {PySide6.__version__}. "
                     "Not a medical device; for research use only.<br><br>"
                     f"The active model: <b>{Path(model_spec).name}</b>")
    heading.setWordWrap(True)
    card = QPlainTextEdit(model_card_text(model_spec))
    card.setObjectName("model_card")
    card.setReadOnly(True)
    dialog = _dialog(parent, "About echoviewer", heading, card)
    dialog.resize(640, 560)
    return dialog
