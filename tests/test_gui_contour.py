"""Editing the LV contour in the viewer with the mouse (pytest-qt, off-screen, real drags and clicks)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from echoviewer.gui.contour_editor import CENTRE
from echoviewer.gui.main_window import MainWindow
from echoviewer.resources import SAMPLE_CINE
from tests import test_gui
from tests.helpers import write_dicom
from tests.test_gui import drag, key, open_and_wait, table_text

# The viewer's window fixtures, shared with test_gui.py (pytest finds fixtures by module name).
app, make_window, window = test_gui.app, test_gui.make_window, test_gui.window


def screen_point(window: MainWindow, x: float, y: float) -> QPoint:
    """Where image pixel (x, y) (the contour's coordinates) is in the cine view's viewport."""
    view = window.cine_view
    scene = view.view.mapViewToScene(QPointF(x + CENTRE, y + CENTRE))
    point = view.graphics.mapFromScene(scene)
    return QPoint(round(point.x()), round(point.y()))


def editing(qtbot, window: MainWindow, frame: int):
    """The sample open at ``frame`` with contour editing on (the C key); the shown contour."""
    open_and_wait(qtbot, window, SAMPLE_CINE)
    window.controller.set_frame(frame)
    key(qtbot, window, Qt.Key.Key_C)
    assert window.options.contour_editing and window.cine_view.contour.editable
    contour = window.cine_view.contour.contour
    assert contour is not None and contour == window.controller.study.contour(frame)
    return contour


def test_dragging_the_apex_up_lengthens_the_lv_and_undo_names_and_takes_it_back(qtbot, window, tmp_path) -> None:
    c = window.controller
    ed = 8
    contour = editing(qtbot, window, ed)
    before = c.study.analysis.beats[0]
    x, y = contour.points[contour.apex]
    drag(qtbot, window.cine_view.graphics.viewport(), screen_point(window, x, y), screen_point(window, x, y - 25))
    qtbot.waitUntil(lambda: ed in c.study.contours, timeout=5000)
    moved = c.study.contours[ed]
    assert moved.points[moved.apex][1] == pytest.approx(y - 25, abs=3) and len(moved.points) == len(contour.points)
    beat = c.study.analysis.beats[0]
    assert beat.ed_length > before.ed_length + 0.5 and beat.ed_area > before.ed_area and beat.es_area == before.es_area
    assert beat.ef_disks_percent > before.ef_disks_percent
    assert window.actions["undo"].text() == f"&Undo Move the apex (frame {ed})"
    assert "contour edited" in window.cine_view.info.text()
    assert f"your contour on frame {ed}" in window.measurements.heading.text()
    table = window.measurements.table
    column = next(i for i in range(table.columnCount()) if table.horizontalHeaderItem(i).text().startswith("ED area"))
    assert float(table_text(window, 0, column)) == pytest.approx(beat.ed_area, abs=0.01)
    assert c.frame == ed  # editing never scrubs

    # Exports carry the edited contour, marked as the user's.
    out = tmp_path / "out.csv"
    assert window.exporter.export_csv(out) and window.exporter.export_masks(tmp_path / "masks.npz")
    rows = list(csv.DictReader(out.open()))
    assert [int(row["frame"]) for row in rows if row["contour"] == "user"] == [ed]
    assert float(rows[ed]["area_px"]) == pytest.approx(float(c.study.analysis.area_px[ed]), abs=0.1)
    assert next(csv.DictReader((tmp_path / "out_beats.csv").open()))["user_contours"] == "ED"
    qtbot.waitUntil(lambda: (tmp_path / "masks.npz").is_file(), timeout=10000)
    with np.load(tmp_path / "masks.npz") as archive:
        (masks,) = archive.values()
    assert np.array_equal(masks[ed], moved.mask(masks.shape[1:]))

    key(qtbot, window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ed not in c.study.contours and c.study.analysis.beats[0] == before
    assert window.cine_view.contour.contour == contour


def test_a_double_click_on_the_outline_adds_a_point_and_a_right_click_removes_it(qtbot, window) -> None:
    c = window.controller
    frame = 19
    contour = editing(qtbot, window, frame)
    viewport = window.cine_view.graphics.viewport()
    outline = contour.outline()
    gaps = np.min(np.hypot(*(outline[:, None] - contour.points[None]).transpose(2, 0, 1)), axis=1)
    on_outline = outline[int(np.argmax(gaps))]  # on the outline, as far from every point as it gets
    where = screen_point(window, *on_outline)
    qtbot.mouseClick(viewport, Qt.MouseButton.LeftButton, pos=where)  # what a double click sends
    qtbot.mouseDClick(viewport, Qt.MouseButton.LeftButton, pos=where)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=where)
    qtbot.waitUntil(lambda: frame in c.study.contours, timeout=5000)
    added = c.study.contours[frame]
    new = next(i for i in range(len(added.points)) if not np.isin(added.points[i], contour.points).all())
    assert len(added.points) == len(contour.points) + 1 and np.allclose(added.points[new], on_outline, atol=2)
    assert c.study.undo_step == f"Add a contour point (frame {frame})"

    qtbot.mouseClick(viewport, Qt.MouseButton.RightButton, pos=screen_point(window, *added.points[new]))
    qtbot.waitUntil(lambda: len(c.study.contours[frame].points) == len(contour.points), timeout=5000)
    assert c.study.undo_step == f"Remove a contour point (frame {frame})"

    apex = c.study.contours[frame].points[contour.apex]
    qtbot.mouseClick(viewport, Qt.MouseButton.RightButton, pos=screen_point(window, *apex))
    assert "cannot be removed" in window.message.text()  # one line; the contour stays
    assert len(c.study.contours[frame].points) == len(contour.points)


def test_contour_edits_are_saved_as_made_and_reset_goes_back_to_the_model(qtbot, make_window) -> None:
    first = make_window()
    c = first.controller
    contour = editing(qtbot, first, 8)
    hinge = contour.points[0]
    drag(qtbot, first.cine_view.graphics.viewport(), screen_point(first, *hinge),
         screen_point(first, hinge[0] - 15, hinge[1] + 10))
    qtbot.waitUntil(lambda: 8 in c.study.contours, timeout=5000)
    assert c.study.undo_step == "Move a hinge (frame 8)"
    edited = c.study.contours[8]
    first.close()

    again = make_window()  # a new session on the same data folder: the edit came back
    open_and_wait(qtbot, again, SAMPLE_CINE)
    assert again.controller.study.contours == {8: edited}
    again.controller.set_frame(8)
    assert again.actions["reset_contour"].isEnabled()
    again.actions["reset_contour"].trigger()
    assert again.controller.study.contours == {} and not again.actions["reset_contour"].isEnabled()


def test_landmarks_show_without_editing_and_hide_with_their_option(qtbot, window) -> None:
    open_and_wait(qtbot, window, SAMPLE_CINE)
    item = window.cine_view.contour
    assert window.options.landmarks and not window.options.contour_editing
    assert len(item.scatter.data) == 3 and item.axis.xData is not None and len(item.axis.xData) == 2
    key(qtbot, window, Qt.Key.Key_L)
    assert not window.options.landmarks and len(item.scatter.data) == 0
    window.options.overlay = "hidden"
    key(qtbot, window, Qt.Key.Key_C)
    assert len(item.scatter.data) == 0  # nothing of the LV while the overlay is hidden


def test_dragging_the_landmarks_onto_the_simulators_truth_gives_its_long_axis(qtbot, window, tmp_path) -> None:
    """A simulated cine knows its LV's apex and hinges: a reader who drags the model's landmarks
    onto them gets the true long axis, and the beat's length and volumes follow."""
    from distill.synth.simulator import simulate

    truth = simulate(565, height=240, width=320, n_frames=40, fps=30.0)
    path = write_dicom(tmp_path / "simulated.dcm", truth.frames, fps=30.0, compression="none",
                       cm_per_px=(truth.cm_per_px, truth.cm_per_px))
    open_and_wait(qtbot, window, path)
    c = window.controller
    beats = c.study.analysis.beats
    assert beats, "the bundled student found no beat on the simulated cine"
    ed = beats[0].ed_frame
    c.set_frame(ed)
    key(qtbot, window, Qt.Key.Key_C)
    apex, septal, lateral = (tuple(map(float, p)) for p in truth.landmarks[ed])
    true_length = float(np.hypot(apex[0] - (septal[0] + lateral[0]) / 2,
                                 apex[1] - (septal[1] + lateral[1]) / 2)) * truth.cm_per_px
    before = beats[0]
    contour = c.study.contour(ed)
    first_hinge = 0 if np.hypot(*(contour.points[0] - septal)) < np.hypot(*(contour.points[0] - lateral)) else -1
    targets = {"apex": (contour.apex, apex), "first": (0, septal if first_hinge == 0 else lateral),
               "last": (len(contour.points) - 1, lateral if first_hinge == 0 else septal)}
    for index, target in targets.values():
        shown = c.study.contour(ed)
        point = shown.points[index if index != contour.apex else shown.apex]
        drag(qtbot, window.cine_view.graphics.viewport(), screen_point(window, *point), screen_point(window, *target))
        qtbot.waitUntil(lambda before=shown: c.study.contours.get(ed) is not before, timeout=5000)
    drawn = c.study.contours[ed]
    for (x, y), (tx, ty) in ((drawn.points[drawn.apex], apex), (drawn.hinges[0], targets["first"][1]),
                             (drawn.hinges[1], targets["last"][1])):
        assert np.hypot(x - tx, y - ty) < 1.5  # placed where the truth is, to a screen pixel
    beat = c.study.analysis.beats[0]
    assert beat.ed_length == pytest.approx(true_length, abs=0.08)  # cm
    assert abs(beat.ed_length - true_length) <= abs(before.ed_length - true_length) + 0.02
    assert beat.edv_disks != before.edv_disks and beat.es_length == before.es_length
    assert c.study.undo_step.startswith("Move a hinge")
