"""Cines drawn in part by a learned generator, as the wizard and the pipeline offer them.

The bundled ``student-camus`` learned from cines half drawn by a generator fitted to CAMUS ``train``
(``reproduce-bundled``); a user with labelled images gets the same recipe from the wizard: the Data
page's "Frames drawn by" choice, ``distill pipeline --train-generator`` (a ``train-generator`` stage
into ``RUN/generator``, then ``generate --generator RUN/generator``) or ``--generator FOLDER`` for one
made before, and the run page's row for it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distill.cli import build_parser, main
from distill.pipeline import Plan
from echoviewer.gui.app import application
from echoviewer.gui.wizard.data_page import FOLDER, DataPage
from echoviewer.gui.wizard.run_page import RunPage
from echoviewer.gui.wizard.state import LEARN, WizardState
from echoviewer.distill_runs import Run
from echoviewer.run_contract import (GENERATOR_STAGE, GENERATOR_TRAINING, PIPELINE, STAGE, STAGES, RunFolder,
                                     event_line, planned_stages, progress_line)
from tests.helpers import one_error_line
from tests.test_distill_pipeline import pipeline
from tests.test_train_teacher import camus_npz
from tests.test_wizard_teacher import staged

pytestmark = pytest.mark.torch  # the plan's checks build the student and read the labelled data

PROBE_MS = 120_000


@pytest.fixture(scope="module")
def camus(tmp_path_factory) -> Path:
    return camus_npz(tmp_path_factory.mktemp("camus") / "camus_train.npz", 12)


def new_plan(run: Path, *argv: str) -> Plan:
    return Plan.from_args(build_parser("pipeline").parse_args(["pipeline", "--run", str(run), *argv]))


def learning_state(camus: Path, **fields) -> WizardState:
    return WizardState(name="private", labelled=str(camus), teacher_minutes=20, n=12, frames="8",
                       teacher_info={"labelled": str(camus), "layout": "camus-npz"}, **fields)


# --- the plan and its stages ------------------------------------------------------------------------

def test_the_wizards_choice_becomes_a_plan_that_learns_its_generator_first(camus, tmp_path) -> None:
    arguments = learning_state(camus, generator=LEARN, generator_share=40).pipeline_arguments()
    assert "--train-generator" in arguments and arguments[arguments.index("--generator-share") + 1] == "0.4"
    plan = new_plan(tmp_path / "run", *arguments)
    assert plan.data["generate"]["generator"] == {"learn": True, "share": 0.4}
    assert plan.stages() == list(STAGES) and STAGES.index(GENERATOR_STAGE) < STAGES.index("generate")
    assert "--generator" not in learning_state(camus).pipeline_arguments()  # the simulator alone


def test_learning_stage_by_stage_the_generator_feeds_generate_and_a_killed_one_starts_over(
        camus, tmp_path, monkeypatch) -> None:
    run = tmp_path / "run"
    plan = new_plan(run, *learning_state(camus, generator=LEARN, data_licence="ours").pipeline_arguments())
    calls = staged(run, plan, monkeypatch)
    assert [argv[0] for argv, _ in calls][:3] == ["train-teacher", GENERATOR_STAGE, "generate"]
    learned, done = calls[1]
    args = build_parser(GENERATOR_STAGE).parse_args(learned)  # train-generator's own options, spelt right
    assert not done and (args.labelled, args.out, args.epochs, args.seed, args.data_licence, args.progress) == (
        camus, RunFolder(run).generator, GENERATOR_TRAINING["epochs"], 0, "ours", "json")
    generate = build_parser("generate").parse_args(calls[2][0])
    assert (generate.generator, generate.generator_share) == (RunFolder(run).generator, 0.5)

    folder = RunFolder(run).generator  # killed while learning: nothing but a partial folder
    folder.mkdir(parents=True)
    (folder / "generator.pt").write_bytes(b"half")
    learned, done = staged(run, plan, monkeypatch)[1]
    assert not done and not folder.exists()  # removed, learned again
    folder.mkdir()
    (folder / "generator.json").write_text("{}")  # finished (the card is written last)
    assert staged(run, plan, monkeypatch)[1][1]


def test_a_generator_folder_made_before_is_used_as_it_is(tmp_path, monkeypatch) -> None:
    made = tmp_path / "made"
    made.mkdir()
    (made / "generator.pt").write_bytes(b"weights")
    run = tmp_path / "run"
    plan = new_plan(run, "--teacher", "teacher", "--generate", "12", "--frames", "8", "--generator", str(made))
    assert plan.data["generate"]["generator"] == {"folder": str(made.resolve()), "share": 0.5}
    assert GENERATOR_STAGE not in plan.stages()
    calls = staged(run, plan, monkeypatch)
    generate = build_parser("generate").parse_args(calls[0][0])
    assert calls[0][0][0] == "generate" and generate.generator == made.resolve()


def test_generator_choices_that_cannot_work_are_refused_before_a_plan(camus, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    refused = {
        ("--teacher", "teacher", "--generate", "12", "--train-generator"): "needs labelled frames",
        ("--labelled", str(camus), "--generate", "12", "--train-generator", "--generator", str(tmp_path)):
            "not both",
        ("--teacher", "teacher", "--generate", "12", "--generator", str(tmp_path)): "train-generator",
        ("--teacher", "teacher", "--generate", "12", "--generator", str(tmp_path), "--generator-share", "0"):
            "share",
    }
    for argv, says in refused.items():
        assert main(["pipeline", "--run", str(run), *argv]) == 2
        assert says in one_error_line(capsys.readouterr().err), argv
    assert not run.exists()
    assert planned_stages({"generate": {"generator": {"learn": True}}}, "T.onnx", True)[:2] == [
        "train-teacher", GENERATOR_STAGE]


# --- the Data page and the run page -----------------------------------------------------------------

@pytest.fixture(scope="module")
def app(qapp):
    return application()


def data_page(qtbot, state: WizardState) -> DataPage:
    page = DataPage(state)
    qtbot.addWidget(page)
    page.resize(900, 680)
    page.show()
    page.initializePage()
    return page


def choose(page: DataPage, data: str) -> None:
    page.drawn_by.setCurrentIndex(page.drawn_by.findData(data))


def test_learning_a_generator_is_offered_only_with_camus_labels_from_the_teacher_page(app, qtbot, camus) -> None:
    plain = data_page(qtbot, WizardState())
    learn = plain.drawn_by.model().item(plain.drawn_by.findData(LEARN))
    assert not learn.isEnabled() and "CAMUS" in learn.toolTip()
    assert not plain.share.isEnabled() and not plain.generator_folder.isEnabled()
    qtbot.waitUntil(lambda: plain.status.state == "ok", timeout=PROBE_MS)
    assert "generator" not in plain.status.text()

    page = data_page(qtbot, learning_state(camus))
    assert page.drawn_by.model().item(page.drawn_by.findData(LEARN)).isEnabled()
    choose(page, LEARN)
    page.share.setValue(30)
    qtbot.waitUntil(lambda: page.status.state == "ok" and "30 %" in page.status.text(), timeout=PROBE_MS)
    assert f"first a generator learns from the labelled images ({GENERATOR_TRAINING['epochs']} epochs)" \
        in page.status.text()
    assert (page.state.generator, page.state.generator_share) == (LEARN, 30) and page.share.isEnabled()

    page.state.labelled = ""  # the Teacher page chose a bundled teacher after all
    page.initializePage()
    assert page.drawn_by.currentData() == "" and page.state.generator == ""


def test_a_generator_folder_must_be_chosen_and_must_be_one(app, qtbot, tmp_path) -> None:
    page = data_page(qtbot, WizardState(n=12, frames="8"))
    choose(page, FOLDER)
    qtbot.waitUntil(lambda: page.status.state == "error", timeout=PROBE_MS)
    assert "choose the generator folder" in page.status.text() and not page.isComplete()
    page.generator_folder.set_path(str(tmp_path))
    qtbot.waitUntil(lambda: page.status.state == "error" and "train-generator" in page.status.text(),
                    timeout=PROBE_MS)
    assert not page.isComplete()


def test_the_run_page_shows_the_generators_epochs(app, tmp_path) -> None:
    page = RunPage(WizardState(run=Run(tmp_path, {"name": "private"})))
    row = page.rows[GENERATOR_STAGE]
    assert row.title.text() == "Learn generator"
    page._message(event_line(PIPELINE, STAGE, name=GENERATOR_STAGE, index=2, count=7))
    page._message(progress_line(GENERATOR_STAGE, 3, 10, 30.0, 70.0, val_mae=0.0625))
    assert row.info.text() == "epoch 3 of 10 · held-out grey error 15.9 · 1 min 10 s left"
    page._message(event_line(PIPELINE, STAGE, name="generate", index=3, count=7))
    assert row.info.text() == "done"
    other = RunPage(WizardState(run=Run(tmp_path, {"name": "bundled"})))
    other._message(event_line(PIPELINE, STAGE, name="generate", index=1, count=5))
    assert other.rows[GENERATOR_STAGE].info.text() == "not needed"


# --- for real -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_real_run_learns_its_generator_draws_cines_from_it_and_the_student_inherits_its_licence(
        tmp_path) -> None:
    camus, run = camus_npz(tmp_path / "camus_train.npz", 26, height=112, width=112), tmp_path / "run"
    done = pipeline("--run", str(run), "--labelled", str(camus), "--teacher-steps", "2", "--train-generator",
                    "--generate", "12", "--frames", "8", "--epochs", "1", "--progress", "none", timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    files = RunFolder(run)
    card = json.loads((files.generator / "generator.json").read_text())
    assert card["data"]["path"] == "camus_train.npz" and card["training"]["epochs"] == GENERATOR_TRAINING["epochs"]
    synth = json.loads((files.data / "synth.json").read_text())
    assert synth["generator"]["folder"] == str(files.generator.resolve()) and synth["generator"]["share"] == 0.5
    kinds = [json.loads(str(np.load(path)["params_json"])).get("generator", "simulator")
             for path in sorted((files.data / "Masks").glob("*.npz"))]
    assert len(kinds) == 12 and set(kinds) == {"label-to-echo", "simulator"}
    student = json.loads(files.student.with_suffix(".json").read_text())
    assert student["inherited_licences"]["generator"]["licence"] == "CC BY-NC-SA 4.0"
