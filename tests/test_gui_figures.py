"""Figure-ready exports from the viewer: the frame as a native-resolution PNG with labels burned in
(a view option), the video with the area curve, and a short file's plot that says it has no curve."""

from __future__ import annotations

import cv2
import numpy as np
from PySide6.QtCore import Qt

from echoviewer.analysis.figure import burn_labels
from echoviewer.analysis.overlay import render_frame
from echoviewer.io import load_cine
from echoviewer.resources import SAMPLE_CINE
from tests import test_gui
from tests.helpers import moving_frames, write_dicom
from tests.test_gui import TIMEOUT_MS, open_and_wait

app, make_window, window = test_gui.app, test_gui.make_window, test_gui.window


def test_the_frame_as_a_figure_and_the_video_with_the_curve(qtbot, window, tmp_path) -> None:
    open_and_wait(qtbot, window, SAMPLE_CINE)
    c = window.controller
    c.set_frame(c.study.analysis.ed_frames[0])
    assert window.options.burned_labels and window.actions["burned_labels"].isChecked()
    assert window.exporter.export_figure(tmp_path / "ed.png")
    picture = cv2.cvtColor(cv2.imread(str(tmp_path / "ed.png")), cv2.COLOR_BGR2RGB)
    analysis = c.study.analysis
    drawn = render_frame(analysis, c.frame, mode=window.options.overlay, opacity=window.options.opacity,
                         sector=True)  # the default: black outside the imaging sector
    assert np.array_equal(picture, burn_labels(drawn, analysis, c.frame))
    assert not window.options.full_frame and not window.actions["full_frame"].isChecked()
    window.actions["burned_labels"].trigger()  # off: the plain frame with its overlay
    assert not window.options.burned_labels
    assert window.exporter.export_figure(tmp_path / "plain.png")
    assert np.array_equal(cv2.cvtColor(cv2.imread(str(tmp_path / "plain.png")), cv2.COLOR_BGR2RGB), drawn)
    assert "Saved" in window.message.text()

    task = window.exporter.export_video(tmp_path / "curve.avi", curve=True)
    qtbot.waitUntil(lambda: task.finished.is_set() and (tmp_path / "curve.avi").exists(), timeout=TIMEOUT_MS)
    video = load_cine(tmp_path / "curve.avi")
    assert video.width == analysis.cine.width + round(1.25 * analysis.cine.height) and video.height == 480


def test_a_short_file_says_it_has_no_curve(qtbot, window, tmp_path) -> None:
    write_dicom(tmp_path / "still.dcm", moving_frames(1, 96, 128, seed=3), fps=25.0)
    open_and_wait(qtbot, window, tmp_path / "still.dcm")
    curve = window.curve
    assert curve.no_curve.isVisible() and curve.no_curve.toPlainText() == "no curve: 1 frame"
    assert not curve.cursor.isVisible()
    (x_low, x_high), (y_low, y_high) = curve.plotItem.vb.viewRange()
    assert (x_low, x_high, y_low, y_high) == (0, 1, 0, 1)
    open_and_wait(qtbot, window, SAMPLE_CINE)  # a real cine: the note goes
    assert not curve.no_curve.isVisible() and curve.cursor.isVisible()
    window.controller.set_frame(5)
    qtbot.keyClick(window, Qt.Key.Key_Right)
    assert window.controller.frame == 6


def test_snapshots_of_the_screen_are_black_outside_the_sector_unless_the_full_frame_is_kept(
        qtbot, window, tmp_path) -> None:
    """Issue 20 (5): the PNG of the window or the cine view showed a name burned into the pixels
    beside the sector, though figures and videos left it out."""
    from PySide6.QtCore import QPointF
    from PySide6.QtGui import QImage

    frames = load_cine(SAMPLE_CINE).frames[:20].copy()
    for frame in frames:
        cv2.putText(frame, "DOE^JOHN 12345", (10, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
    named = write_dicom(tmp_path / "named.dcm", frames, fps=30.0, compression="none")
    open_and_wait(qtbot, window, named)
    view = window.cine_view

    def corner(png) -> np.ndarray:
        """The snapshot's pixels where the name is burned in (image rows 5-40, columns 5-260)."""
        image = QImage(str(png)).convertToFormat(QImage.Format.Format_Grayscale8)
        pixels = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(image.height(), -1)
        ratio = view.graphics.devicePixelRatioF()
        top_left = view.view.mapViewToDevice(QPointF(5, 5))
        bottom_right = view.view.mapViewToDevice(QPointF(260, 40))
        return pixels[round(top_left.y() * ratio):round(bottom_right.y() * ratio),
                      round(top_left.x() * ratio):round(bottom_right.x() * ratio)]

    assert window.exporter.export_png(view.graphics, view, tmp_path / "cine.png")
    assert corner(tmp_path / "cine.png").size and corner(tmp_path / "cine.png").max() < 30  # the name is gone
    assert view.image.image[5:40, 5:260].max() > 200  # while the screen still shows the whole frame
    assert window.exporter.export_png(window, view, tmp_path / "window.png")
    window.actions["full_frame"].trigger()
    assert window.exporter.export_png(view.graphics, view, tmp_path / "full.png")
    assert corner(tmp_path / "full.png").max() > 200  # kept only when asked
