"""Page 1: the teacher, checked on the spot (it loads, its input, its size, one test inference)."""

from __future__ import annotations

from PySide6.QtWidgets import (QAbstractButton, QButtonGroup, QComboBox, QGroupBox, QHBoxLayout, QLabel, QPushButton,
                               QRadioButton, QVBoxLayout)

from echoviewer.distill_runs import list_runs
from echoviewer.gui.wizard.checked_page import CheckedPage
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import PathRow

CHOICES = (("teacher", "The bundled teacher (a U-Net trained on simulated echo)"),
           ("deeplab", "An EchoNet-Dynamic checkpoint (DeepLabV3-ResNet50, .pt)"),
           ("onnx", "An ONNX model with its JSON model card beside it"),
           ("truth", "The simulator's truth (an oracle: synthetic data only)"))


def describe_teacher(info: dict) -> str:
    """The probe's answer as one line for the page."""
    parts = [str(info.get("name") or info.get("kind"))]
    if info.get("parameters"):
        parts.append(f"{info['parameters']:,} parameters")
    shape = info.get("input") or {}
    if shape.get("height"):
        parts.append(f"input {shape.get('channels', 1)}×{shape['height']}×{shape['width']}")
    test = info.get("test") or {}
    if test:
        parts.append(f"test inference on {test.get('frames', 1)} synthetic frames: {test.get('seconds', 0):.2f} s, "
                     f"Dice vs the simulator {test.get('dice_vs_simulator', float('nan')):.2f}")
    if info.get("needs_truth"):
        parts.append("needs generated data (it reads the simulator's masks)")
    return " · ".join(parts)


class TeacherPage(CheckedPage):
    ANSWER = "teacher_info"
    FAILED_HINT = "choose another teacher"

    def __init__(self, state: WizardState) -> None:
        super().__init__(state)
        self.setTitle("1 · Teacher")
        self.setSubTitle("The model whose masks the student learns from. No patient data and no human labels "
                         "are used.")
        layout = QVBoxLayout(self)

        self.resume_box = QGroupBox("Resume an interrupted run")
        resume_row = QHBoxLayout(self.resume_box)
        self.resume_list = QComboBox()
        self.resume_button = QPushButton("Resume")
        resume_row.addWidget(self.resume_list, 1)
        resume_row.addWidget(self.resume_button)
        layout.addWidget(self.resume_box)

        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        self.paths = {"deeplab": PathRow("EchoNet-Dynamic checkpoint", "PyTorch checkpoints (*.pt *.pth)"),
                      "onnx": PathRow("ONNX teacher", "ONNX models (*.onnx)")}
        for key, label in CHOICES:
            button = self.buttons[key] = QRadioButton(label)
            self.group.addButton(button)
            layout.addWidget(button)
            if key in self.paths:
                self.paths[key].changed.connect(lambda _, k=key: self._choose(k))
                layout.addWidget(self.paths[key])
        self.buttons["teacher"].setChecked(True)
        self.group.buttonClicked.connect(lambda button: self._choose(self._key(button)))
        layout.addSpacing(8)
        layout.addWidget(self.status)
        layout.addStretch(1)
        note = QLabel("The check runs the teacher once on a simulated frame in a separate process; "
                      "a teacher that fails it cannot be used.")
        note.setWordWrap(True)
        note.setStyleSheet("color: palette(mid);")
        layout.addWidget(note)
        self._checking = ""

    def _key(self, button: QAbstractButton | None) -> str:
        return next(k for k, b in self.buttons.items() if b is button)

    def initializePage(self) -> None:
        runs = list_runs(finished=False)
        self.resume_list.clear()
        for run in runs:
            self.resume_list.addItem(run.describe(), str(run.folder))
        self.resume_box.setVisible(bool(runs))
        if self.answer is None:
            self.check()

    def spec(self, key: str) -> str:
        return self.paths[key].path() if key in self.paths else key

    def _choose(self, key: str) -> None:
        self.buttons[key].setChecked(True)
        self.check()

    def check(self) -> None:
        """At once, not after a pause: a choice here is one click."""
        spec = self.spec(self._key(self.group.checkedButton()))
        self.state.data_info = None  # the data page checks again: the truth teacher needs simulator masks
        self.forget()
        if not spec:
            self.refuse("choose a file with Browse…")
            return
        self.state.teacher = self._checking = spec
        self.ask(f"Checking {spec} …", "teacher", spec)

    def show_answer(self, info: dict) -> None:
        self.status.ok(describe_teacher(info))

    def isComplete(self) -> bool:
        return super().isComplete() and self.state.teacher == self._checking
