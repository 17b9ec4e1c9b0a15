"""Page 1: the teacher, checked on the spot (it loads, its input, its size, one test inference);
or human-labelled images the run trains a teacher on first (told apart by their file names here)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (QAbstractButton, QButtonGroup, QComboBox, QFormLayout, QGroupBox, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QRadioButton, QSpinBox, QVBoxLayout, QWidget)

from echoviewer.distill_runs import LABELLED_LAYOUTS, labelled_layout, list_runs, needs_data_licence
from echoviewer.gui.wizard.checked_page import CheckedPage
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import PathRow
from echoviewer.analysis.models import DEFAULT_MODEL, PARTNER

LABELLED = "labelled"
CAMUS_TEACHER = PARTNER[DEFAULT_MODEL]  # the default student's own teacher
CHOICES = (("teacher", "The bundled teacher (a U-Net trained on simulated echo)"),
           (CAMUS_TEACHER, "The bundled CAMUS teacher (trained on human-labelled echoes; research use only: "
                           "CAMUS's licence, CC BY-NC-SA 4.0, passes to the student)"),
           ("deeplab", "An EchoNet-Dynamic checkpoint (DeepLabV3-ResNet50, .pt)"),
           ("onnx", "An ONNX model with its JSON model card beside it"),
           (LABELLED, "Train a teacher from my labelled images (CAMUS, or EchoNet-Dynamic tracings)"),
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


def describe_labelled(layout: str, minutes: int) -> str:
    """What the run does with labelled data of ``layout``, as one line for the page."""
    budget = f"for up to {minutes} min" if minutes else "without a time limit"
    return (f"{LABELLED_LAYOUTS[layout]} · when the run starts, a teacher is trained on it first, {budget}; "
            "the student then learns from synthetic cines alone")


class TeacherPage(CheckedPage):
    ANSWER = "teacher_info"
    FAILED_HINT = "choose another teacher"

    def __init__(self, state: WizardState) -> None:
        super().__init__(state)
        self.setTitle("1 · Teacher")
        self.setSubTitle("The model whose masks the student learns from. Whichever teacher you choose, the "
                         "student itself is trained on synthetic cines only.")
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
        self.labelled = PathRow("Labelled images", "CAMUS arrays (*.npz)", or_folder=True)
        self.licence = QLineEdit(state.data_licence)
        self.licence.setPlaceholderText("recorded in the teacher's model card; CAMUS's own is known, other data "
                                        "needs its licence here")
        self.minutes = QSpinBox(minimum=0, maximum=24 * 60, singleStep=10, value=state.teacher_minutes, suffix=" min")
        self.minutes.setSpecialValueText("no limit")
        self.labelled_box = QWidget()
        form = QFormLayout(self.labelled_box)
        form.setContentsMargins(24, 0, 0, 0)
        form.addRow("Labelled images", self.labelled)
        form.addRow("Data licence", self.licence)
        budget = QHBoxLayout()
        budget.addWidget(self.minutes)
        hint = QLabel("then training stops and keeps its best weights so far")
        hint.setStyleSheet("color: palette(mid);")
        budget.addWidget(hint, 1)
        form.addRow("Time budget", budget)
        for key, label in CHOICES:
            button = self.buttons[key] = QRadioButton(label)
            self.group.addButton(button)
            layout.addWidget(button)
            if key in self.paths:
                self.paths[key].changed.connect(lambda _, k=key: self._choose(k))
                layout.addWidget(self.paths[key])
        layout.insertWidget(layout.indexOf(self.buttons[LABELLED]) + 1, self.labelled_box)
        self.labelled.changed.connect(lambda _: self._choose(LABELLED))
        for signal in (self.licence.textEdited, self.minutes.valueChanged):
            signal.connect(self._labelled_edited)
        self.buttons["teacher"].setChecked(True)
        self.group.buttonClicked.connect(lambda button: self._choose(self._key(button)))
        layout.addSpacing(8)
        layout.addWidget(self.status)
        layout.addStretch(1)
        note = QLabel("The check runs the teacher once on a simulated frame in a separate process; "
                      "a teacher that fails it cannot be used. Labelled images are checked by their file "
                      "names here and read when the run starts.")
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

    def _labelled_edited(self) -> None:
        """The licence or the budget changed: that choice, checked again after a pause (typing)."""
        self.buttons[LABELLED].setChecked(True)
        self.changed()

    def check(self) -> None:
        """At once, not after a pause: a choice here is one click."""
        key = self._key(self.group.checkedButton())
        self.state.data_info = None  # the data page checks again: the truth teacher needs simulator masks
        self.state.labelled = ""
        self.forget()
        if key == LABELLED:
            self._check_labelled()
            return
        spec = self.spec(key)
        if not spec:
            self.refuse("choose a file with Browse…")
            return
        self.state.teacher = self._checking = spec
        self.ask(f"Checking {spec} …", "teacher", spec)

    def _check_labelled(self) -> None:
        """By file names only: ``distill train-teacher`` reads the data when the run starts."""
        s = self.state
        path, s.data_licence, s.teacher_minutes = self.labelled.path(), self.licence.text().strip(), \
            self.minutes.value()
        s.teacher, self._checking = "", path  # no teacher until the run has trained one (not the truth's rules)
        if not path:
            self.refuse("choose the labelled images: a .npz file with Browse…, or a folder with Folder…")
            return
        try:
            layout = labelled_layout(Path(path))
        except ValueError as exc:
            self.refuse(str(exc))
            return
        if needs_data_licence(layout) and not s.data_licence:
            self.refuse(f"type the licence of this {LABELLED_LAYOUTS[layout]} under Data licence: the teacher's "
                        "model card must say which licence its training images carry")
            return
        s.labelled = path
        self._answered({LABELLED: path, "layout": layout})

    def show_answer(self, info: dict) -> None:
        self.status.ok(describe_labelled(info["layout"], self.state.teacher_minutes) if LABELLED in info
                       else describe_teacher(info))

    def isComplete(self) -> bool:
        return super().isComplete() and (self.state.labelled or self.state.teacher) == self._checking
