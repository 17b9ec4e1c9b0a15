"""The viewer's start: a window with the cine's first frame before pyqtgraph and the models load
(issue 19), then the full window in its place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from PySide6.QtCore import QSettings
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from echoviewer.gui.start_window import DEFAULT_SIZE, StartWindow, frame_image
from echoviewer.io.preview import first_frame
from echoviewer.resources import SAMPLE_CINE
from tests.helpers import moving_frames



def _grey(image: QImage) -> np.ndarray:
    image = image.convertToFormat(QImage.Format.Format_Grayscale8)
    return np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes()).reshape(image.height(), -1).copy()


def test_the_start_window_draws_the_first_frame_fitted_and_centred(qtbot, tmp_path) -> None:
    window = StartWindow(QSettings(str(tmp_path / "viewer.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert not window.restored and (window.width(), window.height()) == DEFAULT_SIZE
    window.show()
    assert window.show_first_frame(SAMPLE_CINE)
    assert SAMPLE_CINE.name in window.windowTitle()
    frame = first_frame(SAMPLE_CINE)
    assert np.array_equal(_grey(window.frame), frame)
    shot = _grey(window.grab().toImage())
    ratio = window.devicePixelRatioF()
    height, width = shot.shape[0], round(window.width() * ratio)
    scale = min(width / frame.shape[1], height / frame.shape[0])
    left = round((width - frame.shape[1] * scale) / 2)
    assert shot[:height // 2, :max(left - 2, 1)].max() == 0  # black beside the fitted frame (above the words)
    middle = shot[height // 4:3 * height // 4, width // 4:3 * width // 4]
    assert middle.std() > 10  # the echo, not a blank window


def test_it_opens_at_the_saved_size_and_says_nothing_for_a_file_it_cannot_preview(qtbot, tmp_path) -> None:
    settings = QSettings(str(tmp_path / "viewer.ini"), QSettings.Format.IniFormat)
    earlier = QWidget()
    earlier.resize(700, 500)
    settings.setValue("geometry", earlier.saveGeometry())
    window = StartWindow(settings)
    qtbot.addWidget(window)
    assert window.restored and (window.width(), window.height()) == (700, 500)
    arrays = tmp_path / "cine.npz"
    np.savez(arrays, frames=moving_frames(4))
    assert not window.show_first_frame(arrays)  # NumPy files have no fast preview: the full window loads them
    assert window.frame is None and window.windowTitle() == "echoviewer"


def test_frame_image_keeps_its_own_copy_of_grey_and_colour_frames() -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4)
    colour = np.dstack([grey, grey + 1, grey + 2])
    images = frame_image(grey), frame_image(colour)
    grey[:] = 0
    assert images[0].pixelColor(3, 2).red() == 11 and images[1].pixelColor(3, 2).getRgb()[:3] == (11, 12, 13)


def test_a_started_viewer_shows_the_first_frame_before_the_masks_and_quits_cleanly(tmp_path) -> None:
    """The whole start, as a user's ``echoviewer FILE``: the start window paints the frame, the full
    window then paints the masks and the curve (ECHOVIEWER_STARTUP_TIMES records both)."""
    out = tmp_path / "times.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "ECHOVIEWER_DATA_DIR": str(tmp_path / "data"),
           "ECHOVIEWER_STARTUP_TIMES": str(out)}
    launched = time.time()
    result = subprocess.run([sys.executable, "-m", "echoviewer", str(SAMPLE_CINE)], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    times = json.loads(out.read_text())  # wall-clock stamps
    assert launched < times["frame"] < times["analysis"] < time.time()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("module", ["echoviewer.gui.start_window", "echoviewer.gui.settings"])
def test_the_start_window_loads_before_pyqtgraph_and_the_models(module) -> None:
    code = (f"import sys, {module}\n"
            "print(sorted(m for m in ('pyqtgraph', 'onnxruntime', 'echoviewer.analysis') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.stdout.strip() == "[]", result.stderr
