"""The distillation wizard, driven like a user drives it: real child processes, a tiny preset.

A handful of 8-frame cines and one or a few epochs keep a whole run to seconds; everything else
(probes, the pipeline, evaluation, export, installing) is the real thing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from PySide6.QtCore import QProcess, QThreadPool
from PySide6.QtWidgets import QMessageBox, QWizard

from distill.cli import build_parser
from distill.datasets.echonet import hash_split
from echoviewer.analysis.models import DEFAULT_MODEL
from echoviewer.analysis.onnx_model import file_sha256, sidecar_path
from echoviewer.distill_runs import duration, list_runs, read_run
from echoviewer.gui.app import application
from echoviewer.gui.main_window import MainWindow
from echoviewer.gui.wizard.data_page import DataPage, held_out_text
from echoviewer.gui.wizard.run_page import RunPage
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.wizard import DATA, EVALUATE, RUN, STUDENT, TEACHER, USE, DistillWizard
from echoviewer.resources import SAMPLE_CINE
from echoviewer.run_contract import (DATA_PRESETS, GENERATOR_STAGE, STAGES, TEACHER_STAGE, TRAIN_SETTINGS, TRAINING,
                                     mean_frames, read_line, share)
from echoviewer.user_data import ActiveStudent, user_models_dir
from tests.helpers import moving_frames
from tests.test_distill_pipeline import finished_run

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

PROBE_MS = 120_000
RUN_MS = 300_000
SHOTS = os.environ.get("ECHOVIEWER_WIZARD_SHOTS")  # a folder: save a screenshot of every page there


@pytest.fixture(scope="module")
def app(qapp):
    return application()


@pytest.fixture
def window(app, qtbot):
    window = MainWindow()
    qtbot.addWidget(window)
    window.resize(1300, 820)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.close()
    assert QThreadPool.globalInstance().waitForDone(30_000)


def shot(widget, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        widget.grab().save(str(Path(SHOTS) / f"{name}.png"))


def open_wizard(qtbot, window: MainWindow) -> DistillWizard:
    window.actions["distill"].trigger()
    wizard = window.wizard
    assert isinstance(wizard, DistillWizard) and wizard.isVisible()
    return wizard


def next_button(wizard: QWizard):
    button = wizard.button(QWizard.WizardButton.CommitButton)
    return button if button.isVisible() else wizard.button(QWizard.WizardButton.NextButton)


def wait_complete(qtbot, wizard: QWizard, timeout: int = PROBE_MS) -> None:
    qtbot.waitUntil(lambda: wizard.currentPage().isComplete(), timeout=timeout)
    assert next_button(wizard).isEnabled() or wizard.currentId() == USE


def go_next(qtbot, wizard: QWizard, expected: int) -> None:
    wait_complete(qtbot, wizard)
    next_button(wizard).click()
    assert wizard.currentId() == expected


def plain_avis(folder: Path) -> Path:
    """16 short AVIs without simulator masks: a folder the truth teacher cannot use."""
    folder.mkdir()
    for i in range(16):
        writer = cv2.VideoWriter(str(folder / f"v{i:02d}.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30, (112, 112), False)
        for frame in moving_frames(8, 112, 112):
            writer.write(frame)
        writer.release()
    return folder


def choose_folder(qtbot, page, folder: Path, outcome: str) -> None:
    """Data page: use an existing folder; wait until its check says ``outcome`` (ok or error)."""
    page.existing.click()
    page.folder.set_path(str(folder))
    qtbot.waitUntil(lambda: page.status.state == outcome, timeout=PROBE_MS)


def tiny_data(qtbot, wizard: DistillWizard) -> None:
    """Data page: 12 cines of 8 frames."""
    page = wizard.currentPage()
    page.count.setValue(12)
    page.frames.setText("8")
    page.frames.editingFinished.emit()
    qtbot.waitUntil(lambda: page.status.state == "ok", timeout=PROBE_MS)
    assert "12 cines" in page.status.text()
    for key, preset in DATA_PRESETS.items():  # timed from the sample cines just made, not a constant
        text = page.preset.itemText(page.preset.findData(key))
        assert text.startswith(f"{preset.label} · about ") and text.endswith(" to generate here"), text


def to_run_page(qtbot, wizard: DistillWizard, epochs: int) -> None:
    """Bundled teacher, tiny generated data, the fast student for ``epochs`` epochs, started."""
    wait_complete(qtbot, wizard)
    assert "2,483,969 parameters" in wizard.currentPage().status.text()
    shot(wizard, "1-teacher")
    go_next(qtbot, wizard, DATA)
    tiny_data(qtbot, wizard)
    shot(wizard, "2-data")
    go_next(qtbot, wizard, STUDENT)
    page = wizard.currentPage()
    page.epochs.setValue(epochs)
    qtbot.waitUntil(lambda: page.isComplete() and page.status.state == "ok", timeout=PROBE_MS)
    assert "111,361 parameters" in page.status.text() and "training about" in page.status.text()
    shot(wizard, "3-student")
    go_next(qtbot, wizard, RUN)


@pytest.mark.slow
def test_wizard_end_to_end_makes_a_student_the_viewer_uses(qtbot, window):
    window.open_path(SAMPLE_CINE)
    qtbot.waitUntil(lambda: window.controller.study is not None and not window.controller.working, timeout=60_000)
    before = window.controller.study
    wizard = open_wizard(qtbot, window)
    to_run_page(qtbot, wizard, epochs=1)
    run_page = wizard.currentPage()
    qtbot.waitUntil(run_page.isComplete, timeout=RUN_MS)
    shot(wizard, "4-run")
    assert "Finished" in run_page.status.text()
    assert all(row.bar.value() == row.bar.maximum() for row in run_page.rows.values())
    assert len(run_page._val_x) == 1 and len(run_page._train_x) >= 1  # the loss curves were drawn live
    val_x, _ = run_page.val_curve.getData()
    train_x, _ = run_page.train_curve.getData()
    assert val_x is not None and len(val_x) == 1 and train_x is not None and len(train_x) >= 1
    # no teacher to train, no generator to learn
    assert [row.info.text() for row in run_page.rows.values()] == ["not needed"] * 2 + ["done"] * 5
    assert json.loads((wizard.state.run.folder / "plan.json").read_text())["name"] == wizard.state.name
    assert "python -m distill" in run_page.log.toPlainText()
    assert window.controller.model_spec == DEFAULT_MODEL  # nothing changes in the viewer before the last page

    next_button(wizard).click()
    page = wizard.currentPage()
    assert wizard.currentId() == EVALUATE
    qtbot.waitUntil(lambda: page.status.state != "busy", timeout=PROBE_MS)
    assert page.status.state == "ok", page.status.text()
    cells = {page.table.item(r, 0).text(): [page.table.item(r, c).text() for c in (1, 2, 3)]
             for r in range(page.table.rowCount())}
    new_dice, current_dice, _ = cells["Dice vs teacher (masks > 80)"]
    # the current (default) student is the CAMUS chain's, which draws the expert's contour inside the
    # simulator teacher's: it agrees with that teacher less than with its own (0.81 when measured)
    assert 0 <= float(new_dice) <= 1 and 0.7 < float(current_dice) < 1
    assert float(cells["Dice vs truth (synthetic)"][2]) > 0.85      # the teacher against the simulator
    assert cells["parameters"] == ["111,361", "248,177", "2,483,969"]  # the new fast student, the current wide one
    captions = [label.toolTip() for label in page.overlays.findChildren(type(page.heading)) if label.toolTip()]
    assert any(c.startswith("open cine") for c in captions) and len(captions) >= 2
    shot(wizard, "5-evaluate")

    next_button(wizard).click()
    page = wizard.currentPage()
    assert wizard.currentId() == USE
    page.name.setText("my tiny student")
    page.use_button.click()
    assert page.status.state == "ok", page.status.text()
    assert not page.use_button.isEnabled()  # one student per run: a second click would install a copy
    shot(wizard, "6-use")
    cards = list(user_models_dir().glob("*.json"))
    assert len(cards) == 1
    card = json.loads(cards[0].read_text())
    model = cards[0].with_suffix(".onnx")
    assert card["name"] == "my tiny student" and card["sha256"] == file_sha256(model)
    assert card["metrics"]["summary"]["dice_vs_teacher"] == pytest.approx(float(new_dice), abs=1e-3)
    # the viewer switched to it and re-ran the open cine with it
    qtbot.waitUntil(lambda: not window.controller.working and window.controller.study is not before, timeout=60_000)
    assert window.controller.model_spec == str(model.resolve())
    assert window.controller.study.analysis.segmentation.model.sha256 == card["sha256"]
    assert ActiveStudent().get() == str(model.resolve()) and ActiveStudent().previous() == DEFAULT_MODEL
    assert "active student" in window.model_box.currentText() and "my tiny student" in window.model_box.currentText()
    wizard.accept()

    # the previous student stays selectable and can be restored
    window._fill_model_menu()
    assert DEFAULT_MODEL in [window.model_box.itemData(i) for i in range(window.model_box.count())]
    assert window.actions["restore_student"].isEnabled()
    window.actions["restore_student"].trigger()
    qtbot.waitUntil(lambda: not window.controller.working, timeout=60_000)
    assert window.controller.model_spec == DEFAULT_MODEL and ActiveStudent().get() == DEFAULT_MODEL
    # the label marks the active student, not whichever model the viewer shows
    window.controller.set_model(str(model.resolve()))
    qtbot.waitUntil(lambda: not window.controller.working and window.controller.model_spec != DEFAULT_MODEL, timeout=60_000)
    labels = {window.model_box.itemData(i): window.model_box.itemText(i) for i in range(window.model_box.count())}
    assert "active student" in labels[DEFAULT_MODEL] and "active student" not in labels[str(model.resolve())]


@pytest.mark.slow
def test_cancel_keeps_the_model_and_resume_finishes_also_after_closing(qtbot, window):
    wizard = open_wizard(qtbot, window)
    to_run_page(qtbot, wizard, epochs=4)
    run_page = wizard.currentPage()
    assert not run_page.resume_button.isEnabled()
    assert wizard.button(QWizard.WizardButton.CancelButton).text() == "Stop and close"
    qtbot.waitUntil(lambda: bool(run_page._val_x), timeout=RUN_MS)  # a first epoch has finished
    assert run_page.cancel_button.isEnabled()
    run_page.cancel_button.click()
    qtbot.waitUntil(lambda: not run_page.running(), timeout=60_000)
    assert "Cancelled" in run_page.status.text()
    infos = {name: row.info.text() for name, row in run_page.rows.items()}
    assert not any(" left" in text for text in infos.values()), infos  # no time left on a stopped run
    assert infos["train"].startswith("stopped")
    assert "stopped; run the same command again" in run_page.log.toPlainText()  # SIGTERM, not a kill
    assert wizard.button(QWizard.WizardButton.CancelButton).text() == "Cancel"
    assert run_page.resume_button.isEnabled() and not next_button(wizard).isEnabled()
    assert window.controller.model_spec == DEFAULT_MODEL and ActiveStudent().get() == DEFAULT_MODEL
    assert not list(user_models_dir().glob("*.onnx"))
    run = wizard.state.run
    assert run.result is None and (run.folder / "plan.json").is_file()

    # the app was closed: a new wizard offers the interrupted run and resumes it
    wizard.reject()
    qtbot.waitUntil(lambda: window.wizard is None)
    wizard = open_wizard(qtbot, window)
    teacher = wizard.currentPage()
    assert wizard.currentId() == TEACHER and teacher.resume_box.isVisibleTo(wizard)
    assert teacher.resume_list.count() == 1 and Path(teacher.resume_list.currentData()) == run.folder
    teacher.resume_button.click()
    assert wizard.currentId() == RUN
    run_page = wizard.currentPage()
    assert run_page._val_x == [float(h["epoch"]) for h in run.history] != []  # the epochs done so far, at once
    qtbot.waitUntil(run_page.isComplete, timeout=RUN_MS)
    assert "Finished" in run_page.status.text()
    log = run_page.log.toPlainText()
    assert "skip (done): python -m distill generate" in log  # the data was not made again
    summary = json.loads((run.folder / "train" / "summary.json").read_text())
    assert summary["epochs"] >= 1 and len(json.loads((run.folder / "train" / "history.json").read_text())) >= 1
    assert list_runs(finished=False) == [] and len(list_runs(finished=True)) == 1
    assert window.controller.model_spec == DEFAULT_MODEL
    wizard.reject()
    qtbot.waitUntil(lambda: window.wizard is None)
    wizard = open_wizard(qtbot, window)
    assert not wizard.currentPage().resume_box.isVisibleTo(wizard)  # a finished run is not offered again
    wizard.reject()


@pytest.mark.slow
def test_a_teacher_that_fails_its_check_stops_the_first_page(qtbot, window, tmp_path):
    broken = tmp_path / "hospital.onnx"
    broken.write_bytes(np.random.default_rng(0).bytes(4096))
    sidecar_path(broken).write_text(json.dumps({"name": "broken"}))
    wizard = open_wizard(qtbot, window)
    page = wizard.currentPage()
    wait_complete(qtbot, wizard)
    page.buttons["onnx"].click()
    assert not page.isComplete() and "Browse" in page.status.text()  # no file chosen yet
    page.paths["onnx"].set_path(str(broken))
    qtbot.waitUntil(lambda: page.status.state == "error", timeout=PROBE_MS)
    assert "hospital" in page.status.text() and not page.isComplete()
    assert not next_button(wizard).isEnabled()
    wizard.reject()


@pytest.mark.slow
def test_bad_data_choices_are_stopped_on_the_data_page(qtbot, window, tmp_path):
    empty = tmp_path / "nothing here"
    empty.mkdir()
    (empty / "notes.txt").write_text("no videos")
    wizard = open_wizard(qtbot, window)
    go_next(qtbot, wizard, DATA)
    page = wizard.currentPage()
    choose_folder(qtbot, page, empty, "error")
    assert "no .avi videos" in page.status.text() and not next_button(wizard).isEnabled()
    page.generate.click()
    page.frames.setText("many")
    page.frames.editingFinished.emit()
    qtbot.waitUntil(lambda: page.status.state == "error", timeout=PROBE_MS)
    assert "frames" in page.status.text() and not next_button(wizard).isEnabled()
    wizard.reject()


@pytest.mark.slow
def test_the_simulator_truth_needs_data_with_masks(qtbot, window, tmp_path):
    plain = plain_avis(tmp_path / "avis")
    wizard = open_wizard(qtbot, window)
    page = wizard.currentPage()
    wait_complete(qtbot, wizard)
    page.buttons["truth"].click()
    qtbot.waitUntil(lambda: page.status.state == "ok", timeout=PROBE_MS)
    assert "generated data" in page.status.text()
    go_next(qtbot, wizard, DATA)
    data = wizard.currentPage()
    choose_folder(qtbot, data, plain, "error")
    assert "simulator masks" in data.status.text() and not next_button(wizard).isEnabled()
    wizard.reject()


@pytest.mark.slow
def test_a_run_stops_resumably_when_the_viewer_dies_or_is_closed(qtbot, window, monkeypatch):
    wizard = open_wizard(qtbot, window)
    to_run_page(qtbot, wizard, epochs=4)
    run_page = wizard.currentPage()
    qtbot.waitUntil(lambda: bool(run_page._train_x), timeout=RUN_MS)  # training has started
    run_page.child.process.closeWriteChannel()  # what a viewer that dies does: --stop-on-eof stops the child
    qtbot.waitUntil(lambda: not run_page.running(), timeout=60_000)
    assert "Cancelled" in run_page.status.text() and wizard.state.run.result is None
    run_page.resume_button.click()
    assert run_page.running()
    qtbot.waitUntil(lambda: run_page._stage == "train", timeout=RUN_MS)  # resumed, training again
    process = run_page.child.process
    asked = []

    def answer(reply):
        def question(*args, **kwargs):
            asked.append(args[1])
            return reply
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    window.close()  # quitting during a run asks first; No: nothing stops
    assert asked == ["A distillation run is going on"] and window.isVisible() and run_page.running()
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    window.close()  # Yes: the viewer closes the wizard, which stops the child before it goes
    assert process.state() == QProcess.ProcessState.NotRunning
    assert len(list_runs(finished=False)) == 1 and ActiveStudent().get() == DEFAULT_MODEL


@pytest.mark.slow
def test_truth_chosen_after_the_data_page_is_checked_again(qtbot, window, tmp_path):
    plain = plain_avis(tmp_path / "avis")
    wizard = open_wizard(qtbot, window)
    go_next(qtbot, wizard, DATA)
    data = wizard.currentPage()
    choose_folder(qtbot, data, plain, "ok")
    wizard.back()
    teacher = wizard.currentPage()
    teacher.buttons["truth"].click()
    qtbot.waitUntil(lambda: teacher.status.state == "ok", timeout=PROBE_MS)
    go_next(qtbot, wizard, DATA)
    qtbot.waitUntil(lambda: data.status.state != "busy", timeout=PROBE_MS)
    assert "simulator masks" in data.status.text() and not next_button(wizard).isEnabled()
    wizard.reject()


# --- the run contract, as the pages read it ------------------------------------------------------

def test_the_data_page_says_the_held_out_share_the_split_keeps(app) -> None:
    text = held_out_text()
    assert f"{share('VAL')} to validate, {share('TEST')} to test" in text
    held = 1 - share("TRAIN")
    assert text.startswith("A quarter") == (held == 1 / 4)
    names = [f"cine_{i}" for i in range(8000)]
    assert abs(sum(hash_split(name) != "TRAIN" for name in names) / len(names) - held) < 0.02
    assert text in DataPage(WizardState()).subTitle()


def test_each_preset_is_timed_at_the_rate_measured_here(app) -> None:
    page = DataPage(WizardState())
    assert mean_frames("32-48") == 40 and mean_frames("48") == 48 and mean_frames("many") is None
    page._time_presets(0.01)  # 10 ms a frame, as the sample cines measured
    for key, preset in DATA_PRESETS.items():
        seconds = 0.01 * preset.n * mean_frames(preset.frames)
        assert page.preset.itemText(page.preset.findData(key)) == (
            f"{preset.label} · about {duration(seconds)} to generate here")
    before = page.preset.itemText(page.preset.findData("standard"))
    page._time_presets(0.05)  # a slower machine: longer
    assert page.preset.itemText(page.preset.findData("standard")) != before


def test_the_wizards_pipeline_options_are_the_plans_student_settings(tmp_path) -> None:
    state = WizardState(name="a student")
    args = build_parser("pipeline").parse_args(["pipeline", "--run", str(tmp_path), *state.pipeline_arguments()])
    student = {key: getattr(args, key) for key in TRAIN_SETTINGS if getattr(args, key) is not None}
    quick = DATA_PRESETS["quick"]
    assert student == {"model": state.model, "epochs": quick.epochs, "patience": quick.patience,
                       "batch": state.batch, "clip": state.clip, "seed": state.seed, **TRAINING}


@pytest.mark.slow
def test_the_run_page_reads_a_real_runs_lines(app, tmp_path_factory) -> None:
    folder, made = finished_run(tmp_path_factory)
    page = RunPage(WizardState(run=read_run(folder)))
    for text in made.stdout.splitlines():
        if (line := read_line(text)) is not None:
            page._message(line)
    assert list(page.rows) == list(STAGES)
    assert all(row.bar.value() == row.bar.maximum() for row in page.rows.values())
    assert [row.info.text() for row in page.rows.values()] == ["not needed"] * 2 + ["done"] * (len(STAGES) - 2)
    # a run with a teacher to train: tests/test_wizard_teacher.py; with a generator to learn: test_wizard_generator.py
    assert STAGES[:2] == (TEACHER_STAGE, GENERATOR_STAGE)
    assert page._val_x == [1.0] and page._train_x and page._train_x[-1] == 1.0


@pytest.mark.slow
def test_the_run_page_shows_a_training_handed_to_another_machine(app, tmp_path_factory, tmp_path) -> None:
    import shutil

    from tests.test_distill_pipeline import pipeline

    folder, _ = finished_run(tmp_path_factory)
    run = tmp_path / "run"
    shutil.copytree(folder, run)
    for name in ("train", "evaluation", "evaluation-current"):
        shutil.rmtree(run / name)
    for name in ("candidate.onnx", "candidate.json", "student.onnx", "student.json", "result.json"):
        (run / name).unlink()
    page = RunPage(WizardState(run=read_run(run)))
    page.elsewhere.setChecked(True)
    handed = pipeline("--run", str(run), "--progress", "json", "--train-elsewhere")
    for text in handed.stdout.splitlines():
        if (line := read_line(text)) is not None:
            page._message(line)
    page._finished(handed.returncode, "")
    log = page.log.toPlainText()
    assert "train elsewhere: copy data, targets" in log and "python -m distill train --data data" in log
    assert "copy its train/ folder back" in log
    assert "Training handed off" in page.status.text() and page.resume_button.isEnabled()
    assert page.rows["targets"].info.text() == "done" and page.rows["train"].info.text() == "on another machine"
