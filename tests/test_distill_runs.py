"""``echoviewer.distill_runs`` (run folders as the viewer sees them) and ``user_data.ActiveStudent``.

Installing a finished student (checked against its card), listing runs, reading a run's files,
the comparison picture, time estimates, the command that starts ``python -m distill`` without
importing it, and ``echoviewer.run_contract``: what distill writes and says is what the viewer
reads. The finished run is the one ``tests/test_distill_pipeline.py`` builds once per session.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from distill.datasets.echonet import EchoNetFolder, hash_split
from distill.reproduce_bundled import STUDENT, TRAIN_CINES, TRAIN_FRAMES
from echoviewer.analysis import DEFAULT_MODEL
from echoviewer import distill_runs, run_contract
from echoviewer.analysis.onnx_model import OnnxModel, file_sha256
from echoviewer.distill_runs import (Run, comparison_picture, duration, install_student, list_runs, new_run_folder,
                                     runs_dir, training_seconds)
from echoviewer.io import load_cine
from echoviewer.resources import STUDENT_MODEL
from echoviewer.run_contract import (DONE, EPOCH, GENERATOR_STAGE, PIPELINE, STAGE, STAGES, TEACHER_STAGE, RunFolder, event_line,
                                     is_event, load_stage, planned_stages, read_line)
from echoviewer.user_data import ActiveStudent, read_json, user_models_dir
from tests.helpers import ROOT
from tests.test_distill_pipeline import finished_run

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)


held_out = distill_runs.held_out_videos


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Run:
    folder, _ = finished_run(tmp_path_factory)
    return Run(folder, json.loads((folder / "plan.json").read_text()))


def copy_run(run: Run, folder: Path, *names: str) -> Path:
    """Some of ``run``'s files in ``folder``."""
    folder.mkdir(parents=True)
    for name in names:
        shutil.copy(run.folder / name, folder / name)
    return folder


# --- installing a student -------------------------------------------------------------------------

@pytest.mark.slow
def test_install_copies_the_model_and_its_card_into_the_users_model_folder(shared, private_data_dir) -> None:
    first = install_student(shared)
    assert first.parent == user_models_dir() == private_data_dir / "models"
    assert first.name == "Shared-student.onnx"
    assert first.read_bytes() == (shared.folder / "student.onnx").read_bytes()
    card = json.loads(first.with_suffix(".json").read_text())
    assert card == json.loads((shared.folder / "student.json").read_text())
    assert card["sha256"] == file_sha256(first)
    assert OnnxModel(first).name == "Shared student"  # the viewer can load what was installed

    second = install_student(shared, name="  My  new\nstudent ")
    assert second.name == "My-new-student.onnx" and second != first
    assert json.loads(second.with_suffix(".json").read_text())["name"] == "My new student"
    third = install_student(shared, name="My new student")
    assert third.name == "My-new-student-2.onnx"
    assert json.loads(third.with_suffix(".json").read_text())["name"] == "My new student"
    assert first.read_bytes() == second.read_bytes() == third.read_bytes()
    assert json.loads(first.with_suffix(".json").read_text())["name"] == "Shared student"  # untouched
    assert sorted(p.name for p in user_models_dir().iterdir()) == [
        "My-new-student-2.json", "My-new-student-2.onnx", "My-new-student.json", "My-new-student.onnx",
        "Shared-student.json", "Shared-student.onnx"]
    # the run's own card keeps its name
    assert json.loads((shared.folder / "student.json").read_text())["name"] == "Shared student"
    blank = install_student(shared, name="   ")  # a blank name keeps the run's
    assert json.loads(blank.with_suffix(".json").read_text())["name"] == "Shared student"


@pytest.mark.slow
def test_a_model_changed_after_export_installs_nothing(shared, tmp_path) -> None:
    folder = copy_run(shared, tmp_path / "run", "plan.json", "student.onnx", "student.json")
    result = {**shared.result, "student": str(folder / "student.onnx"), "card": str(folder / "student.json")}
    (folder / "result.json").write_text(json.dumps(result))
    damaged = bytearray((folder / "student.onnx").read_bytes())
    damaged[-1] ^= 0xFF
    (folder / "student.onnx").write_bytes(bytes(damaged))
    with pytest.raises(ValueError, match="does not match its model card"):
        install_student(Run(folder, shared.plan), name="damaged")
    assert not user_models_dir().exists() or not any(user_models_dir().iterdir())

    (folder / "student.json").write_text("{not json")  # a damaged card: the same refusal
    (folder / "student.onnx").write_bytes((shared.folder / "student.onnx").read_bytes())
    with pytest.raises(ValueError, match="does not match its model card"):
        install_student(Run(folder, shared.plan))
    assert not user_models_dir().exists() or not any(user_models_dir().iterdir())


@pytest.mark.slow
def test_an_unfinished_run_installs_nothing(shared, tmp_path) -> None:
    folder = copy_run(shared, tmp_path / "run", "plan.json", "student.onnx", "student.json")
    with pytest.raises(ValueError, match="not finished"):
        install_student(Run(folder, shared.plan))
    (folder / "result.json").write_text('["not", "a", "result"]')
    with pytest.raises(ValueError, match="not finished"):
        install_student(Run(folder, shared.plan))
    assert not user_models_dir().exists()


# --- run folders ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_list_runs_finds_finished_and_unfinished_runs_newest_first(shared) -> None:
    assert list_runs() == []  # no runs folder yet
    runs = runs_dir()
    copy_run(shared, runs / "20250101-000000-old", "plan.json", "result.json")
    copy_run(shared, runs / "20250102-000000-unfinished", "plan.json")
    copy_run(shared, runs / "20250103-000000-new", "plan.json", "result.json")
    (runs / "20250104-000000-no-plan").mkdir()
    copy_run(shared, runs / "20250105-000000-damaged-plan", "result.json")
    (runs / "20250105-000000-damaged-plan" / "plan.json").write_text("{")
    (runs / "20250106-stray-file").write_text("not a folder")
    copy_run(shared, runs / "20250107-000000-bad-shape", "plan.json")
    (runs / "20250107-000000-bad-shape" / "plan.json").write_text('{"name": "x", "student": 5, "data": {}}')

    # damaged plans are listed, saying so (issue 20, item 10: they used to vanish or raise)
    assert [r.folder.name for r in list_runs()] == ["20250107-000000-bad-shape", "20250105-000000-damaged-plan",
                                                    "20250103-000000-new", "20250102-000000-unfinished",
                                                    "20250101-000000-old"]
    assert [r.folder.name for r in list_runs(finished=True)] == ["20250105-000000-damaged-plan",
                                                                 "20250103-000000-new", "20250101-000000-old"]
    unfinished = list_runs(finished=False)
    assert [r.folder.name for r in unfinished] == ["20250107-000000-bad-shape", "20250102-000000-unfinished"]
    assert unfinished[0].describe() == ("20250107-000000-bad-shape: damaged (plan.json's student is not a JSON "
                                        "object); it cannot be resumed, start a new run")
    assert "plan.json is not readable JSON" in list_runs(finished=True)[0].describe()
    sound = [r for r in list_runs() if not r.problem]
    assert sound[1].result is None and sound[0].result == shared.result
    assert all(r.plan == shared.plan and r.name == "Shared student" for r in sound)


def test_new_run_folder_is_a_safe_unique_name_under_the_runs_folder() -> None:
    names = {}
    for name in ("Quick fast student", "../../etc/passwd", "a/b\\c:d*e?", "", "///", "..", "x" * 100):
        folder = new_run_folder(name)
        assert folder.parent == runs_dir() and not folder.exists()
        assert re.fullmatch(r"\d{8}-\d{6}-[A-Za-z0-9._-]{1,40}", folder.name), folder.name
        names[name] = folder
    assert names["Quick fast student"].name.endswith("-Quick-fast-student")
    assert names[""].name.endswith("-run") and names["///"].name.endswith("-run")

    first = new_run_folder("same")
    first.mkdir(parents=True)
    second = new_run_folder("same")
    assert second != first and second.parent == runs_dir() and not second.exists()
    second.mkdir()
    third = new_run_folder("same")
    assert third not in (first, second) and not third.exists()


@pytest.mark.slow
def test_a_run_reads_its_history_and_evaluations(shared, tmp_path) -> None:
    history = json.loads((shared.folder / "train" / "history.json").read_text())
    assert shared.history == history and [row["epoch"] for row in history] == [1]
    new = shared.evaluation()
    assert new == shared.evaluation("new") == json.loads((shared.folder / "evaluation" / "evaluation.json").read_text())
    current = shared.evaluation("current")
    assert current == json.loads((shared.folder / "evaluation-current" / "evaluation.json").read_text())
    assert current != new and isinstance(current["summary"], dict)
    assert shared.name == "Shared student" and shared.result["sha256"] == file_sha256(shared.folder / "student.onnx")
    assert "fast" in shared.describe() and "epoch 1 of 1" in shared.describe()

    empty = Run(copy_run(shared, tmp_path / "run", "plan.json"), shared.plan)
    assert empty.history == [] and empty.evaluation() is None and empty.evaluation("current") is None
    assert empty.result is None and held_out(empty) == []
    (tmp_path / "run" / "train").mkdir()
    (tmp_path / "run" / "train" / "history.json").write_text('{"epoch": 1}')  # not a list
    assert empty.history == []


@pytest.mark.slow
def test_held_out_videos_are_the_videos_the_run_scored(shared) -> None:
    data = shared.folder / "data"
    test_split = {r.name for r in EchoNetFolder(data).split("TEST")}
    scored = [row["name"] for row in shared.evaluation()["videos"]]
    videos = held_out(shared)
    assert len(videos) == 2 == len(scored)  # --evaluate-videos 2
    assert [v.stem for v in videos] == scored and {v.stem for v in videos} <= test_split
    assert all(v.is_file() and v.parent == data / "Videos" for v in videos)
    assert held_out(shared, limit=1) == videos[:1]


@pytest.mark.slow
def test_comparison_picture_of_a_model_with_itself_and_with_another(shared) -> None:
    cine = load_cine(held_out(shared, limit=1)[0])
    student = shared.folder / "student.onnx"
    picture, dice = comparison_picture(cine, OnnxModel(student), OnnxModel(student))
    assert dice == 1.0
    assert picture.dtype == np.uint8 and picture.shape == (*cine.frames.shape[1:], 3)
    other_picture, other_dice = comparison_picture(cine, OnnxModel(student), OnnxModel(STUDENT_MODEL))
    assert 0.0 <= other_dice < 1.0  # one epoch of training is far from the bundled student
    assert other_picture.shape == picture.shape


# --- estimates ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("step", "videos", "batch", "epochs", "seconds"), [
    (0.5, 160, 8, 20, 0.5 * 15 * 20),   # TRAIN 120 videos: 15 steps an epoch
    (1.0, 10, 2, 3, 1.0 * 3 * 3),       # int(7.5) = 7 TRAIN videos: 3 steps
    (2.0, 600, 16, 1, 2.0 * 28),        # 450 // 16
    (2.0, 4, 8, 5, 2.0 * 1 * 5),        # fewer videos than a batch: still one step
    (2.0, 0, 8, 5, 2.0 * 1 * 5),
])
def test_training_seconds(step, videos, batch, epochs, seconds) -> None:
    assert training_seconds(step, videos, batch, epochs) == pytest.approx(seconds)


@pytest.mark.parametrize(("seconds", "text"), [
    (None, "…"), (0, "0 s"), (59.4, "59 s"), (59.6, "1 min 00 s"), (75, "1 min 15 s"), (3599, "59 min 59 s"),
    (3600, "1 h 00 min"), (3725, "1 h 02 min"), (36000, "10 h 00 min"),
])
def test_duration(seconds, text) -> None:
    assert duration(seconds) == text


# --- the run contract -----------------------------------------------------------------------------

@pytest.mark.slow
def test_a_pipeline_run_reports_the_contracts_stages_and_lines(tmp_path_factory) -> None:
    folder, made = finished_run(tmp_path_factory)
    lines = [read_line(text) for text in made.stdout.splitlines()]
    lines = [line for line in lines if line is not None]
    plan = json.loads(RunFolder(folder).plan.read_text())
    names = [line["name"] for line in lines if is_event(line, PIPELINE, STAGE)]
    assert names == planned_stages(plan["data"], plan["teacher"]) == [s for s in STAGES if s not in (TEACHER_STAGE, GENERATOR_STAGE)]
    assert lines[-1] == event_line(PIPELINE, DONE, **json.loads(RunFolder(folder).result.read_text()))
    epochs = [line for line in lines if is_event(line, "train", EPOCH)]
    assert [line["epoch"] for line in epochs] == [1]
    assert set(epochs[0]) == {"stage", "event", "epoch", "epochs", "loss", "val_loss", "best_val_loss", "best_epoch"}
    progress = [line for line in lines if "event" not in line]
    assert {line["stage"] for line in progress} >= {"generate", "targets", "train", "evaluate", load_stage("TRAIN"),
                                                    load_stage("VAL")}
    assert all({"stage", "done", "total", "elapsed_s", "eta_s"} <= set(line) for line in progress)
    # what the pipeline leaves out, the contract leaves out
    assert planned_stages({"folder": "x"}, "truth") == ["train", "evaluate", "export"]
    assert planned_stages({"generate": {}}, "truth") == ["generate", "train", "evaluate", "export"]
    assert planned_stages({"folder": "x"}, "T.onnx", trains_teacher=True) == [TEACHER_STAGE, "targets", "train",
                                                                               "evaluate", "export"]


@pytest.mark.slow
def test_a_finished_run_folder_holds_the_contracts_files(shared) -> None:
    files = shared.files
    for path in (files.plan, files.result, files.candidate, files.student, files.report("new"),
                 files.report("current"), files.train.config, files.train.last, files.train.best,
                 files.train.history, files.train.summary):
        assert path.is_file(), path
    assert files.data.is_dir() and files.targets.is_dir()
    assert shared.result["student"] == str(files.student) and shared.result["evaluation"] == str(files.report())
    assert shared.result["evaluation_current"] == str(files.report("current"))
    assert set(shared.plan["student"]) <= set(run_contract.TRAIN_SETTINGS)
    assert {r.split for r in EchoNetFolder(files.data).records} <= set(run_contract.SPLITS)


def test_the_hash_split_has_the_contracts_shares() -> None:
    names = [f"video_{i}" for i in range(8000)]
    splits = [hash_split(name) for name in names]
    assert sum(run_contract.share(split) for split in run_contract.SPLITS) == 1
    for split in run_contract.SPLITS:
        assert abs(splits.count(split) / len(splits) - run_contract.share(split)) < 0.02, split
    for n in (0, 1, 7, 12, 160, 600, 1001):
        expected = run_contract.expected_split(n)
        assert sum(expected.values()) == n and expected["TRAIN"] == int(n * run_contract.share("TRAIN"))


def test_the_standard_preset_with_the_fast_student_is_the_bundled_students_recipe() -> None:
    standard, fast = run_contract.DATA_PRESETS["standard"], run_contract.STUDENT_PRESETS["fast"]
    assert (TRAIN_CINES, TRAIN_FRAMES) == (standard.n, standard.frames)
    assert STUDENT == {"model": "fast", "epochs": standard.epochs, "patience": standard.patience,
                       "batch": fast.batch, "clip": fast.clip, **run_contract.TRAINING}
    for preset in run_contract.DATA_PRESETS.values():  # labels carry no times or scores that drift
        assert not re.search(r"\bmin\b|\bs\b|Dice|core", preset.label), preset.label
        assert str(preset.n) in preset.label and str(preset.epochs) in preset.label


# --- starting distill -----------------------------------------------------------------------------

@pytest.mark.slow
def test_distill_command_runs_distill_without_importing_it(tmp_path) -> None:
    check = (
        "import json, sys\n"
        "from echoviewer.distill_runs import distill_command\n"
        "program, argv, env = distill_command('probe', '--help')\n"
        "print(json.dumps([program, argv, env, 'distill' in sys.modules, 'torch' in sys.modules]))\n")
    checked = subprocess.run([sys.executable, "-c", check], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    program, argv, env, imported, torch = json.loads(checked.stdout)
    assert program == sys.executable and argv == ["-m", "distill", "probe", "--help"]
    assert not imported and not torch
    assert str(ROOT) in env["PYTHONPATH"].split(":")

    # the command works from any folder with only that environment added
    started = subprocess.run([program, *argv[:2], "--help"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=60, env={"PATH": "/usr/bin:/bin", **env})
    assert started.returncode == 0 and "pipeline" in started.stdout, started.stderr


# --- the active student ---------------------------------------------------------------------------

def test_active_student_defaults_to_the_bundled_one_and_remembers_the_previous(tmp_path, private_data_dir) -> None:
    active = ActiveStudent()
    assert active.file == private_data_dir / "active_student.json"
    assert active.get() == DEFAULT_MODEL and active.previous() is None

    model = tmp_path / "mine.onnx"
    model.write_bytes(b"onnx")
    active.set(str(model))
    assert ActiveStudent().get() == str(model) and ActiveStudent().previous() == DEFAULT_MODEL
    other = tmp_path / "other.onnx"
    other.write_bytes(b"onnx")
    active.set(str(other))
    assert active.get() == str(other) and active.previous() == str(model)
    active.set(DEFAULT_MODEL)
    assert active.get() == DEFAULT_MODEL and active.previous() == str(other)
    active.set(str(model))

    model.unlink()  # the chosen file has gone: the bundled student again
    assert active.get() == DEFAULT_MODEL and active.previous() is None


def test_active_student_refuses_relative_and_missing_paths(tmp_path, monkeypatch) -> None:
    active = ActiveStudent(tmp_path)
    (tmp_path / "mine.onnx").write_bytes(b"onnx")
    monkeypatch.chdir(tmp_path)
    for spec in ("mine.onnx", str(tmp_path / "missing.onnx"), str(tmp_path), "teacher", ""):
        with pytest.raises(ValueError, match="not a student"):
            active.set(spec)
    assert not active.file.exists() and active.get() == DEFAULT_MODEL


@pytest.mark.parametrize("content", ["{", "[]", '{"version": 99, "spec": "MODEL"}', '{"version": 1, "spec": 3}',
                                     '{"version": 1, "spec": "relative.onnx"}', '{"spec": "MODEL"}'])
def test_a_damaged_active_student_file_reads_as_the_bundled_student(tmp_path, monkeypatch, content) -> None:
    model = tmp_path / "mine.onnx"
    model.write_bytes(b"onnx")
    (tmp_path / "relative.onnx").write_bytes(b"onnx")
    monkeypatch.chdir(tmp_path)
    active = ActiveStudent(tmp_path)
    active.file.write_text(content.replace("MODEL", str(model)))
    assert active.get() == DEFAULT_MODEL and active.previous() is None
    active.set(str(model))  # a damaged file is replaced, not a reason to fail
    assert active.get() == str(model) and active.previous() == DEFAULT_MODEL


def test_an_active_student_file_that_is_not_utf8_reads_as_the_bundled_student(tmp_path) -> None:
    active = ActiveStudent(tmp_path)
    active.file.write_bytes(b"\xff\xfe{\x00")
    assert active.get() == DEFAULT_MODEL and active.previous() is None


def test_read_json_is_none_for_missing_or_unreadable_files(tmp_path) -> None:
    assert read_json(tmp_path / "missing.json") is None
    assert read_json(tmp_path) is None  # a folder
    for content in (b"{", b"\xff\xfe", b"[" * 100000):
        (tmp_path / "bad.json").write_bytes(content)
        assert read_json(tmp_path / "bad.json") is None
    (tmp_path / "good.json").write_text('{"a": [1, 2]}')
    assert read_json(tmp_path / "good.json") == {"a": [1, 2]}
