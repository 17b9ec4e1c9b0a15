"""Page 3: the student's architecture and training length, its size, and how long training will take here."""

from __future__ import annotations

import time

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QSpinBox, QVBoxLayout, QWizard, QWizardPage

from echoviewer.distill_runs import STUDENT_PRESETS, TRAINING, duration, training_seconds
from echoviewer.gui.wizard.child import Probe
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import StatusLine

# The stages around training, per cine, from the quick preset's measured run (README): generation
# is the probe's own measure; labelling, loading, scoring and export come to about this.
OTHER_SECONDS_PER_CINE = 0.35


class StudentPage(QWizardPage):
    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
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
        self.status = StatusLine()
        layout.addWidget(self.status)
        layout.addStretch(1)

        self.probe = Probe(self)
        self.probe.done.connect(self._measured)
        self.probe.failed.connect(self._failed)
        self._debounce = QTimer(self, singleShot=True, interval=300, timeout=self.check)
        self.architecture.currentIndexChanged.connect(self._changed)
        self.epochs.valueChanged.connect(self._changed)
        self.patience.valueChanged.connect(self._changed)
        self.name.textChanged.connect(self.completeChanged)
        self._info: dict | None = None

    def initializePage(self) -> None:
        for widget, value in ((self.epochs, self.state.epochs), (self.patience, self.state.patience)):
            widget.blockSignals(True)
            widget.setValue(value)
            widget.blockSignals(False)
        if not self.name.text():
            self.name.setText(f"{self.architecture.currentData()} student {time.strftime('%Y-%m-%d %H:%M')}")
        self.check()

    def _changed(self) -> None:
        self._info = None
        self.status.busy("Checking …")
        self.completeChanged.emit()
        self._debounce.start()

    def check(self) -> None:
        preset = STUDENT_PRESETS[self.architecture.currentData()]
        self.state.model, self.state.batch, self.state.clip = preset.model, preset.batch, preset.clip
        self.state.epochs, self.state.patience = self.epochs.value(), self.patience.value()
        self.status.busy("Building the network and timing a few training steps …")
        self.probe.start("student", preset.model, "--clip", str(preset.clip), "--batch", str(preset.batch),
                         "--augment", str(TRAINING["augment"]))

    def estimate(self, info: dict) -> tuple[float, float]:
        """(training seconds, whole-run seconds) on this machine, at the epoch limit."""
        s = self.state
        train = training_seconds(info["step_seconds"], s.videos(), s.batch, s.epochs)
        data = s.data_info or {}
        other = OTHER_SECONDS_PER_CINE * s.videos() + (data.get("estimated_seconds", 0) if s.data_mode == "generate"
                                                       else 0)
        return train, train + other

    def _measured(self, info: dict) -> None:
        self._info = info
        train, total = self.estimate(info)
        self.status.ok(f"{info['parameters']:,} parameters · one training step takes {info['step_seconds']:.2f} s "
                       f"here · training about {duration(train)} at most ({self.state.epochs} epochs; early stopping "
                       f"may end it sooner) · the whole run about {duration(total)}")
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        self._info = None
        self.status.error(message)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self._info is not None and bool(self.name.text().strip())

    def validatePage(self) -> bool:
        self.state.name = " ".join(self.name.text().split())
        return True
