"""Start the viewer: ``echoviewer [FILE] [--screenshot OUT.png]``."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from echoviewer.gui.main_window import MainWindow
from echoviewer.resources import APP_ICON

SCREENSHOT_SIZE = (1440, 860)


# Qt's off-screen platform says these on every window; they are noise, not a problem.
_QUIET = ("This plugin does not support propagateSizeHints()", "This plugin does not support raise()")


def _qt_message(_mode, _context, message: str) -> None:
    if message not in _QUIET:
        print(message, file=sys.stderr)


def application() -> QApplication:
    """The QApplication, set up as the viewer needs it (shared by tests and bench/gui.py)."""
    qInstallMessageHandler(_qt_message)

    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("echoviewer")
    app.setWindowIcon(QIcon(str(APP_ICON)))
    return app


def wait_until_idle(window: MainWindow, timeout_s: float = 120.0) -> bool:
    """Process events until the window's background work is done (for screenshots and tests)."""
    deadline = time.monotonic() + timeout_s
    while window.controller.working and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.005)
    QApplication.processEvents()
    return not window.controller.working


def run(file: str | Path | None, screenshot: str | Path | None = None) -> int:
    """Open the window (with ``file`` loaded, or a folder in the study list); with ``screenshot``, render it off-screen once the
    file is analysed, write the PNG and return (1 if the file failed to load)."""
    if screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = application()
    window = MainWindow()
    errors: list[str] = []
    window.controller.error.connect(errors.append)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    if file is not None and Path(file).is_dir():
        window.open_folder(file)
    elif file is not None:
        window.open_path(file)
    if screenshot is None:
        return app.exec()
    wait_until_idle(window)
    if not window.grab().save(str(screenshot), "PNG"):
        print(f"echoviewer: could not write {screenshot}", file=sys.stderr)
        return 2
    for text in errors:
        print(f"echoviewer: {text}", file=sys.stderr)
    return 1 if errors and window.controller.study is None else 0
