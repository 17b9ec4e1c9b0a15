"""The viewer's window driven as a user would: real key presses, mouse clicks and drags (pytest-qt,
off-screen), on the bundled sample and on a real vendor cine from pydicom-data.

Each test gets its own window (and, from conftest, its own data folder); opening a cine and
analysing it takes well under a second here, so no state is shared between tests.
"""

from __future__ import annotations

import csv
import gc
import json
import shutil
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QThreadPool, QUrl
from PySide6.QtGui import QDropEvent, QImage

from echoviewer.analysis import BUNDLED, DEFAULT_MODEL, report
from echoviewer.analysis.overlay import DISAGREEMENT_COLOUR, contour_thickness, draw_overlay
from echoviewer.gui.app import application
from echoviewer.gui.curve_plot import EDITED_PEN, EventMarker
from echoviewer.gui.main_window import MainWindow
from echoviewer.gui.tasks import Task
from echoviewer.gui.view_options import SPEEDS
from echoviewer.io import load_cine
from echoviewer.resources import PARTNER, SAMPLE_CINE
from echoviewer.user_data import user_models_dir
from tests.helpers import immortal_singletons, moving_frames, write_dicom

COLOUR_CINE = "color3d_jpeg_baseline.dcm"  # pydicom-data: 120 frames, 4 beats, patient name set
TIMEOUT_MS = 60000
SINGLETONS = (None, True, False)


# ---- fixtures and helpers -----------------------------------------------------------------------

@pytest.fixture(scope="session")
def app(qapp):
    return application()  # the app's own setup: pyqtgraph's row-major images, antialiasing


@pytest.fixture
def make_window(app, qtbot):
    """New windows (with the data folder of the test), shown, active, closed after the test."""
    windows = []

    def make() -> MainWindow:
        window = MainWindow()
        qtbot.addWidget(window)
        window.resize(1400, 860)
        window.show()
        qtbot.waitExposed(window)
        activate(qtbot, window)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.close()
    # no background work may outlive its window (its late signals would reach deleted widgets)
    assert QThreadPool.globalInstance().waitForDone(TIMEOUT_MS)


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def colour_path(pydicom_data) -> Path:
    return pydicom_data / COLOUR_CINE


def activate(qtbot, window: MainWindow) -> None:
    """Window shortcuts (every key of the viewer) only reach the active window."""
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow)


def idle(qtbot, window: MainWindow) -> None:
    qtbot.waitUntil(lambda: not window.controller.working and window.controller.study is not None,
                    timeout=TIMEOUT_MS)


def open_and_wait(qtbot, window: MainWindow, path) -> None:
    window.open_path(path)
    assert window.controller.working  # the analysis runs in the background
    idle(qtbot, window)
    assert window.controller.cine.path == Path(path).resolve() or window.controller.cine.path == Path(path)


def key(qtbot, window: MainWindow, name, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    qtbot.keyClick(window, name, modifiers)


def as_rgb(picture: np.ndarray) -> np.ndarray:
    return picture if picture.ndim == 3 else np.repeat(picture[..., None], 3, axis=-1)


def changed_pixels(window: MainWindow, frame: int) -> np.ndarray:
    """Where the drawn picture of ``frame`` differs from the cine's own display frame."""
    rendered = as_rgb(window.cine_view.rendered(frame))
    raw = as_rgb(window.controller.cine.display_frame(frame))
    assert rendered.shape == raw.shape
    return np.any(rendered != raw, axis=-1)


def shown(window: MainWindow) -> np.ndarray:
    return np.asarray(window.cine_view.image.image)


def shows_frame(window: MainWindow, frame: int) -> bool:
    """The image item holds the picture of ``frame`` as drawn now."""
    return np.array_equal(shown(window), window.cine_view.rendered(frame))


def study_picture(window: MainWindow, frame: int) -> np.ndarray:
    """``frame`` of the open study as the cine view should draw it, computed here (fill mode)."""
    study = window.controller.study
    return draw_overlay(study.analysis.cine.display_frame(frame), study.analysis.segmentation.native_mask(frame),
                        mode="fill", opacity=window.options.opacity)


def band(mask: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(grown, shrunk) copies of ``mask`` by ``radius`` pixels."""
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    grown = cv2.dilate(mask.astype(np.uint8), kernel).astype(bool)
    shrunk = cv2.erode(mask.astype(np.uint8), kernel).astype(bool)
    return grown, shrunk


def table_text(window: MainWindow, row: int, column: int) -> str:
    item = window.measurements.table.item(row, column)
    return item.text() if item is not None else ""


def plot_point(window: MainWindow, frame: int, y: float | None = None) -> QPoint:
    """Where ``frame``'s point on the area curve (or height ``y``) is, in the plot's viewport."""
    curve = window.curve
    x = float(curve._x[frame])
    scene = curve.plotItem.vb.mapViewToScene(QPointF(x, float(curve._y[frame]) if y is None else y))
    point = curve.mapFromScene(scene)
    return QPoint(round(point.x()), round(point.y()))


def below_curve(window: MainWindow) -> float:
    """A height inside the plot, under the curve and its markers."""
    bottom, top = window.curve.plotItem.vb.viewRange()[1]
    return bottom + 0.02 * (top - bottom)


def drag(qtbot, widget, start: QPoint, end: QPoint, steps: int = 12) -> None:
    """Press, move in steps with the button held, release: what pyqtgraph sees as a drag."""
    qtbot.mousePress(widget, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, steps + 1):
        point = start + (end - start) * (step / steps)
        qtbot.mouseMove(widget, pos=point)
        qtbot.wait(5)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=end)


def marker(window: MainWindow, kind: str, frame: int) -> EventMarker:
    found = [m for m in window.curve.markers if m.kind == kind and m.frame == frame]
    assert len(found) == 1, [(m.kind, m.frame) for m in window.curve.markers]
    return found[0]


def one_line_error(window: MainWindow) -> str:
    text = window.message.text()
    assert text and "\n" not in text and text.isprintable(), text
    assert "color" in window.message.styleSheet(), f"shown as a plain status, not an error: {text}"
    return text


# ---- opening and the overlay --------------------------------------------------------------------
def test_the_sample_opens_with_the_students_picks(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    study = window.controller.study
    assert study.n_frames == 60
    assert study.picks.ed == (8, 36) and study.picks.es == (19, 45)
    assert window.controller.model_spec == DEFAULT_MODEL and window.model_box.currentData() == DEFAULT_MODEL
    assert study.analysis.segmentation.model.file == BUNDLED[DEFAULT_MODEL].name
    assert SAMPLE_CINE.name in window.windowTitle()
    assert "60 frames" in window.message.text()
    # curve, markers, table and transport all show the study
    assert len(window.curve._x) == 60
    assert sorted((m.kind, m.frame) for m in window.curve.markers) == [
        ("ED", 8), ("ED", 36), ("ES", 19), ("ES", 45)]
    assert window.measurements.table.rowCount() == 2 + 2  # two beats, mean, sd
    assert [table_text(window, 0, c) for c in (1, 2)] == ["8", "19"]
    assert window.transport.slider.maximum() == 59 and window.transport.slider.isEnabled()
    assert shows_frame(window, 0)


def test_a_short_axis_cine_is_marked_not_to_be_trusted(qtbot, window, tmp_path):
    from distill.synth.views import simulate_view
    from echoviewer.gui.measurements_panel import UNTRUSTED_TIP

    open_and_wait(qtbot, window, SAMPLE_CINE)
    assert "not an apical view" not in window.measurements.heading.text()
    assert not window.measurements.table.item(0, 3).toolTip()
    path = tmp_path / "psax.npz"
    np.savez(path, frames=simulate_view(3, "psax", n_frames=48)[0], fps=np.float64(30.0))
    open_and_wait(qtbot, window, path)
    panel = window.measurements
    assert "not an apical view" in panel.heading.text()
    flags = [panel.flags.item(i).text() for i in range(panel.flags.count())]
    assert flags[0].startswith("⚠ view_not_apical")
    rows = panel.table.rowCount()
    assert rows and all(panel.table.item(r, c).toolTip() == UNTRUSTED_TIP
                        for r in range(rows) for c in range(3, panel.table.columnCount()))


@pytest.mark.parametrize("which", ["sample", "colour"])
def test_the_overlay_is_the_mask_of_the_frame_shown(qtbot, window, which, colour_path):
    path = SAMPLE_CINE if which == "sample" else colour_path
    open_and_wait(qtbot, window, path)
    study, cine = window.controller.study, window.controller.cine
    assert cine.n_frames == (60 if which == "sample" else 120)
    if which == "colour":
        assert len(study.analysis.beats) == 4 and cine.colour is not None
    segmentation = study.analysis.segmentation
    ed, es = study.picks.ed[0], study.picks.es[0]
    assert not np.array_equal(segmentation.native_mask(ed), segmentation.native_mask(es))
    for frame in (ed, es, cine.n_frames - 1):
        window.controller.set_frame(frame)
        assert shows_frame(window, frame)
        mask = segmentation.native_mask(frame)
        assert mask.sum() > 1000
        changed = changed_pixels(window, frame)
        # fill mode: the overlay covers exactly this frame's mask (an RGB pixel already of the
        # overlay's colour may blend to itself, hence the tolerance on colour cines)
        assert not (changed & ~mask).any()
        assert changed[mask].mean() > (0.999 if which == "colour" else 1.0 - 1e-12)
        grown, _ = band(mask, 5)
        assert np.array_equal(as_rgb(shown(window))[~grown], as_rgb(cine.display_frame(frame))[~grown])


def test_hidden_and_contour_modes(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    cine, study = window.controller.cine, window.controller.study
    frame = study.picks.ed[0]
    window.controller.set_frame(frame)
    mask = study.analysis.segmentation.native_mask(frame)

    window.options.overlay = "hidden"
    assert window.overlay_box.currentText() == "hidden"
    assert np.array_equal(shown(window), cine.display_frame(frame))  # the raw frame itself
    assert not changed_pixels(window, frame).any()

    window.overlay_box.setCurrentText("contour")  # the toolbar's box
    assert window.options.overlay == "contour"
    changed = changed_pixels(window, frame)
    thickness = contour_thickness(mask.shape)
    grown, shrunk = band(mask, thickness + 1)
    assert changed.any()
    assert not (changed & ~(grown & ~shrunk)).any()  # only near the mask's edge
    assert changed.sum() < 0.3 * mask.sum()
    assert shows_frame(window, frame)

    key(qtbot, window, Qt.Key.Key_O)  # cycle: contour → hidden
    assert window.options.overlay == "hidden" and not changed_pixels(window, frame).any()
    key(qtbot, window, Qt.Key.Key_O)  # → fill
    assert window.options.overlay == "fill" and window.overlay_box.currentText() == "fill"
    assert np.array_equal(changed_pixels(window, frame), mask)


def test_opacity_slider_changes_the_blend(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    frame = window.controller.study.picks.ed[0]
    window.controller.set_frame(frame)
    before = shown(window).copy()
    window.opacity_slider.setValue(90)
    assert window.options.opacity == pytest.approx(0.9)
    after = shown(window)
    mask = window.controller.study.analysis.segmentation.native_mask(frame)
    assert not np.array_equal(before[mask], after[mask])
    assert np.array_equal(before[~mask], after[~mask])


# ---- keys ---------------------------------------------------------------------------------------
def test_keys_step_jump_and_go_to_the_ends(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    K = Qt.Key
    steps = [(K.Key_Right, 1), (K.Key_Right, 2), (K.Key_Right, 3), (K.Key_Left, 2), (K.Key_End, 59),
             (K.Key_Right, 59), (K.Key_Home, 0), (K.Key_Left, 0), (K.Key_BracketRight, 8),
             (K.Key_BracketRight, 19), (K.Key_BracketRight, 36), (K.Key_BracketRight, 45),
             (K.Key_BracketRight, 45), (K.Key_BracketLeft, 36), (K.Key_End, 59), (K.Key_BracketLeft, 45)]
    for name, expected in steps:
        key(qtbot, window, name)
        assert c.frame == expected, name
        assert window.transport.slider.value() == expected
        assert window.transport.position.text().startswith(f"{expected} / 59")
        assert shows_frame(window, expected)
        assert window.curve.cursor.value() == pytest.approx(window.curve._x[expected])
    assert window.cine_view.info.text().startswith("<b>ES</b>")  # on frame 45


@pytest.mark.slow
def test_space_plays_in_real_time_and_pauses(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c, playback = window.controller, window.playback
    assert c.cine.timing.fps == pytest.approx(30, abs=0.1)

    def play_for(ms: int) -> tuple[int, float]:
        key(qtbot, window, Qt.Key.Key_Home)
        key(qtbot, window, Qt.Key.Key_Space)
        start = time.monotonic()
        assert playback.playing and window.actions["play"].text() == "Pause"
        qtbot.wait(ms)
        frame, elapsed = c.frame, time.monotonic() - start
        key(qtbot, window, Qt.Key.Key_Space)
        assert not playback.playing and window.actions["play"].text() == "Play"
        return frame, elapsed

    frame, elapsed = play_for(500)
    expected = elapsed * 30.0
    assert 0.6 * expected - 2 <= frame <= expected + 3, (frame, elapsed)
    assert shows_frame(window, frame)
    paused_at = c.frame
    qtbot.wait(150)
    assert c.frame == paused_at  # paused: nothing moves

    window.transport.speed.setCurrentIndex(SPEEDS.index(2.0))
    assert window.options.speed == 2.0
    fast, fast_elapsed = play_for(400)  # 60 frames in 1 s at 2×: no wrap yet
    expected = fast_elapsed * 60.0
    assert 0.6 * expected - 2 <= fast <= expected + 3, (fast, fast_elapsed)
    assert fast / fast_elapsed > 1.4 * frame / elapsed


@pytest.mark.slow
def test_playback_loops_and_stops_at_the_end_without_loop(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c, playback = window.controller, window.playback
    window.transport.speed.setCurrentIndex(SPEEDS.index(2.0))
    key(qtbot, window, Qt.Key.Key_End)
    key(qtbot, window, Qt.Key.Key_Left)
    key(qtbot, window, Qt.Key.Key_Left)  # frame 57: wraps after ~0.05 s
    key(qtbot, window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: c.frame < 50, timeout=3000)
    assert playback.playing
    key(qtbot, window, Qt.Key.Key_Space)
    window.transport.loop.setChecked(False)
    key(qtbot, window, Qt.Key.Key_End)
    key(qtbot, window, Qt.Key.Key_Space)  # at the end without loop: starts from the beginning
    qtbot.waitUntil(lambda: 0 < c.frame < 59, timeout=3000)
    qtbot.waitUntil(lambda: not playback.playing, timeout=5000)
    assert c.frame == 59


def test_e_s_delete_and_undo_redo_keys(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    original_ed_area = c.study.analysis.beats[0].ed_area
    assert not window.actions["undo"].isEnabled() and not window.actions["redo"].isEnabled()

    for _ in range(12):
        key(qtbot, window, Qt.Key.Key_Right)
    key(qtbot, window, Qt.Key.Key_E)  # the first beat's ED moves here; no second ED
    assert c.study.picks.ed == (12, 36) and c.study.picks.edited_ed == {12}
    assert table_text(window, 0, 1) == "12*"
    assert c.study.analysis.beats[0].ed_area != original_ed_area
    assert window.cine_view.info.text().startswith("<b>ED</b> (edited)")
    assert window.actions["undo"].isEnabled()
    assert window.actions["undo"].text() == "&Undo Move ED 8 → 12"
    assert marker(window, "ED", 12).pen.color() == EDITED_PEN.color()

    shift, alt = Qt.KeyboardModifier.ShiftModifier, Qt.KeyboardModifier.AltModifier
    key(qtbot, window, Qt.Key.Key_BracketRight)  # 19, an ES
    assert c.frame == 19
    key(qtbot, window, Qt.Key.Key_E, shift)  # another ED here replaces the ES
    assert c.study.picks.ed == (12, 19, 36) and c.study.picks.es == (45,)
    key(qtbot, window, Qt.Key.Key_Right)
    key(qtbot, window, Qt.Key.Key_Right)
    key(qtbot, window, Qt.Key.Key_S)  # this beat (19 → 36) has no ES: one is added
    assert c.study.picks.es == (21, 45) and c.study.picks.edited_es == {21}
    key(qtbot, window, Qt.Key.Key_Right, alt)  # nudged a frame later; the cursor follows
    assert c.study.picks.es == (22, 45) and c.frame == 22
    key(qtbot, window, Qt.Key.Key_Left)
    key(qtbot, window, Qt.Key.Key_Left, alt)  # no pick at 21: a one-line note, no change
    assert c.study.picks.es == (22, 45) and c.frame == 21
    key(qtbot, window, Qt.Key.Key_End)
    key(qtbot, window, Qt.Key.Key_BracketLeft)  # 45
    key(qtbot, window, Qt.Key.Key_Delete)
    assert c.study.picks.es == (22,)
    key(qtbot, window, Qt.Key.Key_BracketLeft)  # 36
    key(qtbot, window, Qt.Key.Key_Backspace)
    assert c.study.picks.ed == (12, 19)
    key(qtbot, window, Qt.Key.Key_Delete)  # nothing at 36 any more
    assert c.study.picks.ed == (12, 19)
    after = c.study.picks

    ctrl = Qt.KeyboardModifier.ControlModifier
    for _ in range(6):
        key(qtbot, window, Qt.Key.Key_Z, ctrl)
    assert c.study.picks == c.study.automatic and not c.study.user_edited
    assert c.study.analysis.beats[0].ed_area == original_ed_area
    assert table_text(window, 0, 1) == "8"
    assert not window.actions["undo"].isEnabled() and window.actions["redo"].isEnabled()
    key(qtbot, window, Qt.Key.Key_Z, ctrl)  # nothing left to undo: no error, no change
    assert c.study.picks == c.study.automatic
    for _ in range(2):
        key(qtbot, window, Qt.Key.Key_Z, ctrl | shift)
    assert c.study.picks.ed == (12, 19, 36)
    for _ in range(4):
        key(qtbot, window, Qt.Key.Key_Y, ctrl)  # the other redo key
    assert c.study.picks == after
    assert not window.actions["redo"].isEnabled()
    assert sorted((m.kind, m.frame) for m in window.curve.markers) == [
        ("ED", 12), ("ED", 19), ("ES", 22)]


def test_clicks_elsewhere_do_not_steal_the_keys(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller

    def right_steps() -> None:
        before = c.frame
        key(qtbot, window, Qt.Key.Key_Right)
        assert c.frame == before + 1
        key(qtbot, window, Qt.Key.Key_Left)
        assert c.frame == before

    slider = window.transport.slider
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(slider.width() // 2, slider.height() // 2))
    assert c.frame > 0 and not slider.hasFocus()  # the click moved the cursor
    right_steps()

    table = window.measurements.table
    cell = table.visualItemRect(table.item(1, 3)).center()
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert table.hasFocus()
    right_steps()
    before = c.frame
    key(qtbot, window, Qt.Key.Key_Space)  # Space plays even when the table has focus
    assert window.playback.playing
    key(qtbot, window, Qt.Key.Key_Space)
    assert not window.playback.playing and c.frame >= before
    key(qtbot, window, Qt.Key.Key_Home)
    assert c.frame == 0
    qtbot.mouseDClick(table.viewport(), Qt.MouseButton.LeftButton, pos=cell)
    assert c.frame == 36  # double-click goes to the row's ED
    right_steps()

    graphics = window.cine_view.graphics
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(graphics.width() // 2, graphics.height() // 2))
    right_steps()
    qtbot.mouseClick(window.curve.viewport(), Qt.MouseButton.LeftButton, pos=plot_point(window, 30, y=below_curve(window)))
    assert c.frame == 30
    right_steps()
    key(qtbot, window, Qt.Key.Key_E)
    assert 30 in c.study.picks.ed


@pytest.mark.slow
@immortal_singletons
def test_frame_steps_keep_pythons_reference_counts(qtbot, window):
    """Stepping through frames (signals, labels, slider, image) must not take references away from
    None or True: on a binding that does (PySide6 6.12.0 under Python 3.11: each void call takes
    one from None, each signal emit one from True), CPython aborts ("Fatal Python error:
    none_dealloc" or "bool_dealloc") after about 40 s of playback, and this test run dies with it."""
    open_and_wait(qtbot, window, SAMPLE_CINE)
    gc.collect()
    before = [sys.getrefcount(obj) for obj in SINGLETONS]
    for _ in range(3):
        key(qtbot, window, Qt.Key.Key_End)
        key(qtbot, window, Qt.Key.Key_Home)
        for _ in range(40):
            key(qtbot, window, Qt.Key.Key_Right)
    gc.collect()
    lost = {repr(obj): count - sys.getrefcount(obj) for obj, count in zip(SINGLETONS, before)}
    assert all(abs(n) < 60 for n in lost.values()), f"references lost over 126 frame steps: {lost}"


# ---- the area plot ------------------------------------------------------------------------------
def test_dragging_the_ed_marker_moves_ed_and_changes_the_measurements(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    original = c.study.analysis
    ed_area = original.beats[0].ed_area
    assert table_text(window, 0, 1) == "8"

    drag(qtbot, window.curve.viewport(), plot_point(window, 8), plot_point(window, 12))
    qtbot.waitUntil(lambda: c.study.picks.ed != (8, 36), timeout=5000)
    moved = c.study.picks.ed[0]
    assert 10 <= moved <= 13 and c.study.picks.ed[1:] == (36,)
    assert c.study.picks.edited_ed == {moved} and c.study.picks.es == (19, 45)
    beat = c.study.analysis.beats[0]
    assert beat.ed_frame == moved and beat.ed_area != ed_area
    assert beat.ed_area == pytest.approx(float(c.study.analysis.area_cm2[moved]))
    assert table_text(window, 0, 1) == f"{moved}*"
    assert marker(window, "ED", moved).pen.color() == EDITED_PEN.color()
    assert c.frame == moved  # the drag scrubbed the cine to the frame under the marker

    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.study.picks.ed == (8, 36) and c.study.picks.edited_ed == frozenset()
    assert c.study.analysis.beats[0].ed_area == ed_area
    assert table_text(window, 0, 1) == "8"
    assert marker(window, "ED", 8).pen.color() != EDITED_PEN.color()


def test_dragging_an_es_marker_onto_an_ed_replaces_it(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    drag(qtbot, window.curve.viewport(), plot_point(window, 45), plot_point(window, 36), steps=16)
    qtbot.waitUntil(lambda: c.study.picks.es != (19, 45), timeout=5000)
    assert c.study.picks.es == (19, 36) and c.study.picks.edited_es == {36}
    assert c.study.picks.ed == (8,)  # a frame is never both
    assert [(b.ed_frame, b.es_frame) for b in c.study.analysis.beats] == [(8, 19)]
    assert window.measurements.table.rowCount() == 1 + 2


def test_right_clicking_a_marker_removes_that_pick(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    qtbot.mouseClick(window.curve.viewport(), Qt.MouseButton.RightButton, pos=plot_point(window, 45))
    qtbot.waitUntil(lambda: c.study.picks.es == (19,), timeout=5000)
    assert c.study.picks.ed == (8, 36) and [m.frame for m in window.curve.markers if m.kind == "ES"] == [19]
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.study.picks.es == (19, 45)


def test_dropping_a_file_or_a_folder_on_the_window_opens_it(qtbot, window, tmp_path):
    def drop(path: Path) -> None:
        data = QMimeData()
        data.setUrls([QUrl.fromLocalFile(str(path))])
        event = QDropEvent(QPointF(200, 200), Qt.DropAction.CopyAction, data,
                           Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
        window.dropEvent(event)
        assert event.isAccepted()

    drop(SAMPLE_CINE)
    idle(qtbot, window)
    assert window.controller.cine.path == SAMPLE_CINE and window.controller.study is not None
    folder = tmp_path / "studies"
    folder.mkdir()
    shutil.copy(SAMPLE_CINE, folder / "b.dcm")
    drop(folder)
    idle(qtbot, window)
    assert window.study_list.count() == 1 and window.controller.cine.path == folder / "b.dcm"


def test_clicking_and_dragging_in_the_plot_moves_the_frame_cursor(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c, curve = window.controller, window.curve
    low = below_curve(window)
    qtbot.mouseClick(curve.viewport(), Qt.MouseButton.LeftButton, pos=plot_point(window, 25, y=low))
    assert c.frame == 25
    assert shows_frame(window, 25) and window.transport.slider.value() == 25
    assert curve.cursor.value() == pytest.approx(curve._x[25])

    seen = []
    c.frame_changed.connect(seen.append)
    drag(qtbot, curve.viewport(), plot_point(window, 40, y=low), plot_point(window, 52, y=low))
    assert c.frame == 52
    assert len(set(seen)) > 3  # the frame followed the mouse, not only the release
    assert c.study.picks == c.study.automatic  # scrubbing edits nothing

    # the orange cursor line itself can be dragged too
    x52 = plot_point(window, 52, y=low).x()
    y = plot_point(window, 52, y=float(np.max(curve._y))).y()
    drag(qtbot, curve.viewport(), QPoint(x52, y), QPoint(plot_point(window, 44).x(), y))
    assert c.frame == 44


def test_the_time_axis_toggle_keeps_the_markers_on_the_curve(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    window.actions["time_axis"].setChecked(False)
    assert window.curve._x[59] == 59.0
    assert marker(window, "ED", 8).pos().x() == pytest.approx(8.0)
    key(qtbot, window, Qt.Key.Key_T)
    assert window.actions["time_axis"].isChecked()
    assert marker(window, "ED", 8).pos().x() == pytest.approx(window.controller.cine.times_ms[8] / 1000)


# ---- saved edits, models -------------------------------------------------------------------------
def edit_the_sample(qtbot, window) -> tuple:
    """ED 8 → 10 (moved), another ES added at 30, the last ES (the model's) deleted: the edited
    picks."""
    c = window.controller
    last_es = c.study.picks.es[-1]
    c.move_event("ED", 8, 10)
    c.set_frame(30)
    key(qtbot, window, Qt.Key.Key_S, Qt.KeyboardModifier.ShiftModifier)
    c.set_frame(last_es)
    key(qtbot, window, Qt.Key.Key_Delete)
    picks = c.study.picks
    assert picks.ed == (10, 36) and picks.es == (19, 30)
    assert picks.edited_ed == {10} and picks.edited_es == {30}
    return picks


@pytest.mark.slow
def test_reopening_restores_the_edits_and_the_model(qtbot, make_window, colour_path, tmp_path):
    window = make_window()
    open_and_wait(qtbot, window, SAMPLE_CINE)
    window.controller.set_model("teacher")
    idle(qtbot, window)
    picks = edit_the_sample(qtbot, window)
    ed_area = window.controller.study.analysis.beats[0].ed_area

    open_and_wait(qtbot, window, colour_path)
    assert window.controller.study.n_frames == 120
    open_and_wait(qtbot, window, SAMPLE_CINE)
    study = window.controller.study
    assert study.picks == picks and study.user_edited
    assert window.controller.model_spec == "teacher" and window.model_box.currentData() == "teacher"
    assert study.analysis.segmentation.model.file == "teacher.onnx"
    assert study.analysis.beats[0].ed_area == ed_area
    assert table_text(window, 0, 1) == "10*"

    # another window (the app started again) and a copy of the DICOM under another name, saved
    # again with another header (other bytes, the same SOP Instance UID)
    copy = tmp_path / "renamed copy.dcm"
    ds = pydicom.dcmread(SAMPLE_CINE)
    ds.SeriesDescription = "exported again"
    ds.save_as(copy)
    copied = copy.read_bytes()
    assert copied != SAMPLE_CINE.read_bytes()
    again = make_window()
    open_and_wait(qtbot, again, copy)
    assert again.controller.study.picks == picks
    assert again.controller.model_spec == "teacher"
    assert again.controller.study.analysis.segmentation.model.file == "teacher.onnx"
    # the history is not saved, only the picks: a reopened study starts with nothing to undo
    assert not again.controller.study.can_undo
    again.controller.set_frame(30)
    key(qtbot, again, Qt.Key.Key_E)
    assert 30 in again.controller.study.picks.ed
    assert copy.read_bytes() == copied  # edits never touch the DICOM


def test_reset_picks_is_saved_too(qtbot, make_window):
    window = make_window()
    open_and_wait(qtbot, window, SAMPLE_CINE)
    edit_the_sample(qtbot, window)
    window.actions["reset_picks"].trigger()
    assert window.controller.study.picks == window.controller.study.automatic
    again = make_window()
    open_and_wait(qtbot, again, SAMPLE_CINE)
    assert again.controller.study.picks == again.controller.study.automatic
    assert not again.controller.study.user_edited


def test_switching_models_keeps_the_edits_and_switching_back_uses_the_cache(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    student = c.study.analysis.segmentation
    picks = edit_the_sample(qtbot, window)
    student_ed_area = c.study.analysis.beats[0].ed_area

    index = window.model_box.findData("teacher")
    assert index >= 0
    window.model_box.setCurrentIndex(index)
    window.model_box.activated.emit(index)  # what a user's choice in the box sends
    idle(qtbot, window)
    assert c.model_spec == "teacher" and window.model_box.currentData() == "teacher"
    assert c.study.analysis.segmentation.model.file == "teacher.onnx"
    assert c.study.picks == picks and c.study.user_edited
    assert c.study.analysis.beats[0].ed_frame == 10
    assert c.study.analysis.beats[0].ed_area != student_ed_area  # measured on the teacher's masks
    assert "teacher" in window.measurements.heading.text().lower()
    assert table_text(window, 0, 1) == "10*"
    teacher = c.study.analysis.segmentation
    # the overlay follows the new masks
    c.set_frame(10)
    assert np.array_equal(changed_pixels(window, 10), teacher.native_mask(10))

    c.set_model(DEFAULT_MODEL)
    idle(qtbot, window)
    assert c.study.analysis.segmentation is student  # from the cache, not segmented again
    assert c.study.picks == picks
    assert c.study.analysis.beats[0].ed_area == student_ed_area
    c.set_model("teacher")
    idle(qtbot, window)
    assert c.study.analysis.segmentation is teacher
    # the undo history survived both switches
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.study.picks.ed == (8, 36) and c.study.picks.es == (19, 45)


def test_without_edits_a_model_switch_shows_the_new_models_picks(qtbot, window, colour_path):
    open_and_wait(qtbot, window, colour_path)
    c = window.controller
    student = c.study.picks
    c.set_model("teacher")
    idle(qtbot, window)
    teacher = c.study.picks
    assert teacher == c.study.automatic and teacher != student and not c.study.user_edited
    assert sorted((m.kind, m.frame) for m in window.curve.markers) == sorted(
        [("ED", f) for f in teacher.ed] + [("ES", f) for f in teacher.es])


def test_a_broken_model_file_gives_an_error_and_changes_nothing(qtbot, make_window):
    models = user_models_dir()
    models.mkdir(parents=True)
    (models / "bad.onnx").write_bytes(b"this is not an ONNX model\x00\xff" * 20)
    (models / "bad.json").write_text(json.dumps({"name": "Broken model"}), encoding="utf-8")
    window = make_window()
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    picks = edit_the_sample(qtbot, window)
    study, segmentation = c.study, c.study.analysis.segmentation

    index = window.model_box.findText("Broken model")
    assert index >= 0  # listed from the user's model folder
    window.model_box.setCurrentIndex(index)
    window.model_box.activated.emit(index)
    qtbot.waitUntil(lambda: not c.working, timeout=TIMEOUT_MS)
    error = one_line_error(window)
    assert "bad" in error.lower() or "model" in error.lower(), error
    assert c.model_spec == DEFAULT_MODEL and window.model_box.currentData() == DEFAULT_MODEL
    assert c.study is study and c.study.analysis.segmentation is segmentation
    assert c.study.picks == picks
    assert not window.progress.isVisible()
    # still usable: keys and undo work
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.study.picks.es == (19, 30, 45)

    # the same through the controller with a file outside the model folder
    c.set_model(str(models / "bad.onnx"))
    qtbot.waitUntil(lambda: not c.working, timeout=TIMEOUT_MS)
    one_line_error(window)
    assert c.model_spec == DEFAULT_MODEL and c.study.analysis.segmentation is segmentation


def test_the_disagreement_toggle_shows_magenta_where_the_masks_differ(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    assert c.study.analysis.comparison is None
    key(qtbot, window, Qt.Key.Key_D)  # the action's key
    assert window.actions["disagreement"].isChecked() and window.disagreement_box.isChecked()
    qtbot.waitUntil(lambda: not c.working and c.study.analysis.comparison is not None, timeout=TIMEOUT_MS)
    analysis = c.study.analysis
    assert analysis.comparison.model.file == BUNDLED[PARTNER[DEFAULT_MODEL]].name
    assert analysis.segmentation.model.file == BUNDLED[DEFAULT_MODEL].name
    assert "comparison" in analysis.as_dict()

    differ = [int(np.count_nonzero(analysis.segmentation.native_mask(f) ^ analysis.comparison.native_mask(f)))
              for f in range(c.n_frames)]
    frame = int(np.argmax(differ))
    assert differ[frame] > 20
    c.set_frame(frame)
    assert shows_frame(window, frame)
    picture = shown(window)
    mask, other = analysis.segmentation.native_mask(frame), analysis.comparison.native_mask(frame)
    disagree = mask ^ other
    magenta = np.all(np.abs(picture.astype(int) - DISAGREEMENT_COLOUR) < 80, axis=-1)
    assert magenta[disagree].mean() > 0.95
    assert not magenta[~disagree].any()
    raw = as_rgb(c.cine.display_frame(frame))
    expected = draw_overlay(raw, mask, mode="fill", opacity=window.options.opacity, other=other)
    assert np.array_equal(picture, expected)

    window.disagreement_box.setChecked(False)  # the toolbar's box
    assert not window.actions["disagreement"].isChecked()
    idle(qtbot, window)
    picture = shown(window)
    assert not np.all(np.abs(picture.astype(int) - DISAGREEMENT_COLOUR) < 80, axis=-1).any()
    assert np.array_equal(picture, draw_overlay(raw, mask, mode="fill", opacity=window.options.opacity))


# ---- bad input ----------------------------------------------------------------------------------
def edited_sample(qtbot, window):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    picks = edit_the_sample(qtbot, window)
    window.controller.set_frame(20)
    return window.controller.study, picks


def assert_still_usable(qtbot, window, study, picks) -> None:
    c = window.controller
    assert c.study is study and c.study.picks == picks
    assert c.cine.path == SAMPLE_CINE and SAMPLE_CINE.name in window.windowTitle()
    assert c.frame == 20
    assert np.array_equal(shown(window), study_picture(window, 20)), "the open study's frame is not shown"
    assert window.cine_view.info.text().startswith("frame 20 of 0–59")
    key(qtbot, window, Qt.Key.Key_Right)
    assert c.frame == 21
    assert np.array_equal(shown(window), study_picture(window, 21)), "stepping does not redraw"
    assert window.cine_view.info.text().startswith("frame 21 of 0–59")
    key(qtbot, window, Qt.Key.Key_E)
    assert 21 in c.study.picks.ed
    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert c.study.picks == picks
    assert sorted((m.kind, m.frame) for m in window.curve.markers) == sorted(
        [("ED", f) for f in picks.ed] + [("ES", f) for f in picks.es])
    assert window.measurements.table.rowCount() == len(study.analysis.beats) + 2


def test_a_text_file_gives_one_line_and_keeps_the_open_study(qtbot, window, tmp_path):
    study, picks = edited_sample(qtbot, window)
    text = tmp_path / "notes.txt"
    text.write_text("not a cine\n" * 50, encoding="utf-8")
    window.open_path(text)
    qtbot.waitUntil(lambda: not window.controller.working, timeout=TIMEOUT_MS)
    assert "notes.txt" in one_line_error(window)
    assert_still_usable(qtbot, window, study, picks)


def test_a_truncated_dicom_gives_one_line_and_keeps_the_open_study(qtbot, window, tmp_path, colour_path):
    study, picks = edited_sample(qtbot, window)
    truncated = tmp_path / "truncated.dcm"
    data = colour_path.read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    window.open_path(truncated)
    qtbot.waitUntil(lambda: not window.controller.working, timeout=TIMEOUT_MS)
    assert "truncated.dcm" in one_line_error(window)
    assert_still_usable(qtbot, window, study, picks)


def damaged_later_frame(source: Path, target: Path) -> Path:
    """A JPEG cine whose frame 0 is fine (so it previews) and whose data ends after frame 60 (a damaged
    frame alone no longer fails the file: it is flagged frames_damaged)."""
    from pydicom.encaps import encapsulate, generate_frames

    ds = pydicom.dcmread(source)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    ds.PixelData = encapsulate(frames[:61])
    ds.save_as(target)
    return target


def test_a_damaged_dicom_with_a_good_first_frame_keeps_the_open_study_shown(qtbot, window, tmp_path,
                                                                             colour_path):
    """The fast preview of the new file must not replace the open study's picture for good."""
    study, picks = edited_sample(qtbot, window)
    damaged = damaged_later_frame(colour_path, tmp_path / "damaged.dcm")
    window.open_path(damaged)
    qtbot.waitUntil(lambda: not window.controller.working, timeout=TIMEOUT_MS)
    assert "damaged.dcm" in one_line_error(window)
    assert_still_usable(qtbot, window, study, picks)


def test_a_missing_file_and_exports_without_a_study(qtbot, window, tmp_path):
    window.open_path(tmp_path / "gone.dcm")
    qtbot.waitUntil(lambda: not window.controller.working, timeout=TIMEOUT_MS)
    assert "gone.dcm" in one_line_error(window)
    assert window.controller.study is None
    assert window.exporter.export_csv(tmp_path / "out.csv") is False
    assert not (tmp_path / "out.csv").exists()
    one_line_error(window)
    key(qtbot, window, Qt.Key.Key_Right)  # keys with nothing open do nothing
    key(qtbot, window, Qt.Key.Key_E)
    key(qtbot, window, Qt.Key.Key_Space)
    assert window.controller.frame == 0 and not window.playback.playing


# ---- study list and recent files ----------------------------------------------------------------
def test_a_folder_lists_its_cines_and_page_keys_step_through_them(qtbot, window, tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    shutil.copyfile(SAMPLE_CINE, folder / "a_sample.dcm")
    write_dicom(folder / "b_small.dcm", moving_frames(12, 96, 128, seed=1), fps=25.0)
    (folder / "nested").mkdir()
    write_dicom(folder / "nested" / "c_small.dcm", moving_frames(10, 96, 128, seed=2), fps=25.0)
    (folder / "readme.txt").write_text("not a cine", encoding="utf-8")
    c = window.controller

    window.open_folder(folder)
    assert window.study_dock.isVisible()
    listed = [window.study_list.item(i).text(0) for i in range(window.study_list.count())]
    assert listed == ["a_sample.dcm", "b_small.dcm", str(Path("nested") / "c_small.dcm")]
    idle(qtbot, window)
    assert c.cine.path.name == "a_sample.dcm" and window.study_list.currentRow() == 0

    key(qtbot, window, Qt.Key.Key_PageDown)
    idle(qtbot, window)
    assert c.cine.path.name == "b_small.dcm" and c.study.n_frames == 12
    assert window.study_list.currentRow() == 1
    key(qtbot, window, Qt.Key.Key_PageDown)
    idle(qtbot, window)
    assert c.cine.path.name == "c_small.dcm" and window.study_list.currentRow() == 2
    key(qtbot, window, Qt.Key.Key_PageDown)  # the last one: stays
    assert not c.working and c.cine.path.name == "c_small.dcm"
    key(qtbot, window, Qt.Key.Key_PageUp)
    idle(qtbot, window)
    assert c.cine.path.name == "b_small.dcm"
    key(qtbot, window, Qt.Key.Key_PageUp)
    key(qtbot, window, Qt.Key.Key_PageUp)  # fast presses: the newest request wins
    idle(qtbot, window)
    assert c.cine.path.name == "a_sample.dcm" and c.study.analysis.cine is c.cine
    assert c.study.n_frames == 60 and window.study_list.currentRow() == 0

    # clicking a row opens it, and the keys still work afterwards
    row = window.study_list.visualItemRect(window.study_list.item(1)).center()
    qtbot.mouseClick(window.study_list.viewport(), Qt.MouseButton.LeftButton, pos=row)
    idle(qtbot, window)
    assert c.cine.path.name == "b_small.dcm"
    key(qtbot, window, Qt.Key.Key_Right)
    assert c.frame == 1
    key(qtbot, window, Qt.Key.Key_PageDown)
    idle(qtbot, window)
    assert c.cine.path.name == "c_small.dcm"


def test_a_folder_without_cines_gives_an_error(qtbot, window, tmp_path):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("nothing here", encoding="utf-8")
    window.open_folder(empty)
    assert "no cines" in one_line_error(window)
    assert not window.controller.working
    assert window.controller.cine.path == SAMPLE_CINE and window.controller.study is not None


def test_recent_files_get_each_opened_file_most_recent_first(qtbot, window, colour_path, tmp_path):
    assert window.recent.paths() == []
    open_and_wait(qtbot, window, SAMPLE_CINE)
    assert window.recent.paths() == [SAMPLE_CINE.resolve()]
    open_and_wait(qtbot, window, colour_path)
    assert window.recent.paths() == [colour_path.resolve(), SAMPLE_CINE.resolve()]
    open_and_wait(qtbot, window, SAMPLE_CINE)
    assert window.recent.paths() == [SAMPLE_CINE.resolve(), colour_path.resolve()]
    window.recent_menu.aboutToShow.emit()
    assert [a.text() for a in window.recent_menu.actions()] == [SAMPLE_CINE.name, colour_path.name]
    bad = tmp_path / "bad.txt"
    bad.write_text("x", encoding="utf-8")
    window.open_path(bad)
    qtbot.waitUntil(lambda: not window.controller.working, timeout=TIMEOUT_MS)
    assert bad.resolve() not in window.recent.paths()


# ---- exports ------------------------------------------------------------------------------------
def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def test_csv_export_holds_the_edited_picks(qtbot, window, tmp_path):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    picks = edit_the_sample(qtbot, window)
    analysis = window.controller.study.analysis
    out = tmp_path / "out.csv"
    assert window.exporter.export_csv(out) is True
    assert "out.csv" in window.message.text() and "Saved" in window.message.text()

    frames = read_csv(out)
    assert len(frames) == 60
    assert [int(r["frame"]) for r in frames] == list(range(60))
    assert [int(r["frame"]) for r in frames if r["event"] == "ED"] == list(picks.ed)
    assert [int(r["frame"]) for r in frames if r["event"] == "ES"] == list(picks.es)
    assert float(frames[10]["area_px"]) == pytest.approx(analysis.area_px[10], abs=0.06)

    beats = read_csv(tmp_path / "out_beats.csv")
    assert [r["beat"] for r in beats] == [str(i + 1) for i in range(len(analysis.beats))] + ["mean", "sd"]
    assert [(int(r["ed_frame"]), int(r["es_frame"])) for r in beats[:-2]] == [
        (b.ed_frame, b.es_frame) for b in analysis.beats]
    assert (beats[0]["ed_frame"], beats[0]["es_frame"]) == ("10", "19")  # the moved ED
    assert float(beats[0]["ed_area_cm2"]) == pytest.approx(analysis.beats[0].ed_area, rel=1e-3)
    assert "PLA" not in out.read_text(encoding="utf-8")


def test_json_export_has_the_analyze_schema_and_no_identifiers_unless_shown(qtbot, window, tmp_path,
                                                                            colour_path):
    open_and_wait(qtbot, window, colour_path)
    c = window.controller
    c.set_frame(40)
    key(qtbot, window, Qt.Key.Key_E)
    analysis = c.study.analysis
    reference = tmp_path / "reference.json"
    report.write_json(reference, [analysis.as_dict()], [])
    expected = json.loads(reference.read_text(encoding="utf-8"))

    out = tmp_path / "out.json"
    assert window.exporter.export_json(out)
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document.keys() == expected.keys()
    assert document["summary"] == {"files": 1, "analysed": 1, "failed": 0}
    result = document["cines"][0]
    made = result.pop("provenance")  # what the CLI adds too: who made it, when
    assert set(made) == {"app", "model", "model_sha256", "study_key", "instance_key", "reader", "exported_utc"}
    assert made["study_key"] and made["study_key"] not in (ids := c.cine.identifiers).study_instance_uid
    assert result.keys() == expected["cines"][0].keys()
    assert result["beats"][0].keys() == expected["cines"][0]["beats"][0].keys()
    assert result == expected["cines"][0]
    assert result["frames"] == 120 and 40 in result["ed_frames"]
    assert "edited" in result["events_rule"]
    assert ids.patient_name  # this file has one
    assert "patient" not in result
    assert ids.patient_name not in out.read_text(encoding="utf-8")

    window.actions["identifiers"].setChecked(True)  # View ▸ Show patient name and ID
    assert window.options.identifiers
    shown_out = tmp_path / "shown.json"
    assert window.exporter.export_json(shown_out)
    result = json.loads(shown_out.read_text(encoding="utf-8"))["cines"][0]
    assert result["patient"] == {"name": ids.patient_name, "id": ids.patient_id}

    window.options.identifiers = False  # the option itself: the menu and the export follow it
    assert not window.actions["identifiers"].isChecked()
    hidden_out = tmp_path / "hidden.json"
    assert window.exporter.export_json(hidden_out)
    assert "patient" not in json.loads(hidden_out.read_text(encoding="utf-8"))["cines"][0]
    assert ids.patient_name not in hidden_out.read_text(encoding="utf-8")


def test_masks_export_loads_without_pickle(qtbot, window, tmp_path):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    out = tmp_path / "masks.npz"
    assert window.exporter.export_masks(out)
    with np.load(out, allow_pickle=False) as archive:
        assert len(archive.files) == 1
        masks = archive[archive.files[0]]
    assert masks.dtype == bool and masks.shape == (60, 480, 640)
    segmentation = window.controller.study.analysis.segmentation
    assert np.array_equal(masks[8], segmentation.native_mask(8))


def test_png_exports_of_the_window_and_the_cine_view(qtbot, window, tmp_path):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    for widget, name in ((window, "window.png"), (window.cine_view.graphics, "cine.png")):
        out = tmp_path / name
        assert window.exporter.export_png(widget, window.cine_view, out)
        image = QImage(str(out))
        assert not image.isNull()
        ratio = widget.devicePixelRatioF()
        assert (image.width(), image.height()) == (round(widget.width() * ratio), round(widget.height() * ratio))
        assert image.width() > 200 and image.height() > 150
    # the cine snapshot is not a blank picture
    image = QImage(str(tmp_path / "cine.png")).convertToFormat(QImage.Format.Format_RGB888)
    pixels = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(image.height(), -1)
    assert pixels.std() > 5
    assert window.exporter.export_png(window, window.cine_view, tmp_path / "no such folder" / "x.png") is False
    one_line_error(window)


def test_video_export_runs_in_the_background_and_loads_back(qtbot, window, tmp_path):
    open_and_wait(qtbot, window, SAMPLE_CINE)
    out = tmp_path / "out.avi"
    task = window.exporter.export_video(out)
    assert isinstance(task, Task)
    qtbot.waitUntil(lambda: task.finished.is_set() and out.exists(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "Saved" in window.message.text(), timeout=5000)
    cine = load_cine(out)
    assert cine.n_frames == 60
    assert (cine.width, cine.height) == (640, 480)
    assert cine.timing.fps == pytest.approx(30, abs=0.5)
    # the overlay is in the video: the LV of frame 8 is tinted
    mask = window.controller.study.analysis.segmentation.native_mask(8)
    frame = cine.display_frame(8)
    assert frame.ndim == 3
    assert frame[mask][:, 0].mean() > frame[mask][:, 2].mean() + 20

    bad = window.exporter.export_video(tmp_path / "out.gif")
    qtbot.waitUntil(lambda: bad.finished.is_set(), timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: "video not written" in window.message.text(), timeout=5000)
    one_line_error(window)
    assert not (tmp_path / "out.gif").exists()


# ---- patient identifiers ------------------------------------------------------------------------
def test_patient_identifiers_are_shown_only_when_asked(qtbot, window, colour_path):
    open_and_wait(qtbot, window, colour_path)
    ids = window.controller.cine.identifiers
    assert ids.patient_name and ids.patient_id
    info = window.cine_view.info.text()
    assert ids.patient_name not in info and "patient" not in info
    assert not window.actions["identifiers"].isChecked()
    window.actions["identifiers"].setChecked(True)
    info = window.cine_view.info.text()
    assert f"patient {ids.patient_name}" in info and f"ID {ids.patient_id}" in info
    key(qtbot, window, Qt.Key.Key_Right)  # stays on while moving through the cine
    assert ids.patient_name in window.cine_view.info.text()
    window.actions["identifiers"].setChecked(False)
    assert ids.patient_name not in window.cine_view.info.text()
    assert ids.patient_name not in window.windowTitle() and ids.patient_name not in window.message.text()


def test_disagreement_switched_on_while_a_cine_opens_is_shown_once_it_is_analysed(qtbot, window):
    window.open_path(SAMPLE_CINE)
    assert window.controller.working and window.controller.study is None
    key(qtbot, window, Qt.Key.Key_D)  # before the analysis is back
    assert window.actions["disagreement"].isChecked()
    idle(qtbot, window)
    assert window.controller.compare
    assert window.controller.study.analysis.comparison is not None, \
        "the toggle is on but the study was analysed without the comparison model"


def test_a_model_chosen_while_the_cine_is_analysed_is_the_one_shown(qtbot, window):
    c = window.controller
    window.open_path(SAMPLE_CINE)
    qtbot.waitUntil(lambda: c.cine is not None, timeout=TIMEOUT_MS)  # decoded, being analysed
    assert c.study is None and c.working
    c.set_model("teacher")
    assert window.model_box.currentData() == "teacher"
    idle(qtbot, window)
    assert (c.model_spec, window.model_box.currentData(), c.study.analysis.segmentation.model.file) == \
        ("teacher", "teacher", "teacher.onnx"), "the model chosen during the analysis was dropped"


def overlay_action(window: MainWindow, mode: str):
    return next(a for a in window.overlay_group.actions() if a.data() == mode)


def controls(window: MainWindow) -> dict:
    """What the View menu, the toolbar and the transport show, by view option."""
    checked = [a.data() for a in window.overlay_group.actions() if a.isChecked()]
    return {"overlay": (window.overlay_box.currentText(), *checked),
            "opacity": window.opacity_slider.value() / 100,
            "identifiers": window.actions["identifiers"].isChecked(),
            "time_axis": window.actions["time_axis"].isChecked(),
            "speed": window.transport.speed.currentData(),
            "loop": window.transport.loop.isChecked()}


def shows_options(window: MainWindow) -> bool:
    o = window.options
    return controls(window) == {"overlay": (o.overlay, o.overlay), "opacity": o.opacity,
                                "identifiers": o.identifiers, "time_axis": o.time_axis,
                                "speed": o.speed, "loop": o.loop}


def test_the_menu_toolbar_and_transport_show_the_view_options(window):
    o = window.options
    assert shows_options(window)
    assert controls(window)["overlay"] == ("fill", "fill") and controls(window)["speed"] == 1.0
    seen = []
    o.changed.connect(lambda name, value: seen.append((name, value)))
    for name, value in (("overlay", "contour"), ("opacity", 0.6), ("identifiers", True),
                        ("time_axis", False), ("speed", 1.5), ("loop", False), ("overlay", "hidden")):
        setattr(o, name, value)
        assert shows_options(window), name
        assert seen[-1] == (name, value)
    assert len(seen) == 7  # one signal a change: no control wrote its mirrored value back as another
    o.opacity = 0.6  # the same again: nothing
    assert len(seen) == 7
    with pytest.raises(ValueError):
        o.speed = 3.0
    with pytest.raises(ValueError):
        o.overlay = "outline"
    assert shows_options(window) and len(seen) == 7


def test_every_control_writes_the_view_options(qtbot, window):
    o = window.options
    seen = []
    o.changed.connect(lambda name, value: seen.append((name, value)))

    def changes(name, value) -> None:
        assert getattr(o, name) == value and seen[-1] == (name, value), (name, value, seen)
        assert shows_options(window), name  # the other controls follow

    overlay_action(window, "contour").trigger()  # View ▸ Overlay: contour
    changes("overlay", "contour")
    window.overlay_box.setCurrentText("hidden")  # the toolbar's box
    changes("overlay", "hidden")
    key(qtbot, window, Qt.Key.Key_O)  # cycle: hidden → fill
    changes("overlay", "fill")
    window.opacity_slider.setValue(72)
    changes("opacity", 0.72)
    key(qtbot, window, Qt.Key.Key_T)
    changes("time_axis", False)
    window.actions["identifiers"].trigger()
    changes("identifiers", True)
    window.transport.speed.setCurrentIndex(SPEEDS.index(0.25))
    changes("speed", 0.25)
    qtbot.mouseClick(window.transport.loop, Qt.MouseButton.LeftButton,
                     pos=QPoint(8, window.transport.loop.height() // 2))
    changes("loop", False)
    assert len(seen) == 8


def test_display_choices_and_model_are_kept_for_the_next_session(qtbot, make_window, private_data_dir):
    first = make_window()
    overlay_action(first, "contour").trigger()
    first.opacity_slider.setValue(70)
    first.transport.speed.setCurrentIndex(SPEEDS.index(0.5))
    first.transport.loop.setChecked(False)
    first.actions["time_axis"].setChecked(False)
    first.actions["identifiers"].setChecked(True)
    first.controller.set_model("teacher")
    first.close()
    assert (private_data_dir / "viewer.ini").is_file()

    second = make_window()
    o = second.options
    assert (o.overlay, o.opacity, o.speed, o.loop, o.time_axis) == ("contour", 0.7, 0.5, False, False)
    assert not o.identifiers  # never kept: every session starts with them hidden
    assert shows_options(second)
    assert second.controller.model_spec == "teacher" and second.model_box.currentData() == "teacher"
    # the views render from the restored options
    open_and_wait(qtbot, second, SAMPLE_CINE)
    assert second.curve._x[59] == 59.0 and second.curve.getAxis("bottom").labelText == "frame"
    assert shows_frame(second, 0) and changed_pixels(second, 8).sum() < 0.3 * \
        second.controller.study.analysis.segmentation.native_mask(8).sum()  # contour, not fill


def test_a_damaged_settings_file_gives_the_defaults(make_window, private_data_dir):
    (private_data_dir / "viewer.ini").write_bytes(b"[General]\noverlay=@Variant(\\0\\xff)\nopacity=lots\n"
                                                  b"speed_index=99\nloop=maybe\ntime_axis=\nmodel=/no/such.onnx\ngeometry=x\n")
    window = make_window()
    assert window.options.overlay == "fill" and window.opacity_slider.value() == 35
    assert window.options.speed == 1.0 and window.controller.model_spec == DEFAULT_MODEL
    assert window.options.loop and window.options.time_axis and shows_options(window)


def test_the_wizard_without_torch_says_what_to_install(qtbot, window, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *rest: None if name == "torch" else find_spec(name, *rest))
    window.actions["distill"].trigger()
    assert window.wizard is None
    error = one_line_error(window)
    assert "torch" in error and "install" in error


def test_the_measurements_table_holds_every_measure_the_cli_reports(qtbot, window):
    from echoviewer.analysis.measurements import MEASURES
    from echoviewer.gui.measurements_panel import DISPLAYED

    assert sorted(DISPLAYED) == sorted(MEASURES) and DISPLAYED[0] == "ef_disks_percent"  # EF first
    open_and_wait(qtbot, window, SAMPLE_CINE)
    analysis, table = window.controller.study.analysis, window.measurements.table
    assert table.columnCount() == 3 + len(MEASURES)
    headers = [table.horizontalHeaderItem(i).text() for i in range(table.columnCount())]
    assert headers[3].startswith("EF disks") and headers[4] == "EDV disks\nmL" and headers[-1] == "ES length\ncm"
    for column, name in enumerate(DISPLAYED, start=3):
        rounding = 0.5 if name == "heart_rate_bpm" else 0.05  # shown to 0, else 1-2 decimals
        value = getattr(analysis.beats[0], name)
        shown = table_text(window, 0, column)
        assert shown == "—" if value is None else float(shown) == pytest.approx(value, abs=rounding), name
        mean = analysis.summary[name]["mean"]
        assert float(table_text(window, len(analysis.beats), column)) == pytest.approx(mean, abs=rounding)
