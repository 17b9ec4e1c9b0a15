"""Page 2: the synthetic cines the student learns from: generated here, or an existing folder."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFormLayout, QHBoxLayout, QLineEdit, QRadioButton,
                               QSpinBox, QVBoxLayout, QWidget, QWizardPage)

from echoviewer.distill_runs import DATA_PRESETS, TRAIN_SHARE, duration, runs_dir
from echoviewer.gui.wizard.child import Probe
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import PathRow, StatusLine, Thumbnails, pixmap
from echoviewer.io.preview import first_frame

GB = 1e9


def _size(n_bytes: float) -> str:
    return f"{n_bytes / GB:.1f} GB" if n_bytes >= 0.1 * GB else f"{n_bytes / 1e6:.0f} MB"


class DataPage(QWizardPage):
    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.setTitle("2 · Synthetic data")
        self.setSubTitle("Simulated apical four-chamber cines the teacher labels and the student learns from. "
                         "A sixth of them are held out: 1/8 to validate, 1/8 to test.")
        layout = QVBoxLayout(self)
        self.generate = QRadioButton("Generate synthetic cines on this computer")
        self.existing = QRadioButton("Use an existing folder (EchoNet-Dynamic, EchoNet-Synthetic, or AVI files)")
        group = QButtonGroup(self)
        group.addButton(self.generate)
        group.addButton(self.existing)
        self.generate.setChecked(True)
        layout.addWidget(self.generate)

        form_box = QWidget()
        form = QFormLayout(form_box)
        form.setContentsMargins(24, 0, 0, 0)
        self.preset = QComboBox()
        for key, preset in DATA_PRESETS.items():
            self.preset.addItem(preset.label, key)
        self.preset.addItem("Custom", "custom")
        self.count = QSpinBox(minimum=12, maximum=20000, singleStep=20, value=state.n)
        self.seed = QSpinBox(minimum=0, maximum=2**31 - 1, value=state.seed)
        self.frames = QLineEdit(state.frames)
        self.frames.setToolTip("frames per cine: a count or a range such as 32-64")
        form.addRow("Preset", self.preset)
        form.addRow("Cines", self.count)
        form.addRow("Seed", self.seed)
        form.addRow("Frames per cine", self.frames)
        layout.addWidget(form_box)
        layout.addWidget(self.existing)
        self.folder = PathRow("Dataset folder", None)
        folder_row = QHBoxLayout()
        folder_row.setContentsMargins(24, 0, 0, 0)
        folder_row.addWidget(self.folder)
        layout.addLayout(folder_row)
        self.status = StatusLine()
        layout.addWidget(self.status)
        self.thumbnails = Thumbnails()
        layout.addWidget(self.thumbnails)
        layout.addStretch(1)

        self._thumb_dir = tempfile.TemporaryDirectory(prefix="echoviewer-thumbs-")
        self.probe = Probe(self)
        self.probe.done.connect(self._checked)
        self.probe.failed.connect(self._failed)
        self._debounce = QTimer(self, singleShot=True, interval=400, timeout=self.check)
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        for signal in (self.count.valueChanged, self.seed.valueChanged, self.frames.editingFinished,
                       group.buttonClicked, self.folder.changed):
            signal.connect(self._changed)
        self.form_box = form_box

    def initializePage(self) -> None:
        if self.state.data_info is None:
            self.check()

    def _preset_chosen(self) -> None:
        preset = DATA_PRESETS.get(self.preset.currentData())
        if preset is None:
            return
        for widget in (self.count, self.frames):
            widget.blockSignals(True)
        self.count.setValue(preset.n)
        self.frames.setText(preset.frames)
        for widget in (self.count, self.frames):
            widget.blockSignals(False)
        self.state.epochs, self.state.patience = preset.epochs, preset.patience
        self._changed()

    def _changed(self, *_: object) -> None:
        if self.sender() in (self.count, self.frames) and self.preset.currentData() != "custom":
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(self.preset.findData("custom"))
            self.preset.blockSignals(False)
        self.state.data_info = None
        self.status.busy("Checking …")
        self.completeChanged.emit()
        self._debounce.start()

    def check(self) -> None:
        """Ask a child process what this choice means: counts, splits, size on disk, thumbnails."""
        s = self.state
        s.data_mode = "generate" if self.generate.isChecked() else "folder"
        s.n, s.seed, s.frames, s.folder = self.count.value(), self.seed.value(), self.frames.text().strip(), \
            self.folder.path()
        self.form_box.setEnabled(s.data_mode == "generate")
        self.folder.setEnabled(s.data_mode == "folder")
        self.thumbnails.clear()
        if s.data_mode == "folder":
            if not s.folder:
                self.probe.cancel()
                self.status.error("choose a dataset folder with Browse…")
                return
            self.status.busy(f"Reading {s.folder} …")
            self.probe.start("data", s.folder)
        else:
            runs_dir().mkdir(parents=True, exist_ok=True)
            self.status.busy("Simulating a sample cine to measure time and disk space …")
            self.probe.start("generate", "--n", str(s.n), "--seed", str(s.seed), "--frames", s.frames,
                             "--out", str(runs_dir()), "--thumbnails", self._thumb_dir.name)

    def _checked(self, info: dict) -> None:
        s = self.state
        if s.data_mode == "folder":
            if s.teacher == "truth" and not info.get("truth"):
                self._failed(f"{s.folder} has no simulator masks, which the simulator's truth needs as teacher; "
                             "generate the data here or go back and choose a teacher model")
                return
            splits = info.get("splits", {})
            self.status.ok(f"{info['videos']} videos: {splits.get('TRAIN', 0)} to train, {splits.get('VAL', 0)} to "
                           f"validate, {splits.get('TEST', 0)} to test · {_size(info.get('bytes', 0))} · "
                           f"{'simulator masks present' if info.get('truth') else 'no ground truth (scored against the teacher only)'}")
            for path in info.get("examples", [])[:4]:
                frame = first_frame(path)
                if frame is not None:
                    self.thumbnails.add(pixmap(frame), Path(path).stem)
        else:
            train = int(s.n * TRAIN_SHARE)
            self.status.ok(f"{s.n} cines: about {train} to train, {(s.n - train) // 2} to validate and "
                           f"{s.n - train - (s.n - train) // 2} to test · about {_size(info['estimated_bytes'])} on "
                           f"disk ({_size(info['free_bytes'])} free) · about "
                           f"{duration(info['estimated_seconds'])} to generate")
            for index, path in enumerate(info.get("thumbnails", [])):
                image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
                if image is not None:
                    self.thumbnails.add(pixmap(image), f"cine {index + 1}")
        s.data_info = info
        self.completeChanged.emit()

    def _failed(self, message: str) -> None:
        self.state.data_info = None
        self.status.error(message)
        self.completeChanged.emit()

    def isComplete(self) -> bool:
        return self.state.data_info is not None and not self._debounce.isActive()

    def cleanupPage(self) -> None:
        self.probe.cancel()
