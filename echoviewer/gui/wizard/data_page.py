"""Page 2: the synthetic cines the student learns from: generated here, or an existing folder."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path

import cv2
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFormLayout, QHBoxLayout, QLineEdit, QRadioButton,
                               QSpinBox, QVBoxLayout, QWidget)

from echoviewer.distill_runs import duration, runs_dir
from echoviewer.gui.wizard.checked_page import CheckedPage
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import PathRow, Thumbnails, pixmap
from echoviewer.io.preview import first_frame
from echoviewer.run_contract import DATA_PRESETS, expected_split, share

GB = 1e9
SHARES_IN_WORDS = {Fraction(1, 2): "half", Fraction(1, 3): "a third", Fraction(1, 4): "a quarter"}  # others: 2/5


def _size(n_bytes: float) -> str:
    return f"{n_bytes / GB:.1f} GB" if n_bytes >= 0.1 * GB else f"{n_bytes / 1e6:.0f} MB"


def held_out_text() -> str:
    """How many cines the split keeps from training, in the contract's shares."""
    held = 1 - share("TRAIN")
    return (f"{SHARES_IN_WORDS.get(held, str(held)).capitalize()} of them are held out: {share('VAL')} to validate, "
            f"{share('TEST')} to test.")


class DataPage(CheckedPage):
    ANSWER = "data_info"

    def __init__(self, state: WizardState) -> None:
        super().__init__(state, debounce_ms=400)
        self.setTitle("2 · Synthetic data")
        self.setSubTitle("Simulated apical four-chamber cines the teacher labels and the student learns from. "
                         + held_out_text())
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
        layout.addWidget(self.status)
        self.thumbnails = Thumbnails()
        layout.addWidget(self.thumbnails)
        layout.addStretch(1)

        self._thumb_dir = tempfile.TemporaryDirectory(prefix="echoviewer-thumbs-")
        self.preset.currentIndexChanged.connect(self._preset_chosen)
        for signal in (self.count.valueChanged, self.seed.valueChanged, self.frames.editingFinished,
                       group.buttonClicked, self.folder.changed):
            signal.connect(self.changed)
        self.form_box = form_box

    def initializePage(self) -> None:
        if self.answer is None:
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
        self.changed()

    def changed(self, *_: object) -> None:
        if self.sender() in (self.count, self.frames) and self.preset.currentData() != "custom":
            self.preset.blockSignals(True)
            self.preset.setCurrentIndex(self.preset.findData("custom"))
            self.preset.blockSignals(False)
        super().changed()

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
                self.refuse("choose a dataset folder with Browse…")
                return
            self.ask(f"Reading {s.folder} …", "data", s.folder)
        else:
            runs_dir().mkdir(parents=True, exist_ok=True)
            self.ask("Simulating a sample cine to measure time and disk space …", "generate", "--n", str(s.n),
                     "--seed", str(s.seed), "--frames", s.frames, "--out", str(runs_dir()),
                     "--thumbnails", self._thumb_dir.name)

    def show_answer(self, info: dict) -> str | None:
        s = self.state
        if s.data_mode == "folder":
            if s.teacher == "truth" and not info.get("truth"):
                return (f"{s.folder} has no simulator masks, which the simulator's truth needs as teacher; "
                        "generate the data here or go back and choose a teacher model")
            splits = info.get("splits", {})
            self.status.ok(f"{info['videos']} videos: {splits.get('TRAIN', 0)} to train, {splits.get('VAL', 0)} to "
                           f"validate, {splits.get('TEST', 0)} to test · {_size(info.get('bytes', 0))} · "
                           f"{'simulator masks present' if info.get('truth') else 'no ground truth (scored against the teacher only)'}")
            for path in info.get("examples", [])[:4]:
                frame = first_frame(path)
                if frame is not None:
                    self.thumbnails.add(pixmap(frame), Path(path).stem)
        else:
            split = expected_split(s.n)
            self.status.ok(f"{s.n} cines: about {split['TRAIN']} to train, {split['VAL']} to validate and "
                           f"{split['TEST']} to test · about {_size(info['estimated_bytes'])} on "
                           f"disk ({_size(info['free_bytes'])} free) · about "
                           f"{duration(info['estimated_seconds'])} to generate")
            for index, path in enumerate(info.get("thumbnails", [])):
                image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
                if image is not None:
                    self.thumbnails.add(pixmap(image), f"cine {index + 1}")
        return None
