"""Page 2: the synthetic cines the student learns from: generated here (by the simulator, and in part
by a generator learned from labelled echoes), or an existing folder."""

from __future__ import annotations

import tempfile
from fractions import Fraction
from pathlib import Path
from typing import cast

import cv2
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (QButtonGroup, QComboBox, QFormLayout, QHBoxLayout, QLineEdit, QRadioButton,
                               QSpinBox, QVBoxLayout, QWidget)

from echoviewer.distill_runs import GENERATOR_LAYOUTS, duration, runs_dir
from echoviewer.gui.wizard.checked_page import CheckedPage
from echoviewer.gui.wizard.state import LEARN, WizardState
from echoviewer.gui.wizard.widgets import PathRow, Thumbnails, pixmap
from echoviewer.io.preview import first_frame
from echoviewer.run_contract import DATA_PRESETS, GENERATOR_TRAINING, expected_split, mean_frames, share

GB = 1e9
FOLDER = "folder"  # the "Frames drawn by" choice of a generator folder made before
GENERATOR_EPOCHS = GENERATOR_TRAINING["epochs"]
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
        self.setSubTitle("Synthetic apical cines, simulated or in part drawn by a generator learned from labelled "
                         "echoes, that the teacher labels and the student learns from. "
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
        self.drawn_by = QComboBox()
        self.drawn_by.addItem("The simulator", "")
        self.drawn_by.addItem("The simulator and a generator learned from my labelled images", LEARN)
        self.drawn_by.addItem("The simulator and a generator folder (python -m distill train-generator)", FOLDER)
        self.drawn_by.setToolTip("A generator learned from labelled echoes draws frames that look like real ones; "
                                 "no scanner recorded them, so the student still sees no real image")
        self.generator_folder = PathRow("Generator folder", None)
        self.share = QSpinBox(minimum=10, maximum=100, singleStep=10, value=state.generator_share, suffix=" %")
        self.share.setToolTip("the share of cines the generator draws; the simulator draws the rest")
        form.addRow("Frames drawn by", self.drawn_by)
        form.addRow("Generator folder", self.generator_folder)
        form.addRow("Generator's share", self.share)
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
                       group.buttonClicked, self.folder.changed, self.drawn_by.currentIndexChanged,
                       self.generator_folder.changed, self.share.valueChanged):
            signal.connect(self.changed)
        self.form_box = form_box

    def initializePage(self) -> None:
        # A generator learns from the labelled frames a teacher is trained on, with every CAMUS label.
        learnable = bool(self.state.labelled) and (self.state.teacher_info or {}).get("layout") in GENERATOR_LAYOUTS
        item = cast(QStandardItemModel, self.drawn_by.model()).item(self.drawn_by.findData(LEARN))
        item.setEnabled(learnable)
        item.setToolTip("" if learnable else "needs CAMUS-layout labelled images, chosen on the Teacher page")
        if self.drawn_by.currentData() == LEARN and not learnable:
            self.drawn_by.blockSignals(True)
            self.drawn_by.setCurrentIndex(self.drawn_by.findData(""))
            self.drawn_by.blockSignals(False)
            self.check()
        elif self.answer is None:
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
        drawn_by = self.drawn_by.currentData()
        s.generator = self.generator_folder.path() if drawn_by == FOLDER else drawn_by
        s.generator_share = self.share.value()
        self.form_box.setEnabled(s.data_mode == "generate")
        self.generator_folder.setEnabled(drawn_by == FOLDER)
        self.share.setEnabled(bool(drawn_by))
        self.folder.setEnabled(s.data_mode == "folder")
        self.thumbnails.clear()
        if s.data_mode == "folder":
            if not s.folder:
                self.refuse("choose a dataset folder with Browse…")
                return
            self.ask(f"Reading {s.folder} …", "data", s.folder)
        else:
            if drawn_by == FOLDER and not s.generator:
                self.refuse("choose the generator folder (made by python -m distill train-generator) with Browse…")
                return
            runs_dir().mkdir(parents=True, exist_ok=True)
            timed = ["--generator", s.generator, "--generator-share", str(s.generator_share / 100)] \
                if drawn_by == FOLDER else []
            self.ask("Making sample cines to measure time and disk space …", "generate", "--n", str(s.n),
                     "--seed", str(s.seed), "--frames", s.frames, "--out", str(runs_dir()),
                     "--thumbnails", self._thumb_dir.name, *timed)

    def _time_presets(self, seconds_per_frame: float) -> None:
        """Each preset's label says how long its cines take to generate on this machine, from the
        sample cines just timed (frames take about the same time whatever their number)."""
        for key, preset in DATA_PRESETS.items():
            index = self.preset.findData(key)
            self.preset.setItemText(index, f"{preset.label} · about "
                                           f"{duration(seconds_per_frame * preset.frame_count)} to generate here")

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
            drawn = {"": "", FOLDER: f" · {s.generator_share} % drawn by the generator",
                     LEARN: f" · first a generator learns from the labelled images ({GENERATOR_EPOCHS} epochs); "
                            f"it then draws {s.generator_share} % of the cines (the time counts simulated ones only)"}
            self._time_presets(info["estimated_seconds"] / max(s.n * (mean_frames(s.frames) or 1.0), 1.0))
            self.status.ok(f"{s.n} cines: about {split['TRAIN']} to train, {split['VAL']} to validate and "
                           f"{split['TEST']} to test · about {_size(info['estimated_bytes'])} on "
                           f"disk ({_size(info['free_bytes'])} free) · about "
                           f"{duration(info['estimated_seconds'])} to generate{drawn[self.drawn_by.currentData()]}")
            for index, path in enumerate(info.get("thumbnails", [])):
                image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
                if image is not None:
                    self.thumbnails.add(pixmap(image), f"cine {index + 1}")
        return None
