"""Work off the GUI thread: a function runs in Qt's thread pool and reports back by signals.

Signals are emitted from the worker thread and delivered, queued, in the GUI thread, so slots may
touch widgets. A task that is no longer wanted is ``cancel()``-ed: its function sees that through
``cancelled()`` and whatever it still reports is dropped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from echoviewer.io.errors import one_line


class TaskSignals(QObject):
    report = Signal(str, object)   # (what, payload): intermediate results, e.g. ("preview", frame)
    progress = Signal(int, int)    # (done, total)
    done = Signal(object)
    failed = Signal(str)           # one line, for the status bar / message


class Task(QRunnable):
    """``function(task)`` run in the global thread pool; it may call ``task.report(what, payload)``,
    ``task.progress(done, total)`` and check ``task.cancelled()``."""

    def __init__(self, function: Callable[[Task], Any]) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python holds the task (its signals outlive run())
        self.signals = TaskSignals()
        self._function = function
        self._cancel = threading.Event()
        self.finished = threading.Event()

    def cancel(self) -> None:
        self._cancel.set()

    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def report(self, what: str, payload: object) -> None:
        if not self.cancelled():
            self.signals.report.emit(what, payload)

    def progress(self, done: int, total: int) -> None:
        if not self.cancelled():
            self.signals.progress.emit(done, total)

    def run(self) -> None:
        try:
            result = self._function(self)
        except Exception as exc:  # any failure becomes one line in the window; the app goes on
            if not self.cancelled():
                self.signals.failed.emit(one_line(exc) or type(exc).__name__)
        else:
            if not self.cancelled():
                self.signals.done.emit(result)
        finally:
            self.finished.set()


def start(task: Task) -> Task:
    QThreadPool.globalInstance().start(task)
    return task
