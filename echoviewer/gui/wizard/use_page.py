"""Page 6: save the new student to the user's model folder and make it the viewer's active student."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFormLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWizardPage

from echoviewer.distill_runs import install_student
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import StatusLine
from echoviewer.io.errors import one_line
from echoviewer.user_data import ActiveStudent, user_models_dir


class UsePage(QWizardPage):
    installed = Signal(str)  # the saved model file, now the active student

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.setTitle("6 · Use it")
        self.setSubTitle("Save the student with its model card and make it the viewer's student. The one it "
                         "replaces stays in the Model menu and can be restored.")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit()
        self.use_button: QPushButton  # made below; the lambda runs only later
        self.name.textChanged.connect(lambda text: self.use_button.setEnabled(
            bool(text.strip()) and self.state.installed is None))
        form.addRow("Name", self.name)
        layout.addLayout(form)
        self.use_button = QPushButton("Save it and make it the active student")
        self.use_button.clicked.connect(self.use)
        layout.addWidget(self.use_button)
        self.status = StatusLine()
        layout.addWidget(self.status)
        note = QLabel(f"Models are saved in {user_models_dir()}. The run's files (data, checkpoints, reports) "
                      "stay in its run folder.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        layout.addWidget(note)
        layout.addStretch(1)

    def initializePage(self) -> None:
        assert self.state.run is not None  # the run page comes first and is complete only with a run
        self.name.setText(self.state.run.name)
        self.use_button.setEnabled(self.state.installed is None)

    def use(self) -> None:
        previous = ActiveStudent().get()
        assert self.state.run is not None  # as in initializePage
        try:
            path = install_student(self.state.run, self.name.text())
            ActiveStudent().set(str(path))
        except (OSError, ValueError) as exc:
            self.status.error(f"{one_line(exc)}; nothing was changed")
            return
        self.state.installed = str(path)
        self.use_button.setEnabled(False)
        self.status.ok(f"Saved as {path.name}. The viewer now uses it and re-runs the open cine. The previous "
                       f"student ({'bundled' if previous == 'student' else previous}) stays in the Model menu; "
                       "Model ▸ Restore previous student brings it back.")
        self.installed.emit(str(path))
