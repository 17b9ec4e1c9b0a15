"""The distillation wizard's window: six pages over one :class:`WizardState`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QWidget, QWizard, QWizardPage

from echoviewer.distill_runs import read_run
from echoviewer.gui.wizard.checked_page import CheckedPage
from echoviewer.gui.wizard.data_page import DataPage
from echoviewer.gui.wizard.evaluate_page import EvaluatePage
from echoviewer.gui.wizard.run_page import RunPage
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.student_page import StudentPage
from echoviewer.gui.wizard.teacher_page import TeacherPage
from echoviewer.gui.wizard.use_page import UsePage
from echoviewer.io import Cine
from echoviewer.run_contract import PLAN
from echoviewer.user_data import ActiveStudent

TEACHER, DATA, STUDENT, RUN, EVALUATE, USE = range(6)


class DistillWizard(QWizard):
    """Teacher → data → student → run → evaluate → use. ``student_installed(path)`` when the last
    page made a new active student."""

    student_installed = Signal(str)

    def __init__(self, open_cine: Callable[[], Cine | None] = lambda: None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Distill a new student")
        self.setWizardStyle(QWizard.WizardStyle.ClassicStyle)
        self.setOption(QWizard.WizardOption.NoBackButtonOnLastPage, True)
        self.resize(980, 720)
        self.state = WizardState(current=ActiveStudent().get())
        # the pages the window talks to are kept by their own types too
        self._teacher_page, data, student = TeacherPage(self.state), DataPage(self.state), StudentPage(self.state)
        self._run_page, evaluate, self._use_page = (RunPage(self.state), EvaluatePage(self.state, open_cine),
                                                    UsePage(self.state))
        self.pages: dict[int, QWizardPage] = {TEACHER: self._teacher_page, DATA: data, STUDENT: student,
                                              RUN: self._run_page, EVALUATE: evaluate, USE: self._use_page}
        for page_id, page in self.pages.items():
            self.setPage(page_id, page)
        self._teacher_page.resume_button.clicked.connect(
            lambda: self.resume(Path(self._teacher_page.resume_list.currentData())))
        self._use_page.installed.connect(self.student_installed)
        self._run_page.state_changed.connect(self._run_state)

    def resume(self, folder: Path) -> None:
        """Continue an interrupted run in ``folder``: straight to the run page."""
        run = read_run(folder)
        if run is None or run.problem:
            why = run.problem if run is not None else f"its {PLAN} is gone"
            self._teacher_page.status.error(f"{folder.name}: {why}; it cannot be resumed, start a new run")
            return
        self.state.run = run
        self.state.current = str(run.plan.get("current", self.state.current))
        self.state.epochs = int(run.plan.get("student", {}).get("epochs", self.state.epochs))
        self.setStartId(RUN)
        self.restart()

    def _run_state(self) -> None:
        running = self._run_page.running()
        self.setButtonText(QWizard.WizardButton.CancelButton, "Stop and close" if running else "Cancel")

    def running(self) -> bool:
        return self._run_page.running()

    def done(self, result: int) -> None:
        """Closing stops a run (it can be resumed later); the viewer's model is left as it is."""
        run_page = self._run_page
        if run_page.running():
            run_page.child.stop()
            run_page.child.process.waitForFinished(20_000)
        for page in self.pages.values():
            if isinstance(page, CheckedPage):
                page.probe.cancel()
        super().done(result)
