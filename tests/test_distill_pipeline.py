"""``python -m distill pipeline``: one distillation run from a plan, as the viewer's wizard starts it.

Its files and JSON stage lines, the stages it skips (the simulator's truth needs no targets, a data
folder needs no generating), a rerun of a finished run, refusals, SIGTERM and ``--stop-on-eof``
with their resume; and ``EchoNetFolder.split`` with several splits, which the targets stage uses.

Everything runs on 12 generated cines of 8 frames for one or a few epochs: the students learnt mean
nothing, only the command's promises are checked. The one finished run is built once per session
(:func:`finished_run`) and shared with ``tests/test_distill_runs.py``; nothing may change it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from distill.cli import build_parser, main
from distill.datasets.echonet import EchoNetFolder
from distill.pipeline import Plan
from echoviewer.analysis.models import BUNDLED, DEFAULT_MODEL
from tests.helpers import ROOT, lock_held_by_a_killed_process, one_error_line

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

TINY = ("--generate", "12", "--frames", "8", "--batch", "2", "--clip", "4", "--evaluate-videos", "2")
NEW_RUN = ("--teacher", "teacher", *TINY, "--epochs", "1")
STAGES = ["generate", "targets", "train", "evaluate", "export"]


def child_env(data_dir: Path | None = None) -> dict[str, str]:
    """The child's environment, read now (after the autouse fixture chose this test's data folder)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if data_dir is not None:
        env["ECHOVIEWER_DATA_DIR"] = str(data_dir)
    return env


def pipeline(*argv: str, data_dir: Path | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    """``python -m distill pipeline ARGV`` in a child, stdin closed, its output captured as text."""
    return subprocess.run([sys.executable, "-m", "distill", "pipeline", *argv], cwd=ROOT, env=child_env(data_dir),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def finished_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One finished run (bundled teacher, 12 generated cines, 1 epoch, 2 TEST videos scored) and the
    command that made it, once per session. Read it; never change it (copy what a test alters).

    Kept at a fixed place in the session's temporary folder, not in a module global: pytest imports
    this file as ``test_distill_pipeline`` and ``tests/test_distill_runs.py`` as ``tests.test_...``."""
    base = tmp_path_factory.getbasetemp() / "distill-pipeline-shared"
    run, made = base / "shared", base / "made.json"
    if not made.is_file():
        assert not base.exists(), "building the shared run failed in an earlier test; see its error"
        base.mkdir()
        result = pipeline("--run", str(run), *NEW_RUN, "--name", "Shared student", "--progress", "json",
                          data_dir=base / "echoviewer-data")
        assert result.returncode == 0, result.stderr[-3000:]
        made.write_text(json.dumps([result.args, result.returncode, result.stdout, result.stderr]))
    return run, subprocess.CompletedProcess(*json.loads(made.read_text()))


def json_lines(stdout: str) -> list[dict]:
    """The JSON lines of a child's stdout (``evaluate`` and ``export`` also print plain text there)."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def stage_lines(stdout: str) -> list[dict]:
    return [line for line in json_lines(stdout) if line.get("stage") == "pipeline" and line.get("event") == "stage"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: (mtime, bytes)."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    return finished_run(tmp_path_factory)


# --- a new run ------------------------------------------------------------------------------------

@pytest.mark.slow
def test_a_new_run_writes_the_student_its_card_the_result_and_both_reports(shared) -> None:
    run, _ = shared
    student, card_path = run / "student.onnx", run / "student.json"
    card = json.loads(card_path.read_text())
    assert card["sha256"] == sha256(student) and card["name"] == "Shared student"

    result = json.loads((run / "result.json").read_text())
    assert result["student"] == str(student) and result["card"] == str(card_path)
    assert result["sha256"] == card["sha256"] and result["name"] == "Shared student"
    assert result["parameters"] == card["parameters"] > 0
    assert result["summary"] == json.loads((run / "train" / "summary.json").read_text())

    new, current = (json.loads((run / folder / "evaluation.json").read_text())
                    for folder in ("evaluation", "evaluation-current"))
    assert result["evaluation"] == str(run / "evaluation" / "evaluation.json")
    assert result["evaluation_current"] == str(run / "evaluation-current" / "evaluation.json")
    assert (run / "evaluation" / "evaluation.md").is_file() and (run / "evaluation-current" / "evaluation.md").is_file()
    assert new["videos_scored"] == current["videos_scored"] == 2  # --evaluate-videos 2
    assert new["student"]["sha256"] == json.loads((run / "candidate.json").read_text())["sha256"]
    assert current["student"]["name"] == f"echoviewer bundled {DEFAULT_MODEL}"  # --current defaults to the bundled one
    assert card["metrics"]["summary"] == new["summary"]  # the scores travel with the model

    plan = json.loads((run / "plan.json").read_text())
    assert plan["teacher"] == "teacher" and plan["data"] == {"generate": {"n": 12, "seed": 0, "frames": "8"}}
    assert plan["student"]["model"] == "fast" and plan["student"]["epochs"] == 1 and plan["evaluate_videos"] == 2


@pytest.mark.slow
def test_json_progress_announces_every_stage_in_order_and_ends_with_done(shared) -> None:
    run, made = shared
    lines = json_lines(made.stdout)
    stages = [(i, line) for i, line in enumerate(lines) if line.get("stage") == "pipeline"
              and line.get("event") == "stage"]
    assert [line["name"] for _, line in stages] == STAGES
    assert [(line["index"], line["count"]) for _, line in stages] == [(i, 5) for i in range(1, 6)]
    announced = {line["name"]: i for i, line in stages}
    for name in ("generate", "targets", "train"):  # each stage's own progress follows its announcement
        first = next(i for i, line in enumerate(lines) if line.get("stage") == name)
        assert announced[name] < first, name
    assert announced["train"] < announced["evaluate"] < announced["export"]

    done = lines[-1]
    assert done["stage"] == "pipeline" and done["event"] == "done"
    assert done == {"stage": "pipeline", "event": "done", **json.loads((run / "result.json").read_text())}
    assert "done" in [line.get("event") for line in lines if line.get("stage") == "train"]


@pytest.mark.slow
def test_the_simulators_truth_skips_targets_and_a_data_folder_skips_generate(shared, tmp_path) -> None:
    data = shared[0] / "data"
    run = tmp_path / "truth"
    made = pipeline("--run", str(run), "--teacher", "truth", "--data", str(data), "--epochs", "1", "--batch", "2",
                    "--clip", "4", "--evaluate-videos", "1", "--progress", "json")
    assert made.returncode == 0, made.stderr[-3000:]
    stages = stage_lines(made.stdout)
    assert [line["name"] for line in stages] == ["train", "evaluate", "export"]
    assert [(line["index"], line["count"]) for line in stages] == [(1, 3), (2, 3), (3, 3)]
    assert not (run / "targets").exists() and not (run / "data").exists()
    assert " targets " not in made.stderr and " generate " not in made.stderr
    assert json.loads((run / "plan.json").read_text())["data"] == {"folder": str(data.resolve())}
    card = json.loads((run / "student.json").read_text())
    assert card["sha256"] == sha256(run / "student.onnx") and card["training"]["targets"] == "truth"
    for folder in ("evaluation", "evaluation-current"):  # --evaluate-videos 1 of the 2 TEST videos
        assert json.loads((run / folder / "evaluation.json").read_text())["videos_scored"] == 1
    assert json.loads((run / "result.json").read_text())["sha256"] == card["sha256"]


@pytest.mark.slow
def test_a_rerun_of_a_finished_run_redoes_nothing_and_exits_0(shared, tmp_path) -> None:
    run = tmp_path / "copy"
    shutil.copytree(shared[0], run)
    before = snapshot(run)
    left = [run / ".result.json.4242-0a1b2c3d.partial", run / "targets" / ".x.npz.4242-0a1b2c3d.partial",
            run / "evaluation" / ".evaluation.json.4242-0a1b2c3d.partial"]
    for stale in left:  # what kills in the last stages leave
        stale.write_bytes(b"half")
    again = pipeline("--run", str(run), "--progress", "json")
    assert again.returncode == 0, again.stderr[-3000:]
    steps = [line for line in again.stderr.splitlines() if line.startswith(("run: ", "skip (done): "))]
    # targets is always run (it skips every finished video itself); every other step is skipped
    assert [line.split()[1] if line.startswith("run: ") else "skip" for line in steps] == \
        ["skip", "python", "skip", "skip", "skip", "skip", "skip"], again.stderr
    assert " targets " in steps[1] and "0 written, 10 already done" in again.stderr
    after = snapshot(run)
    changed = [name for name in before if after.get(name) != before[name]]
    # result.json is written again, naming the files where the run now is, and the lock names its
    # new holder; nothing else is redone
    assert set(after) == set(before) and set(changed) <= {"result.json", "targets/targets.json",
                                                          ".pipeline.lock"}, changed
    moved = before["result.json"][1].decode().replace(str(shared[0]), str(run))
    assert json.loads((run / "result.json").read_text()) == json.loads(moved)
    assert json_lines(again.stdout)[-1]["event"] == "done"
    assert not any(stale.exists() for stale in left)


@pytest.mark.slow
def test_training_handed_to_another_machine_and_copied_back_finishes_the_run(shared, tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(shared[0], run)
    for name in ("train", "evaluation", "evaluation-current"):
        shutil.rmtree(run / name)
    for name in ("candidate.onnx", "candidate.json", "student.onnx", "student.json", "result.json"):
        (run / name).unlink()
    handed = pipeline("--run", str(run), "--progress", "json", "--train-elsewhere")
    assert handed.returncode == 3, handed.stderr[-3000:]
    (handoff,) = [line for line in json_lines(handed.stdout) if line.get("event") == "handoff"]
    assert handoff["copy"] == ["data", "targets"] and handoff["back"] == "train"
    assert "train elsewhere: copy data, targets" in handed.stderr and handoff["command"] in handed.stderr
    assert not (run / "train").exists()  # nothing trained here

    gpu = tmp_path / "gpu-box"  # the other machine: the copied folders and the printed command, run there
    for name in handoff["copy"]:
        shutil.copytree(run / name, gpu / name)
    command = shlex.split(handoff["command"])
    assert command[:3] == ["python", "-m", "distill"]
    trained = subprocess.run([sys.executable, *command[1:], "--progress", "none"], cwd=gpu, env=child_env(),
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert trained.returncode == 0, trained.stderr[-3000:]
    shutil.copytree(gpu / handoff["back"], run / "train")
    resumed = pipeline("--run", str(run), "--progress", "json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "skip (done): python -m distill train" in resumed.stderr
    assert json_lines(resumed.stdout)[-1]["event"] == "done" and (run / "student.onnx").is_file()


@pytest.mark.slow
def test_a_kill_between_the_first_best_pt_and_last_pt_still_resumes(shared, tmp_path) -> None:
    """The 7-10 ms window after the first epoch: best.pt and config.json written, last.pt not yet;
    and a temporary a kill left beside them. Before, no resume could ever start such a run."""
    run = tmp_path / "run"
    shutil.copytree(shared[0], run)
    for name in ("evaluation", "evaluation-current"):
        shutil.rmtree(run / name)
    for name in ("candidate.onnx", "candidate.json", "student.onnx", "student.json", "result.json",
                 "train/last.pt", "train/history.json", "train/summary.json"):
        (run / name).unlink()
    (run / "train" / ".last.pt.4242-0a1b2c3d.partial").write_bytes(b"half a checkpoint")
    resumed = pipeline("--run", str(run), "--progress", "json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json_lines(resumed.stdout)[-1]["event"] == "done"
    assert not [p for p in (run / "train").iterdir() if "partial" in p.name]
    assert json.loads((run / "train" / "summary.json").read_text())["epochs"] == 1


@pytest.mark.slow
def test_two_pipelines_on_one_run_are_refused_and_a_dead_holder_does_not_lock_it(shared, tmp_path) -> None:
    import fcntl

    run = tmp_path / "run"
    shutil.copytree(shared[0], run)
    with open(run / ".pipeline.lock", "a+") as held:  # another pipeline runs it now
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.truncate(0)
        held.write("4242")
        held.flush()
        second = pipeline("--run", str(run))
        assert second.returncode == 2
        assert one_error_line(second.stderr) == (f"error: {run} is in use by another process (pid 4242); "
                                                 "wait for it to end or stop it, then resume")
    lock_held_by_a_killed_process(run / ".pipeline.lock")
    again = pipeline("--run", str(run))
    assert again.returncode == 0, again.stderr[-3000:]


# --- refusals -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_new_run_options_for_a_folder_holding_a_plan_are_refused(shared, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(shared[0] / "plan.json", run)
    for extra in (NEW_RUN, ("--model", "convlstm"), ("--name", "other")):
        assert main(["pipeline", "--run", str(run), *extra]) == 2
        assert "already holds a run" in one_error_line(capsys.readouterr().err)
    assert [p.name for p in run.iterdir()] == ["plan.json"]
    assert (run / "plan.json").read_bytes() == (shared[0] / "plan.json").read_bytes()


def test_a_start_killed_while_it_wrote_the_plan_starts_again_with_the_same_command(tmp_path, monkeypatch) -> None:
    """bench/kills.py: a kill while plan.json was written left its temporary, and the original
    command then refused the folder as not empty; no command could start that run."""
    from distill import pipeline as pipeline_module

    run = tmp_path / "run"
    run.mkdir()
    (run / ".plan.json.4242-0a1b2c3d.partial").write_text('{"name": ')
    started = []
    monkeypatch.setattr(pipeline_module, "_run_locked", lambda args, plan: started.append(plan) or 0)
    assert main(["pipeline", "--run", str(run), *NEW_RUN]) == 0
    assert len(started) == 1 and sorted(p.name for p in run.iterdir()) == [".pipeline.lock", "plan.json"]


def test_a_new_run_without_a_teacher_or_data_is_refused(tmp_path, capsys) -> None:
    for argv in (TINY, ("--teacher", "teacher"), ("--teacher", "teacher", "--generate", "3", "--data", str(tmp_path))):
        run = tmp_path / "run"
        assert main(["pipeline", "--run", str(run), *argv]) == 2
        assert "--teacher" in one_error_line(capsys.readouterr().err)
        assert not run.exists()


def test_the_truth_teacher_with_a_folder_lacking_masks_is_refused(tmp_path, capsys) -> None:
    data = tmp_path / "real"
    (data / "Videos").mkdir(parents=True)
    run = tmp_path / "run"
    assert main(["pipeline", "--run", str(run), "--teacher", "truth", "--data", str(data)]) == 2
    assert "Masks" in one_error_line(capsys.readouterr().err)
    assert not run.exists()


def test_a_non_empty_folder_without_a_plan_is_refused(tmp_path, capsys) -> None:
    (tmp_path / "something.txt").write_text("mine")
    assert main(["pipeline", "--run", str(tmp_path), *NEW_RUN]) == 2
    assert "not empty" in one_error_line(capsys.readouterr().err)
    assert [p.name for p in tmp_path.iterdir()] == ["something.txt"]


@pytest.mark.slow
def test_an_unknown_model_is_refused_at_once_in_one_line(shared, tmp_path) -> None:
    """Before anything is generated or a plan written: else the folder holds a plan that can never finish."""
    run = tmp_path / "run"
    refused = pipeline("--run", str(run), "--teacher", "truth", "--data", str(shared[0] / "data"), "--model", "nosuch",
                       timeout=60)
    assert refused.returncode == 2
    assert "nosuch" in one_error_line(refused.stderr)
    assert not run.exists()


@pytest.mark.slow
def test_a_teacher_that_does_not_load_is_refused_before_any_data_is_made(tmp_path) -> None:
    run = tmp_path / "run"
    refused = pipeline("--run", str(run), "--teacher", str(tmp_path / "missing.onnx"), "--generate", "12",
                       "--frames", "8", timeout=60)
    assert refused.returncode == 2 and "missing.onnx" in one_error_line(refused.stderr)
    assert not run.exists()


@pytest.mark.slow
def test_a_relative_teacher_path_is_stored_absolute(shared, tmp_path, monkeypatch) -> None:
    """A run resumed from another working folder still finds its teacher."""
    monkeypatch.chdir(BUNDLED["teacher"].parent)
    plan = Plan.from_args(build_parser("pipeline").parse_args(
        ["pipeline", "--run", str(tmp_path / "run"), "--teacher", "teacher.onnx", "--generate", "12"]))
    assert plan.teacher == str(BUNDLED["teacher"].resolve()) and plan.current == DEFAULT_MODEL


# --- stop and resume ------------------------------------------------------------------------------

class Child:
    """``python -m distill pipeline ARGV`` started in the background: stdout read line by line in a
    thread (JSON lines kept), stderr to a file, stdin a pipe left open until :meth:`close_stdin`."""

    started = 0

    def __init__(self, tmp_path: Path, *argv: str) -> None:
        Child.started += 1
        self.err = tmp_path / f"stderr-{Child.started}.txt"
        with open(self.err, "w") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "distill", "pipeline", *argv], cwd=ROOT,
                                            env=child_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                            stderr=err, text=True)
        self.lines: list[dict] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            if line.startswith("{"):
                self.lines.append(json.loads(line))

    def wait_for(self, ready, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not ready(self.lines):
            assert self.process.poll() is None, f"ended with {self.process.returncode}: {self.stderr()[-2000:]}"
            assert time.monotonic() < deadline, self.stderr()[-2000:]
            time.sleep(0.01)

    def close_stdin(self) -> None:
        if not self.process.stdin.closed:
            self.process.stdin.close()

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self.reader.join(10)
        return code

    def end(self) -> None:
        """Kill the child if a failed check left it running; close its pipes."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.close_stdin()
        self.reader.join(10)
        self.process.stdout.close()

    def stderr(self) -> str:
        return self.err.read_text()


def training_step_after_epoch_1(lines: list[dict]) -> bool:
    """A training step line after the first epoch ended (so ``train/last.pt`` exists)."""
    epoch = next((i for i, line in enumerate(lines) if line.get("stage") == "train" and line.get("event") == "epoch"),
                 None)
    return epoch is not None and any(line.get("stage") == "train" and "done" in line for line in lines[epoch + 1:])


def long_run(shared: Path, run: Path, *extra: str) -> list[str]:
    """A run on the shared data with the truth (no generate, no targets): training comes first."""
    return ["--run", str(run), "--teacher", "truth", "--data", str(shared / "data"), "--epochs", "30",
            "--patience", "100", "--batch", "2", "--clip", "4", "--evaluate-videos", "1", "--progress", "json",
            *extra]


@pytest.mark.slow
def test_sigterm_stops_within_a_step_and_the_run_resumes_to_the_end_with_exit_0(shared, tmp_path) -> None:
    run = tmp_path / "run"
    child = Child(tmp_path, *long_run(shared[0], run))
    try:
        child.wait_for(training_step_after_epoch_1)
        child.process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        code = child.wait(timeout=60)
    finally:
        child.end()
    assert code == 130, child.stderr()[-2000:]
    assert time.monotonic() - sent < 10
    err = child.stderr()
    assert f"python -m distill pipeline --run {run}" in err and "Traceback" not in err
    assert (run / "train" / "last.pt").is_file() and (run / "plan.json").is_file()
    assert not (run / "result.json").exists() and not (run / "train" / "summary.json").exists()
    assert not (run / "student.onnx").exists()
    epochs_done = len(json.loads((run / "train" / "history.json").read_text()))
    assert 1 <= epochs_done < 30

    # `--run DIR` alone (with --stop-on-eof and stdin left open, as the wizard starts it) finishes the run
    # and exits 0: its stdin watcher must not abort the interpreter's shutdown (a daemon thread blocked
    # in sys.stdin.buffer did: "Fatal Python error: ... could not acquire lock ...", exit -6)
    resumed = Child(tmp_path, "--run", str(run), "--progress", "json", "--stop-on-eof")
    try:
        code = resumed.wait(timeout=180)
    finally:
        resumed.end()
    err = resumed.stderr()
    assert code == 0, err[-3000:]
    assert "Fatal Python error" not in err and "Traceback" not in err
    train_step = next(line for line in err.splitlines() if line.startswith("run: ") and " train " in line)
    assert "--resume" in train_step
    history = json.loads((run / "train" / "history.json").read_text())
    assert [row["epoch"] for row in history] == list(range(1, 31))
    assert json.loads((run / "result.json").read_text())["sha256"] == sha256(run / "student.onnx")
    assert resumed.lines[-1]["event"] == "done"


@pytest.mark.slow
def test_the_end_of_stdin_stops_a_run_with_stop_on_eof_and_an_open_stdin_does_not(shared, tmp_path) -> None:
    run = tmp_path / "run"
    child = Child(tmp_path, *long_run(shared[0], run, "--stop-on-eof"))
    try:
        child.wait_for(training_step_after_epoch_1)
        steps = len(child.lines)
        time.sleep(0.5)  # stdin is open: training goes on
        assert child.process.poll() is None and len(child.lines) > steps
        child.close_stdin()
        code = child.wait(timeout=60)
    finally:
        child.end()
    err = child.stderr()
    assert code == 130, err[-2000:]
    assert f"--run {run}" in err and "Traceback" not in err
    assert (run / "train" / "last.pt").is_file() and not (run / "result.json").exists()


# --- EchoNetFolder.split with several splits ------------------------------------------------------

@pytest.mark.slow
def test_split_takes_a_comma_separated_union_and_all(shared) -> None:
    folder = EchoNetFolder(shared[0] / "data")
    names = {split: {r.name for r in folder.split(split)} for split in ("TRAIN", "VAL", "TEST")}
    assert all(names.values()) and len(folder.records) == 12
    union = {r.name for r in folder.split("TRAIN,VAL")}
    assert union == names["TRAIN"] | names["VAL"] and not union & names["TEST"]
    assert {r.name for r in folder.split(" val , train")} == union
    assert len(folder.split("TRAIN,VAL")) == len(names["TRAIN"]) + len(names["VAL"])  # no duplicates
    assert [r.name for r in folder.split("all")] == [r.name for r in folder.records]
    assert folder.split("NOSUCH") == []
