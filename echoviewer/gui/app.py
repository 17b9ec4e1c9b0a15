"""Start the viewer: ``echoviewer [FILE] [--screenshot OUT.png]``.

``ECHOVIEWER_STARTUP_TIMES=OUT.json`` (for bench/startup.py) writes, as seconds since the process
started, when the cine view first painted a frame (``frame``: the preview or frame 0) and when the
cine view and the curve first painted an analysis (``analysis``), then quits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, qInstallMessageHandler
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


def _process_start() -> float:
    """The process's start as a ``time.time()`` value (Linux: /proc, in clock ticks), else now."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()
    return boot + ticks / os.sysconf("SC_CLK_TCK")


class _StartupTimes(QObject):
    """``ECHOVIEWER_STARTUP_TIMES``: the first paints of a frame and of an analysis, then quit."""

    def __init__(self, window: MainWindow, out: str) -> None:
        super().__init__(window)
        self.start, self.out = _process_start(), out
        self.times: dict[str, float] = {}
        self.pending: dict[str, set[QObject]] = {}
        view, curve = window.cine_view.graphics.viewport(), window.curve.viewport()
        controller = window.controller
        controller.preview.connect(lambda _: self._expect("frame", {view}))
        controller.cine_loaded.connect(lambda _: self._expect("frame", {view}))
        controller.study_changed.connect(lambda _: self._expect("analysis", {view, curve}))
        for widget in (view, curve):
            widget.installEventFilter(self)

    def _expect(self, name: str, widgets: set[QObject]) -> None:
        if name not in self.times and name not in self.pending:
            self.pending[name] = set(widgets)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            for name, widgets in list(self.pending.items()):
                widgets.discard(watched)
                if not widgets:
                    del self.pending[name]
                    self.times[name] = time.time() - self.start
            if "analysis" in self.times:
                Path(self.out).write_text(json.dumps(self.times))
                QApplication.quit()
        return False


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
    if os.environ.get("ECHOVIEWER_STARTUP_TIMES"):
        _StartupTimes(window, os.environ["ECHOVIEWER_STARTUP_TIMES"])
    window.show()
    if file is not None and Path(file).is_dir():
        window.open_folder(file)
    elif file is not None:
        window.open_path(file)
    if screenshot is None:
        return app.exec()
    wait_until_idle(window)
    with window.cine_view.masked_for_snapshot(not window.options.full_frame):  # as File ▸ Export ▸ PNG does
        snapshot = window.grab()
    if not snapshot.save(str(screenshot), "PNG"):
        print(f"echoviewer: could not write {screenshot}", file=sys.stderr)
        return 2
    for text in errors:
        print(f"echoviewer: {text}", file=sys.stderr)
    return 1 if errors and window.controller.study is None else 0
