"""Start the viewer: ``echoviewer [FILE] [--screenshot OUT.png]``.

The start window (:mod:`echoviewer.gui.start_window`) shows the cine's first frame while the rest
of the viewer (pyqtgraph, the analysis, onnxruntime) is imported; the full window then takes its
place and opens the file. ``ECHOVIEWER_STARTUP_TIMES=OUT.json`` (for bench/startup.py) writes, as
``time.time()`` values (the launcher subtracts its own), when a first frame was painted (``frame``:
by the start window, or the full window's cine view when the file has no fast preview) and when the
cine view and the curve first painted an analysis (``analysis``), then quits.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, qInstallMessageHandler
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from echoviewer.resources import APP_ICON

if TYPE_CHECKING:  # pyqtgraph and the analysis are imported after the start window is up
    from echoviewer.gui.main_window import MainWindow
    from echoviewer.gui.start_window import StartWindow

SCREENSHOT_SIZE = (1440, 860)


# Qt's off-screen platform says these on every window; they are noise, not a problem.
_QUIET = ("This plugin does not support propagateSizeHints()", "This plugin does not support raise()")


def _qt_message(_mode, _context, message: str) -> None:
    if message not in _QUIET:
        print(message, file=sys.stderr)


def _qt_application() -> QApplication:
    """The QApplication with the viewer's name, icon and message filter (no pyqtgraph yet)."""
    qInstallMessageHandler(_qt_message)
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("echoviewer")
    app.setWindowIcon(QIcon(str(APP_ICON)))
    return app


def application() -> QApplication:
    """The QApplication, set up as the viewer needs it, pyqtgraph's options included (shared by
    tests and bench/gui.py)."""
    import pyqtgraph as pg

    from echoviewer.analysis.models import free_memory_between_runs

    app = _qt_application()
    pg.setConfigOptions(antialias=True, imageAxisOrder="row-major")
    free_memory_between_runs()  # a long-lived process that shows many models
    return app


def wait_until_idle(window: MainWindow, timeout_s: float = 120.0) -> bool:
    """Process events until the window's background work is done (for screenshots and tests)."""
    deadline = time.monotonic() + timeout_s
    while window.controller.working and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.005)
    QApplication.processEvents()
    return not window.controller.working


class _StartupTimes(QObject):
    """``ECHOVIEWER_STARTUP_TIMES``: the first paints of a frame and of an analysis, then quit."""

    def __init__(self, out: str) -> None:
        super().__init__()
        self.out = out
        self.times: dict[str, float] = {}
        self.pending: dict[str, set[QObject]] = {}
        self.start_window: StartWindow | None = None

    def watch_start(self, start_window: StartWindow) -> None:
        self.start_window = start_window
        start_window.installEventFilter(self)

    def watch(self, window: MainWindow) -> None:
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

    def _painted(self, name: str) -> None:
        # The wall clock, which the launcher shares: Linux's process start time counts from the
        # boot time in whole seconds (/proc/stat btime), up to a second off.
        self.times.setdefault(name, time.time())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if event.type() != QEvent.Type.Paint:
            return False
        if watched is self.start_window and self.start_window.frame is not None:
            self._painted("frame")
        for name, widgets in list(self.pending.items()):
            widgets.discard(watched)
            if not widgets:
                del self.pending[name]
                self._painted(name)
        if "analysis" in self.times:
            Path(self.out).write_text(json.dumps(self.times))
            QApplication.quit()
        return False


def _start_window(file: str | Path | None, times: _StartupTimes | None) -> StartWindow:
    """The start window, shown, with ``file``'s first frame when it has a fast preview."""
    from echoviewer.gui.settings import viewer_settings
    from echoviewer.gui.start_window import StartWindow

    start = StartWindow(viewer_settings())
    if times is not None:
        times.watch_start(start)
    start.show()
    QApplication.processEvents()
    if file is not None and Path(file).is_file() and start.show_first_frame(file):
        QApplication.processEvents()
    return start


def run(file: str | Path | None, screenshot: str | Path | None = None) -> int:
    """Open the window (with ``file`` loaded, or a folder in the study list); with ``screenshot``, render it off-screen once the
    file is analysed, write the PNG and return (1 if the file failed to load)."""
    if screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    app = _qt_application()
    out = os.environ.get("ECHOVIEWER_STARTUP_TIMES")
    times = _StartupTimes(out) if out else None
    start = None if screenshot is not None else _start_window(file, times)
    application()  # pyqtgraph, with the viewer's options
    from echoviewer.gui.main_window import MainWindow

    window = MainWindow()
    errors: list[str] = []
    window.controller.error.connect(errors.append)
    if start is None:
        window.resize(*SCREENSHOT_SIZE)
    elif not start.restored:  # a first start: the size the start window had
        window.setGeometry(start.geometry())
    if times is not None:
        times.watch(window)
    window.show()
    if start is not None:
        start.close()
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
