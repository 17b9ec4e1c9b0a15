"""Page 4: the run: (the teacher's training →) (the generator's →) generation → targets → training →
evaluation → export in a child process.

The page reads the pipeline's JSON lines: a progress bar and an ETA per stage, the loss curves, and
every other line in the log. Cancel stops the child within a training step; the viewer's model is
never touched before the last page. Resume runs the same folder again; finished stages are skipped.
"Train the student on another machine" stops the run before training and shows the command to run
on a GPU box and the folder to copy back; Resume, once it is back, goes on from there.
"""

from __future__ import annotations

import time

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QGridLayout, QHBoxLayout, QLabel, QPlainTextEdit, QProgressBar,
                               QPushButton, QSplitter, QVBoxLayout, QWizardPage)

from echoviewer.distill_runs import Run, duration, new_run_folder
from echoviewer.gui.wizard.child import DistillProcess
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.widgets import StatusLine
from echoviewer.run_contract import (DONE, EPOCH, GENERATOR_STAGE, HANDED_OFF, HANDOFF, PIPELINE, SPLITS, STAGE,
                                     STAGES, TEACHER_STAGE, load_stage, teacher_load_stage)

TITLES = {TEACHER_STAGE: "Train teacher", GENERATOR_STAGE: "Learn generator", "generate": "Generate cines",
          "targets": "Teacher labels",
          "train": "Train student", "evaluate": "Evaluate", "export": "Export"}
LOADING = {load_stage(split): split.lower() for split in SPLITS}  # train reading its videos
TEACHER_LOADING = {teacher_load_stage(part): part for part in ("train", "validation")}  # train-teacher's cases
OPTIONAL = (TEACHER_STAGE, GENERATOR_STAGE, "generate", "targets")  # stages a plan may leave out


class StageRow:
    def __init__(self, grid: QGridLayout, row: int, title: str) -> None:
        self.title = QLabel(title)
        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.info = QLabel("waiting")
        self.info.setMinimumWidth(220)
        for column, widget in enumerate((self.title, self.bar, self.info)):
            grid.addWidget(widget, row, column)

        self.running = False

    def set(self, done: int, total: int, text: str) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, max(total, 1)))
        self.info.setText(text)
        self.running = True

    def busy(self, text: str) -> None:
        self.bar.setRange(0, 0)
        self.info.setText(text)
        self.running = True

    def finish(self, text: str = "done", done: bool = True) -> None:
        """The stage is over here: done (a full bar), or left to another machine (an empty one)."""
        self.set(int(done), 1, text)
        self.running = False

    def stop(self) -> None:
        """The run ended inside this stage: its time left means nothing any more."""
        if self.running:
            done, total = self.bar.value(), self.bar.maximum()
            if total == 0:  # a busy bar: nothing counted yet
                self.bar.setRange(0, 1)
                done, total = 0, 1
            self.bar.setValue(max(done, 0))
            self.info.setText(f"stopped at {max(done, 0)} of {total}" if total > 1 else "stopped")
            self.running = False


class RunPage(QWizardPage):
    state_changed = Signal()  # running or not

    def __init__(self, state: WizardState) -> None:
        super().__init__()
        self.state = state
        self.setTitle("4 · Run")
        self.setSubTitle("Training runs in its own process. Cancel keeps the viewer's model; Resume continues "
                         "from the last finished epoch, also after the app was closed.")
        layout = QVBoxLayout(self)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        self.rows = {name: StageRow(grid, i, TITLES[name]) for i, name in enumerate(STAGES)}
        layout.addLayout(grid)

        self.plot = pg.PlotWidget()
        self.plot.setBackground("w")
        self.plot.setLabel("bottom", "epoch")
        self.plot.setLabel("left", "loss (BCE + Dice)")
        self.plot.addLegend(offset=(-10, 10))
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.train_curve = self.plot.plot([], [], pen=pg.mkPen("#1f77b4", width=1.5), name="training (running mean)")
        self.val_curve = self.plot.plot([], [], pen=pg.mkPen("#d62728", width=2), symbol="o", symbolSize=6,
                                        symbolBrush="#d62728", name="validation")
        self.log = QPlainTextEdit(readOnly=True)
        self.log.setMaximumBlockCount(5000)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.plot)
        splitter.addWidget(self.log)
        splitter.setSizes([500, 400])
        layout.addWidget(splitter, 1)

        bottom = QHBoxLayout()
        self.status = StatusLine()
        self.cancel_button = QPushButton("Cancel run")
        self.resume_button = QPushButton("Resume")
        self.cancel_button.clicked.connect(self.cancel)
        self.resume_button.clicked.connect(self.resume)
        self.elsewhere = QCheckBox("Train the student on another machine")
        self.elsewhere.setToolTip("Stop before training and show the command to run on a GPU machine and the "
                                  "folder to copy back; Resume once it is back")
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.elsewhere)
        bottom.addWidget(self.cancel_button)
        bottom.addWidget(self.resume_button)
        layout.addLayout(bottom)

        self.child = DistillProcess(self)
        self.child.message.connect(self._message)
        self.child.log.connect(self._log)
        self.child.finished.connect(self._finished)
        self._clock = QTimer(self, interval=1000)
        self._clock.timeout.connect(self._tick)
        self._stage, self._started, self._evaluations = "", 0.0, 0
        self._teacher_dice: float | None = None  # the teacher's best validation Dice so far
        self._train_x: list[float] = []
        self._train_y: list[float] = []
        self._val_x: list[float] = []
        self._val_y: list[float] = []
        self._buttons()

    # ---- starting and stopping ---------------------------------------------------------------
    def initializePage(self) -> None:
        if self.state.run is None:
            self.state.run = Run(new_run_folder(self.state.name), {"name": self.state.name})
        self.resume()

    def resume(self) -> None:
        """Start the run, or continue it: once its plan is written, the folder alone says what to do."""
        run = self.state.run
        assert run is not None  # initializePage makes it; Resume is enabled only with one
        self._show_history(run)
        started = run.files.plan.is_file()
        self._start("--run", str(run.folder), *([] if started else self.state.pipeline_arguments()),
                    *(["--train-elsewhere"] if self.elsewhere.isChecked() else []))

    def _start(self, *arguments: str) -> None:
        self._stage, self._evaluations, self._started, self._teacher_dice = "", 0, time.monotonic(), None
        for row in self.rows.values():
            row.set(0, 1, "waiting")
        self.status.busy("Starting …")
        self._log(f"— {time.strftime('%H:%M:%S')} start: python -m distill pipeline {' '.join(arguments)}")
        self.child.start("pipeline", *arguments, "--progress", "json", "--stop-on-eof")
        self._clock.start()
        self._buttons()

    def cancel(self) -> None:
        if self.child.running():
            self.status.busy("Stopping at the next training step …")
            self.child.stop()

    def running(self) -> bool:
        return self.child.running()

    def _buttons(self) -> None:
        running = self.child.running()
        finished = self.state.run is not None and self.state.run.result is not None
        self.cancel_button.setEnabled(running)
        self.resume_button.setEnabled(not running and not finished and self.state.run is not None)
        self.completeChanged.emit()
        self.state_changed.emit()

    # ---- what the child says -----------------------------------------------------------------
    def _message(self, line: dict) -> None:
        stage = line.get("stage")
        if stage == PIPELINE:
            if line.get("event") == STAGE:
                self._enter(line["name"])
            elif line.get("event") == DONE:
                self.rows[STAGES[-1]].finish()
            elif line.get("event") == HANDOFF:
                self._log(f"— train elsewhere: copy {', '.join(line['copy'])} from {line['folder']} to the other "
                          f"machine, keeping the layout, and run there:\n    {line['command']}\n"
                          f"  (on N GPUs: {line['torchrun']})\n"
                          f"  then copy its {line['back']}/ folder back into {line['folder']} and press Resume")
            return
        eta = line.get("eta_s")
        if stage == TEACHER_STAGE:
            self._teacher_line(line)
        elif stage in TEACHER_LOADING:
            self.rows[TEACHER_STAGE].set(line.get("done", 0), line.get("total", 1),
                                         f"reading the {TEACHER_LOADING[stage]} images")
        elif stage == GENERATOR_STAGE and "done" in line:
            mae = "" if line.get("val_mae") is None else f" · held-out grey error {255 * line['val_mae']:.1f}"
            self.rows[stage].set(line["done"], line["total"], f"epoch {line['done']} of {line['total']}{mae}"
                                 f" · {duration(eta)} left")
        elif stage in ("generate", "targets", "evaluate") and "done" in line:
            if stage == "evaluate" and line["done"] == 0:
                self._evaluations += 1
            which = {1: "the new student", 2: "the current student"}.get(self._evaluations, "")
            self.rows[stage].set(line["done"], line["total"], f"{line['done']} of {line['total']}"
                                 + (f" · {which}" if stage == "evaluate" else "") + f" · {duration(eta)} left")
        elif stage in LOADING:
            self.rows["train"].set(line.get("done", 0), line.get("total", 1), f"reading {LOADING[stage]} videos")
        elif stage == "train" and line.get("event") == EPOCH:
            self._val_x.append(float(line["epoch"]))
            self._val_y.append(float(line["val_loss"]))
            self.val_curve.setData(self._val_x, self._val_y)
        elif stage == "train" and "done" in line and line.get("total"):
            assert self.state.run is not None  # the child runs only for a run
            epochs = self.state.run.plan.get("student", {}).get("epochs") or self.state.epochs
            steps = line["total"] / max(epochs, 1)
            self._train_x.append(line["done"] / steps)
            self._train_y.append(line.get("loss", float("nan")))
            self.train_curve.setData(self._train_x, self._train_y)
            self.rows["train"].set(line["done"], line["total"],
                                   f"epoch {line.get('epoch', '?')} of {epochs} · {duration(eta)} left at most")

    def _teacher_line(self, line: dict) -> None:
        """train-teacher's steps (a bar, the validation Dice so far, the time left) and its result (the log)."""
        if line.get("event") == EPOCH:
            self._teacher_dice = float(line["best_val_dice"])
        elif line.get("event") == DONE:
            scored = line.get("validation_dice_mean")
            self._log(f"teacher: {line.get('steps')} steps, best validation Dice {line.get('best_val_dice', 0):.3f} "
                      "(model view)" + ("" if scored is None else f", {scored:.3f} through the viewer's analysis")
                      + f"; {line.get('model')}")
        elif "done" in line:
            dice = "" if self._teacher_dice is None else f" · validation Dice {self._teacher_dice:.2f}"
            self.rows[TEACHER_STAGE].set(line["done"], line["total"], f"step {line['done']} of {line['total']}{dice}"
                                         f" · {duration(line.get('eta_s'))} left at most")

    def _enter(self, name: str) -> None:
        if self._stage and self._stage in self.rows:
            self.rows[self._stage].finish()
        self._stage = name
        if name in self.rows:
            self.rows[name].busy("starting …")
        for earlier in STAGES[:STAGES.index(name)] if name in STAGES else ():  # stages the plan leaves out
            if self.rows[earlier].info.text() == "waiting":
                self.rows[earlier].finish("not needed" if earlier in OPTIONAL else "done")

    def _log(self, line: str) -> None:
        self.log.appendPlainText(line)

    def _tick(self) -> None:
        if self.child.running() and self.status.state == "busy":
            self.status.busy(f"Running: {TITLES.get(self._stage, 'starting')} · "
                             f"{duration(time.monotonic() - self._started)} so far")

    def _finished(self, code: int, error: str) -> None:
        self._clock.stop()
        elapsed = duration(time.monotonic() - self._started)
        assert self.state.run is not None  # the child ran for it
        if code == 0 and self.state.run.result is not None:
            self.status.ok(f"Finished in {elapsed}. Next: compare the new student with the current one.")
        elif code == HANDED_OFF:
            self.status.ok("Training handed off: run the command in the log on the other machine, copy its "
                           "folder back, then Resume.")
        elif code == 130:
            self.status.error("Cancelled. The viewer's model is unchanged; Resume continues from the last "
                              "finished epoch.")
        else:
            self.status.error(f"The run stopped: {error or f'exit code {code}'}. The viewer's model is unchanged; "
                              "fix the cause and Resume.")
        if code != 0 or self.state.run.result is None:
            for row in self.rows.values():
                row.stop()
        if code == HANDED_OFF:
            self.rows["train"].finish("on another machine", done=False)
        self._log(f"— {time.strftime('%H:%M:%S')} the process ended with code {code}")
        self._buttons()

    def _show_history(self, run: Run) -> None:
        history = run.history
        self._train_x = [float(h["epoch"]) for h in history]
        self._train_y = [float(h["loss"]) for h in history]
        self._val_x = [float(h["epoch"]) for h in history]
        self._val_y = [float(h["val_loss"]) for h in history]
        self.train_curve.setData(self._train_x, self._train_y)
        self.val_curve.setData(self._val_x, self._val_y)

    def isComplete(self) -> bool:
        return not self.child.running() and self.state.run is not None and self.state.run.result is not None
