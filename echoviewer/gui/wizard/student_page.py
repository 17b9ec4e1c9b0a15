"""Page 3: the student's architecture and training length, its size, and how long training will take here."""

from __future__ import annotations

import time

from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QSpinBox, QVBoxLayout, QWizard

from echoviewer.distill_runs import duration, training_seconds
from echoviewer.gui.wizard.checked_page import CheckedPage
from echoviewer.gui.wizard.state import WizardState
from echoviewer.run_contract import STUDENT_PRESETS, TRAINING

# The stages around training, per cine: generation is the data probe's own measure; labelling,
# loading, scoring and export are not probed and come to about this (bench/wizard.py prints every
# stage's time on a machine: re-measure there when the stages change).
OTHER_SECONDS_PER_CINE = 0.35


class StudentPage(CheckedPage):
    ANSWER = "student_info"

    def __init__(self, state: WizardState) -> None:
        super().__init__(state)
        self.setTitle("3 · Student")
        self.setSubTitle("The small network that learns from the teacher's masks alone and then runs in the viewer.")
        self.setCommitPage(True)
        self.setButtonText(QWizard.WizardButton.CommitButton, "Start training")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.architecture = QComboBox()
        for key, preset in STUDENT_PRESETS.items():
            self.architecture.addItem(preset.label, key)
        self.epochs = QSpinBox(minimum=1, maximum=500)
        self.patience = QSpinBox(minimum=1, maximum=100)
        self.patience.setToolTip("stop early when the validation loss has not improved for this many epochs")
        self.name = QLineEdit()
        self.name.setPlaceholderText("a name for the model card and the Model menu")
        form.addRow("Architecture", self.architecture)
        form.addRow("Epochs (at most)", self.epochs)
        form.addRow("Early-stopping patience", self.patience)
        form.addRow("Name", self.name)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.architecture.currentIndexChanged.connect(self.changed)
        self.epochs.valueChanged.connect(self.changed)
        self.patience.valueChanged.connect(self.changed)
        self.name.textChanged.connect(self.completeChanged)

    def initializePage(self) -> None:
        for widget, value in ((self.epochs, self.state.epochs), (self.patience, self.state.patience)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        if not self.name.text():
            self.name.setText(f"{self.architecture.currentData()} student {time.strftime('%Y-%m-%d %H:%M')}")
        self.check()

    def check(self) -> None:
        preset = STUDENT_PRESETS[self.architecture.currentData()]
        self.state.model, self.state.batch, self.state.clip = preset.model, preset.batch, preset.clip
        self.state.epochs, self.state.patience = self.epochs.value(), self.patience.value()
        self.ask("Building the network and timing a few training steps …", "student", preset.model,
                 "--clip", str(preset.clip), "--batch", str(preset.batch), "--augment", str(TRAINING["augment"]))

    def estimate(self, info: dict) -> tuple[float, float]:
        """(training seconds, whole-run seconds) on this machine, at the epoch limit."""
        s = self.state
        train = training_seconds(info["step_seconds"], s.videos(), s.batch, s.epochs)
        data = s.data_info or {}
        other = OTHER_SECONDS_PER_CINE * s.videos() + (data.get("estimated_seconds", 0) if s.data_mode == "generate"
                                                       else 0)
        return train, train + other

    def show_answer(self, info: dict) -> None:
        train, total = self.estimate(info)
        self.status.ok(f"{info['parameters']:,} parameters · one training step takes {info['step_seconds']:.2f} s "
                       f"here · training about {duration(train)} at most ({self.state.epochs} epochs; early stopping "
                       f"may end it sooner) · the whole run about {duration(total)}")

    def isComplete(self) -> bool:
        return super().isComplete() and bool(self.name.text().strip())

    def validatePage(self) -> bool:
        self.state.name = " ".join(self.name.text().split())
        return True
