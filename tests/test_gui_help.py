"""The Help menu: every shortcut listed from the window's own actions; the version and the active
model's card."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPlainTextEdit, QTableWidget

from echoviewer import __version__
from echoviewer.analysis.models import BUNDLED
from echoviewer.analysis.onnx_model import file_sha256
from echoviewer.gui.help_dialogs import model_card_text
from echoviewer.resources import SAMPLE_CINE
from tests import test_gui
from tests.test_gui import key, open_and_wait

app, make_window, window = test_gui.app, test_gui.make_window, test_gui.window


def test_f1_lists_every_key_the_window_answers_to(qtbot, window) -> None:
    key(qtbot, window, Qt.Key.Key_F1)
    dialog = window.help_dialog
    assert dialog is not None and dialog.isVisible() and not dialog.isModal()
    table = dialog.findChild(QTableWidget, "shortcuts")
    rows = {table.item(r, 0).text(): table.item(r, 1).text() for r in range(table.rowCount())}
    assert rows["E"] == "Set this beat's ED here" and rows["Shift+E"] == "Add another ED here"
    assert rows["Alt+Right"] == "Move the pick here one frame later"
    assert rows["Ctrl+Z"] == "Undo" and rows["Ctrl+Shift+Z or Ctrl+Y"] == "Redo"
    assert rows["C"] == "Edit the LV contour" and rows["F1"] == "Keyboard shortcuts"
    with_keys = [a for a in window.actions.values() if any(k.toString() for k in a.shortcuts())]
    assert table.rowCount() == len(with_keys) >= 25
    # not modal: the viewer still works with the list open; asking again replaces the window
    open_and_wait(qtbot, window, SAMPLE_CINE)
    window.actions["step_forward"].trigger()
    assert window.controller.frame == 1
    window.actions["shortcuts"].trigger()
    assert window.help_dialog is not dialog and not dialog.isVisible()


def test_about_shows_the_version_and_the_active_models_card(qtbot, window) -> None:
    window.actions["about"].trigger()
    dialog = window.help_dialog
    assert __version__ in dialog.findChildren(type(window.message))[0].text()
    text = dialog.findChild(QPlainTextEdit, "model_card").toPlainText()
    spec = window.controller.model_spec
    path = BUNDLED[spec]
    assert f"sha256: {file_sha256(path)}" in text
    card = json.loads(text.split("\n\n", 1)[1])
    assert card == json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))


def test_an_unreadable_card_is_one_line(tmp_path) -> None:
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"x")
    model.with_suffix(".json").write_text("{not json", encoding="utf-8")
    text = model_card_text(str(model))
    assert text.startswith(f"The model card of {model} cannot be read") and "\n" not in text
    assert "no such model file" in model_card_text(str(tmp_path / "gone.onnx"))
