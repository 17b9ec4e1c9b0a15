"""Work off the GUI thread: a function runs in Qt's thread pool and reports back by signals.

Signals are emitted from the worker thread and delivered, queued, in the GUI thread, so slots may
touch widgets. A task that is no longer wanted is ``cancel()``-ed: its function sees that through
``cancelled()`` and whatever it still reports is dropped.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QThreadPool, Signal

from echoviewer.io.errors import one_line


class TaskSignals(QObject):
    report = Signal(str, object)   # (what, payload): intermediate results, e.g. ("preview", frame)
    progress = Signal(int, int)    # (done, total)
    done = Signal(object)
    failed = Signal(str)           # one line, for the status bar / message
    ended = Signal()               # always, last, cancelled or not

    def release(self) -> None:
        """Drop every connection, once the task has ended and its last signal is delivered.

        The slots connected here are often closures over the task itself; Qt holds them, out of
        the garbage collector's sight, so without this every task (and the cine or analysis its
        function holds) would live as long as the application: ~1 MiB per cine opened.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # "failed to disconnect" one with no slot
            for signal in (self.report, self.progress, self.done, self.failed, self.ended):
                try:
                    signal.disconnect()
                except (RuntimeError, TypeError):
                    pass


class Task:
    """``function(task)`` run in the global thread pool; it may call ``task.report(what, payload)``,
    ``task.progress(done, total)`` and check ``task.cancelled()``.

    Not a QRunnable: PySide keeps a reference to a Python QRunnable that is not auto-deleted for
    ever, so every task lived as long as the application. The pool runs ``task.run`` instead, in
    a runnable of its own that it deletes after the run.
    """

    def __init__(self, function: Callable[[Task], Any]) -> None:
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
            self.signals.ended.emit()


def start(task: Task) -> Task:
    # Queued, so it runs in the GUI thread after the task's other signals are delivered.
    task.signals.ended.connect(task.signals.release)
    QThreadPool.globalInstance().start(task.run)
    return task
