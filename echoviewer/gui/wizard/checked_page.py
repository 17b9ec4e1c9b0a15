"""A wizard page whose choice a ``python -m distill probe`` child checks before Next is allowed.

The teacher, data and student pages share this: a change forgets the last answer and (after a
short pause, so typing or spinning a value starts one check, not one per step) asks the probe
again; the answer goes to the :class:`WizardState` field the page names; a failure, or a choice
the page refuses itself, is one red line and keeps Next disabled.
"""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QWizardPage

from echoviewer.gui.wizard.child import Probe
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import StatusLine


class CheckedPage(QWizardPage):
    ANSWER = ""  # the WizardState field that holds the probe's answer
    FAILED_HINT = ""  # what to do when the check fails, after its message

    def __init__(self, state: WizardState, debounce_ms: int = 300) -> None:
        super().__init__()
        self.state = state
        self.status = StatusLine()
        self.probe = Probe(self)
        self.probe.done.connect(self._answered)
        self.probe.failed.connect(lambda message: self.refuse(f"{message}; {self.FAILED_HINT}" if self.FAILED_HINT
                                                              else message))
        self._debounce = QTimer(self, singleShot=True, interval=debounce_ms)
        self._debounce.timeout.connect(self.check)

    # ---- what a page defines ----------------------------------------------------------------
    def check(self) -> None:
        """Read the page's choice and :meth:`ask` the probe about it (or :meth:`refuse` it)."""
        raise NotImplementedError

    def show_answer(self, info: dict) -> str | None:
        """Show the probe's answer; or return why the choice cannot be used."""
        raise NotImplementedError

    # ---- shared ------------------------------------------------------------------------------
    @property
    def answer(self) -> dict | None:
        return getattr(self.state, self.ANSWER)

    @answer.setter
    def answer(self, info: dict | None) -> None:
        setattr(self.state, self.ANSWER, info)

    def changed(self, *_: object) -> None:
        """The choice changed: forget the answer and check again after a pause."""
        self.forget()
        self.status.busy("Checking …")
        self._debounce.start()

    def forget(self) -> None:
        self.answer = None
        self.completeChanged.emit()

    def ask(self, busy: str, *arguments: str) -> None:
        """Run ``probe ARGUMENTS``, saying ``busy`` meanwhile; an older probe's answer is dropped."""
        self.status.busy(busy)
        self.probe.start(*arguments)

    def refuse(self, message: str) -> None:
        self.probe.cancel()
        self.answer = None
        self.status.error(message)
        self.completeChanged.emit()

    def _answered(self, info: dict) -> None:
        problem = self.show_answer(info)
        if problem:
            self.refuse(problem)
            return
        self.answer = info
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.answer is not None and not self._debounce.isActive()

    def cleanupPage(self) -> None:
        self.probe.cancel()
        super().cleanupPage()
