"""The wizard's third kind of teacher: one the run trains first on the user's labelled images.

The Teacher page's choice and its check (file names only: one red line and no Next when the path
is wrong), the command line it leads to, and the pipeline's stage order on a tiny CAMUS-style npz:
``train-teacher`` first, into ``RUN/teacher``, whose ``teacher.onnx`` the later stages use; a
finished teacher is not trained again, an interrupted one resumes. The run page's rows and log.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from distill.cli import build_parser, main
from distill.pipeline import Plan, run_plan
from echoviewer.distill_runs import LABELLED_LAYOUTS, Run, labelled_layout
from echoviewer.gui.app import application
from echoviewer.gui.wizard.run_page import RunPage
from echoviewer.gui.wizard.state import WizardState
from echoviewer.gui.wizard.teacher_page import CAMUS_TEACHER, LABELLED, TeacherPage
from echoviewer.run_contract import (DONE, EPOCH, GENERATOR_STAGE, PIPELINE, STAGE, STAGES, TEACHER_STAGE, RunFolder, event_line,
                                     progress_line, teacher_load_stage)
from tests.helpers import one_error_line
from tests.test_distill_pipeline import Child, pipeline
from tests.test_train_teacher import camus_npz

pytestmark = pytest.mark.torch  # the plan's checks build the student and read the labelled data


@pytest.fixture(scope="module")
def app(qapp):
    return application()


@pytest.fixture(scope="module")
def camus(tmp_path_factory) -> Path:
    return camus_npz(tmp_path_factory.mktemp("camus") / "camus_train.npz", 12)


def echonet_folder(root: Path) -> Path:
    root.mkdir()
    (root / "VolumeTracings.csv").write_text("FileName,X1,Y1,X2,Y2,Frame\n")
    return root


def nifti_release(root: Path) -> Path:
    patient = root / "database_nifti" / "patient0001"
    patient.mkdir(parents=True)
    for name in ("patient0001_4CH_ED.nii.gz", "patient0001_4CH_ED_gt.nii.gz"):
        (patient / name).write_bytes(b"")
    return root


@pytest.fixture
def page(app, qtbot) -> TeacherPage:
    page = TeacherPage(WizardState())
    qtbot.addWidget(page)
    page.resize(900, 620)
    page.show()
    return page


def choose_labelled(page: TeacherPage, path: Path | str, licence: str = "") -> None:
    page.licence.setText(licence)
    page.labelled.set_path(str(path))  # picking a path chooses its option and checks it at once


# --- the Teacher page ---------------------------------------------------------------------------

def test_the_teacher_page_offers_a_teacher_trained_on_my_labelled_images(page) -> None:
    button = page.buttons[LABELLED]
    assert button.text().startswith("Train a teacher from my labelled images")
    assert list(page.buttons).index(LABELLED) == 4  # after the models one may have, before the oracle
    assert not page.labelled_box.isHidden() and page.minutes.value() == 30 and page.minutes.minimum() == 0
    assert page.minutes.specialValueText() == "no limit"
    button.click()
    assert page.status.state == "error" and "choose the labelled images" in page.status.text()
    assert not page.isComplete() and not page.probe.running()  # nothing runs for an empty path


@pytest.mark.parametrize(("name", "says"), [("missing.npz", "no such file or folder"),
                                            ("notes.txt", "notes.txt is not a .npz file"),
                                            ("empty", "no labelled images found")])
def test_a_path_that_is_no_labelled_data_is_one_red_line_and_blocks_next(page, tmp_path, name, says) -> None:
    path = tmp_path / name
    if name == "notes.txt":
        path.write_text("hello")
    elif name == "empty":
        path.mkdir()
    choose_labelled(page, path)
    text = page.status.text()
    assert page.status.state == "error" and says in text and "\n" not in text
    assert "CAMUS .npz file" in text and "VolumeTracings.csv" in text  # what to choose instead
    assert not page.isComplete() and page.state.labelled == ""


def test_other_data_than_camus_needs_its_licence_typed_in(page, tmp_path, qtbot) -> None:
    choose_labelled(page, echonet_folder(tmp_path / "echonet"))
    assert page.status.state == "error" and "Data licence" in page.status.text() and not page.isComplete()
    page.licence.setText("Stanford EchoNet-Dynamic Research Use Agreement")
    page.licence.textEdited.emit(page.licence.text())  # as typing does: checked again after a pause
    qtbot.waitUntil(page.isComplete, timeout=5000)
    assert page.state.data_licence == "Stanford EchoNet-Dynamic Research Use Agreement"
    assert LABELLED_LAYOUTS["echonet"] in page.status.text()


def test_camus_data_is_accepted_at_once_and_the_state_holds_the_choice(page, camus, qtbot) -> None:
    page.state.teacher = "truth"  # chosen before: its rules (data with simulator masks) no longer apply
    page.minutes.setValue(20)
    qtbot.waitUntil(lambda: page.status.state == "error", timeout=5000)  # the budget chose the (empty) option
    choose_labelled(page, camus)
    assert page.status.state == "ok" and page.isComplete() and not page.probe.running()
    assert "CAMUS .npz file" in page.status.text() and "up to 20 min" in page.status.text()
    assert "synthetic cines alone" in page.status.text()
    s = page.state
    assert (s.labelled, s.teacher_minutes, s.data_licence, s.teacher) == (str(camus), 20, "", "")
    assert s.teacher_info == {LABELLED: str(camus), "layout": "camus-npz"}
    page.buttons["truth"].click()  # another choice: the labelled data is no longer the run's
    assert page.state.labelled == "" and page.state.teacher == "truth"


def test_the_layouts_are_told_by_file_names(camus, tmp_path) -> None:
    assert labelled_layout(camus) == "camus-npz"
    release = nifti_release(tmp_path / "camus")
    assert labelled_layout(release) == labelled_layout(release / "database_nifti") == "camus-nifti"
    assert labelled_layout(release / "database_nifti" / "patient0001") == "camus-nifti"
    assert labelled_layout(echonet_folder(tmp_path / "echonet")) == "echonet"
    (tmp_path / "other" / "patient0002").mkdir(parents=True)  # a patient folder without labels
    with pytest.raises(ValueError, match="no labelled images found"):
        labelled_layout(tmp_path / "other")


# --- the command line and the stages --------------------------------------------------------------

def labelled_state(camus: Path, **fields) -> WizardState:
    return WizardState(name="private", labelled=str(camus), teacher_minutes=20, n=12, frames="8", **fields)


def test_the_wizards_command_trains_the_teacher_first_and_the_plan_points_targets_at_it(camus, tmp_path) -> None:
    run = tmp_path / "run"
    arguments = labelled_state(camus).pipeline_arguments()
    assert arguments[arguments.index("--labelled") + 1] == str(camus) and "--teacher" not in arguments
    assert arguments[arguments.index("--teacher-minutes") + 1] == "20" and "--data-licence" not in arguments
    plan = Plan.from_args(build_parser("pipeline").parse_args(["pipeline", "--run", str(run), *arguments]))
    assert plan.teacher_training == {"labelled": str(camus), "seed": 0, "minutes": 20.0}
    assert plan.teacher == str(RunFolder(run.resolve()).teacher.model) == str(run.resolve() / "teacher" / "teacher.onnx")
    assert plan.stages() == [stage for stage in STAGES if stage != GENERATOR_STAGE]  # the simulator draws the cines
    licensed = labelled_state(camus, data_licence="our hospital's terms").pipeline_arguments()
    assert licensed[licensed.index("--data-licence") + 1] == "our hospital's terms"


def test_labelled_data_that_cannot_be_read_or_a_second_teacher_is_refused_before_a_plan(camus, tmp_path,
                                                                                         capsys) -> None:
    run, missing = tmp_path / "run", tmp_path / "missing.npz"
    assert main(["pipeline", "--run", str(run), "--labelled", str(missing), "--generate", "12"]) == 2
    assert one_error_line(capsys.readouterr().err).startswith(f"error: {missing}: no such file or folder")
    assert main(["pipeline", "--run", str(run), "--labelled", str(camus), "--teacher", "teacher", "--generate",
                 "12"]) == 2
    assert "either --teacher or --labelled PATH" in one_error_line(capsys.readouterr().err)
    assert not run.exists()


class Stop(Exception):
    """Raised by the fake stage runner at the last export: the stages before it are what is checked."""


def staged(run: Path, plan: Plan, monkeypatch) -> list[tuple[list[str], bool]]:
    """The ``(argv, done)`` of every stage ``run_plan`` runs, up to the final export (not run)."""
    calls: list[tuple[list[str], bool]] = []

    def fake(argv: list[str], done: bool) -> None:
        calls.append((argv, done))
        if argv[0] == "export" and "--metrics" in argv:
            raise Stop

    monkeypatch.setattr("distill.pipeline.run_step", fake)
    with pytest.raises(Stop):
        run_plan(run, plan, "json")
    return calls


def test_train_teacher_runs_first_with_the_plans_settings_and_the_later_stages_use_its_teacher(
        camus, tmp_path, monkeypatch, capsys) -> None:
    run = tmp_path / "run"
    arguments = labelled_state(camus, data_licence="CAMUS, as downloaded").pipeline_arguments()
    plan = Plan.from_args(build_parser("pipeline").parse_args(["pipeline", "--run", str(run), *arguments]))
    calls = staged(run, plan, monkeypatch)
    assert [argv[0] for argv, _ in calls] == ["train-teacher", "generate", "targets", "train", "export", "evaluate",
                                              "evaluate", "export"]
    (teacher_argv, done), *_ = calls
    assert not done and "--resume" not in teacher_argv
    args = build_parser("train-teacher").parse_args(teacher_argv)  # train-teacher's own options, spelt right
    assert (args.labelled, args.out, args.minutes, args.seed, args.progress) == (
        str(camus), str(run / "teacher"), 20.0, 0, "json")
    assert args.data_licence == "CAMUS, as downloaded"
    teacher = str(RunFolder(run).teacher.model)
    targets = next(argv for argv, _ in calls if argv[0] == "targets")
    assert targets[targets.index("--teacher") + 1] == teacher
    assert all(argv[argv.index("--teacher") + 1] == teacher for argv, _ in calls if argv[0] == "evaluate")
    names = [json.loads(line)["name"] for line in capsys.readouterr().out.splitlines() if '"event": "stage"' in line]
    assert names == [stage for stage in STAGES if stage != GENERATOR_STAGE]

    files = RunFolder(run).teacher  # stopped mid-training: resumed
    files.path.mkdir(parents=True)
    files.last.write_bytes(b"")
    (teacher_argv, done), *_ = staged(run, plan, monkeypatch)
    assert "--resume" in teacher_argv and not done
    files.model.write_bytes(b"")  # finished: never trained again
    (teacher_argv, done), *_ = staged(run, plan, monkeypatch)
    assert done


# --- the run page ---------------------------------------------------------------------------------

def test_the_run_page_shows_the_teachers_training_and_logs_its_result(app, camus, tmp_path) -> None:
    page = RunPage(WizardState(run=Run(tmp_path, {"name": "private"})))
    row = page.rows[TEACHER_STAGE]
    assert row.title.text() == "Train teacher" and list(page.rows)[0] == TEACHER_STAGE
    page._message(event_line(PIPELINE, STAGE, name=TEACHER_STAGE, index=1, count=6))
    page._message(progress_line(teacher_load_stage("train"), 3, 18, 0.5, 2.5))
    assert row.info.text() == "reading the train images" and row.bar.value() == 3
    page._message(progress_line(TEACHER_STAGE, 4, 10, 8.0, 12.0, loss=0.9))
    assert row.info.text() == "step 4 of 10 · 12 s left at most"
    page._message(event_line(TEACHER_STAGE, EPOCH, step=5, epoch=1.0, loss=0.8, val_loss=0.7, val_dice=0.61,
                             seconds=9.0, best_val_dice=0.61, best_step=5))
    page._message(progress_line(TEACHER_STAGE, 6, 10, 12.0, 8.0, loss=0.7))
    assert row.info.text() == "step 6 of 10 · validation Dice 0.61 · 8 s left at most"
    page._message(event_line(TEACHER_STAGE, DONE, model="RUN/teacher/teacher.onnx", steps=10, best_val_dice=0.7,
                             validation_dice_mean=0.66))
    assert "teacher: 10 steps, best validation Dice 0.700 (model view), 0.660 through the viewer's analysis" \
        in page.log.toPlainText()
    page._message(event_line(PIPELINE, STAGE, name="generate", index=2, count=6))
    assert row.info.text() == "done" and page.rows["generate"].info.text() == "starting …"


def test_a_run_without_a_teacher_to_train_says_that_stage_is_not_needed(app, tmp_path) -> None:
    page = RunPage(WizardState(run=Run(tmp_path, {"name": "bundled"})))
    page._message(event_line(PIPELINE, STAGE, name="generate", index=1, count=5))
    assert page.rows[TEACHER_STAGE].info.text() == "not needed"


def test_an_unfinished_run_that_trains_its_teacher_names_its_labelled_data(tmp_path) -> None:
    plan = {"name": "private", "teacher": str(tmp_path / "teacher" / "teacher.onnx"),
            "data": {"generate": {"n": 12}}, "student": {"model": "fast", "epochs": 3},
            "teacher_training": {"labelled": "/data/camus_train.npz"}}
    assert Run(tmp_path, plan).describe() == ("private: fast on 12 generated cines, teacher trained on "
                                              "camus_train.npz; epoch 0 of 3")


# --- for real -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_real_teacher_stage_stops_on_sigterm_resumes_and_is_not_trained_again(tmp_path) -> None:
    """Six steps of the real train-teacher inside the pipeline: SIGTERM after the first step stops it
    (resumable), SIGTERM after the last step lets it finish the teacher and stops the run; the run
    then finishes without training it again, and the student's card names it. 26 patients:
    patient0026 is the first that train-teacher's default share (0.1) holds out."""
    camus, run = camus_npz(tmp_path / "camus_train.npz", 26, height=112, width=112), tmp_path / "run"
    teacher = RunFolder(run).teacher

    def stopped(*argv: str, when) -> tuple[int, str]:
        child = Child(tmp_path, "--run", str(run), *argv, "--progress", "json")
        try:
            child.wait_for(when, timeout=240)
            child.process.send_signal(signal.SIGTERM)
            return child.wait(timeout=60), child.stderr()
        finally:
            child.end()

    def step_1(lines: list[dict]) -> bool:
        return any(line.get("stage") == TEACHER_STAGE and line.get("done") == 1 for line in lines)

    def last_step(lines: list[dict]) -> bool:  # validated: the export comes next
        return any(line.get("stage") == TEACHER_STAGE and line.get("event") == EPOCH and line["step"] == 6
                   for line in lines)

    code, err = stopped("--labelled", str(camus), "--teacher-steps", "6", "--generate", "12", "--frames", "8",
                        "--epochs", "1", when=step_1)
    assert code == 130 and "Traceback" not in err, err[-2000:]
    assert teacher.last.is_file() and not teacher.model.exists()
    code, err = stopped(when=last_step)
    assert code == 130 and "stopped after the teacher was finished" in err, err[-2000:]
    assert "--resume" in next(line for line in err.splitlines() if "train-teacher" in line)
    card = json.loads(teacher.model.with_suffix(".json").read_text())
    assert card["name"] == "teacher trained on camus_train.npz" and card["training"]["total_steps"] == 6
    assert card["metrics"]["labelled_validation"]["frames_scored"] > 0 and not (run / "data").exists()
    built = teacher.model.stat().st_mtime_ns
    finished = pipeline("--run", str(run), "--progress", "json", timeout=300)
    assert finished.returncode == 0 and "skip (done): python -m distill train-teacher" in finished.stderr
    assert teacher.model.stat().st_mtime_ns == built
    student = json.loads(RunFolder(run).student.with_suffix(".json").read_text())
    assert student["teacher"]["name"] == "teacher trained on camus_train.npz"
    assert student["teacher"]["sha256"] == card["sha256"] and student["teacher"]["path"] == str(teacher.model)


def test_the_default_students_own_teacher_is_offered_with_its_licence(page, qtbot) -> None:
    button = page.buttons[CAMUS_TEACHER]
    assert CAMUS_TEACHER == "teacher-camus" and "CC BY-NC-SA 4.0" in button.text()
    button.click()
    qtbot.waitUntil(lambda: page.status.state != "busy", timeout=120_000)
    assert page.status.state == "ok" and "2,483,969 parameters" in page.status.text(), page.status.text()
    assert page.state.teacher == CAMUS_TEACHER and page.state.labelled == "" and page.isComplete()
    assert page.state.pipeline_arguments()[page.state.pipeline_arguments().index("--teacher") + 1] == CAMUS_TEACHER
