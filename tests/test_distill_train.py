"""``distill train``: its files, seeded reproducibility, cancel and resume, JSON progress, refusals,
Ctrl-C, and two-process DistributedDataParallel on the CPU.

Everything runs on one tiny synthetic set (10 cines of 32 frames at 32×32) for two epochs, so the
numbers learnt mean nothing; only the command's promises are checked.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from distill.cli import main
from distill.networks import build
from distill.networks.checkpoints import FORMAT, load_checkpoint, read_checkpoint
from distill.train import Cancelled, TrainConfig, train
from tests.helpers import (ROOT, SUBPROCESS_ENV, ctrl_c_child, distill_child, one_error_line, tiny_dataset,
                           tiny_run, torch_on_one_thread)

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

assert torch_on_one_thread  # an autouse fixture, imported to take effect here
MODELS = ("convlstm:1x1", "fast")
RUN_FILES = {"config.json", "last.pt", "best.pt", "history.json", "summary.json"}


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory)


def config(data: Path, out: Path, model: str = "fast", **changes) -> TrainConfig:
    settings = {"model": model, "epochs": 2, "batch": 2, "clip": 8, **changes}
    return TrainConfig(str(data), "truth", str(out), **settings)


def cli(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--data", str(data), "--targets", "truth", "--out", str(out), "--epochs", "2", "--batch", "2",
            "--clip", "8", "--progress", "none", *extra]  # a later option of the same name wins


def weights(run: Path, name: str = "last.pt") -> dict[str, torch.Tensor]:
    return read_checkpoint(run / name)["state_dict"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [key for key in a if not torch.equal(a[key], b[key])]
    assert not different, different


def partials(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if "partial" in path.name]


# --- files ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_a_run_writes_its_files_and_best_pt_is_plain_data(tmp_path_factory, model) -> None:
    run = tiny_run(tmp_path_factory, model)
    assert {path.name for path in run.iterdir()} == RUN_FILES
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["model"] == model and "epochs" not in saved["identity"]
    history = json.loads((run / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2] and all(row["val_loss"] > 0 for row in history)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["world_size"] == 1 and len(summary["weights_sha256_per_rank"]) == 1
    assert summary["best_val_loss"] == min(row["val_loss"] for row in history)

    payload = torch.load(run / "best.pt", map_location="cpu", weights_only=True)  # no code runs
    assert payload["format"] == FORMAT and payload["epoch"] == summary["best_epoch"]
    network, checkpoint = load_checkpoint(run / "best.pt")
    assert not network.training and network.config() == build(model).config() == checkpoint["config"]
    assert_same_weights(network.state_dict(), payload["state_dict"])
    assert json.loads(checkpoint["train"])["model"] == model


# --- reproducibility, cancel, resume ----------------------------------------------------------------

@pytest.mark.parametrize("model", MODELS)
def test_the_same_seed_gives_the_same_weights(data, tmp_path_factory, tmp_path, model) -> None:
    again = train(config(data, tmp_path / "again", model))
    assert again["weights_sha256_per_rank"] == json.loads(
        (tiny_run(tmp_path_factory, model) / "summary.json").read_text())["weights_sha256_per_rank"]
    assert_same_weights(weights(tmp_path / "again"), weights(tiny_run(tmp_path_factory, model)))
    other = train(config(data, tmp_path / "other", model, seed=1))
    assert other["weights_sha256_per_rank"] != again["weights_sha256_per_rank"]


@pytest.mark.parametrize("model", MODELS)
def test_cancelled_in_epoch_2_then_resumed_equals_an_uninterrupted_run(data, tmp_path_factory, tmp_path,
                                                                       model) -> None:
    out, checks = tmp_path / "run", []
    steps_per_epoch = 7 // 2  # TRAIN videos // batch
    # one step of epoch 2 runs (and is thrown away) before the cancel
    with pytest.raises(Cancelled, match="--resume"):
        train(config(data, out, model), cancelled=lambda: checks.append(1) or len(checks) > steps_per_epoch + 1)
    assert read_checkpoint(out / "last.pt")["epoch"] == 1 and not (out / "summary.json").exists()
    assert not partials(out)
    summary = train(config(data, out, model), resume=True)
    assert summary["epochs"] == 2
    assert_same_weights(weights(out), weights(tiny_run(tmp_path_factory, model)))
    assert_same_weights(weights(out, "best.pt"), weights(tiny_run(tmp_path_factory, model), "best.pt"))
    assert [row["epoch"] for row in json.loads((out / "history.json").read_text())] == [1, 2]


def test_cancel_takes_effect_before_the_next_step(data, tmp_path) -> None:
    events, flag = [], {"set": False}

    def on_progress(event: dict) -> None:
        events.append(event)
        if event.get("epoch") == 2 and event.get("step") == 2:
            flag["set"] = True

    with pytest.raises(Cancelled):
        train(config(data, tmp_path / "run", epochs=3), on_progress=on_progress, cancelled=lambda: flag["set"])
    set_at = next(i for i, e in enumerate(events) if e.get("epoch") == 2 and e.get("step") == 2)
    assert events[set_at + 1:] == []  # not one more step, no epoch event


def test_cancel_in_the_first_epoch_leaves_the_folder_free_for_a_fresh_start(data, tmp_path) -> None:
    out = tmp_path / "run"
    with pytest.raises(Cancelled):
        train(config(data, out), cancelled=lambda: True)
    assert list(out.iterdir()) == []  # no checkpoint, and no config.json that would block a retry
    assert train(config(data, out, epochs=1))["epochs"] == 1


# --- command line --------------------------------------------------------------------------------

@pytest.mark.slow
def test_json_progress_is_one_json_object_a_line(data, tmp_path) -> None:
    result = distill_child(*cli(data, tmp_path / "run", "--progress", "json"))
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines and all("stage" in line for line in lines)
    progress = [line for line in lines if "event" not in line]
    assert progress and all({"done", "total", "eta_s"} <= line.keys() for line in progress)
    train_lines = [line for line in progress if line["stage"] == "train"]
    assert train_lines[-1]["done"] == train_lines[-1]["total"] == 2 * 3
    epochs = [line for line in lines if line.get("event") == "epoch"]
    assert [line["epoch"] for line in epochs] == [1, 2] and all(line["val_loss"] > 0 for line in epochs)
    assert lines[-1]["event"] == "done" and lines[-1]["epochs"] == 2 and lines[-1]["world_size"] == 1


def test_refuses_a_non_empty_folder_and_a_resume_with_other_settings(data, tmp_path_factory, tmp_path,
                                                                     capsys) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run(tmp_path_factory, "fast"), run)
    before = {path.name: path.read_bytes() for path in run.iterdir()}
    assert main(cli(data, run)) == 2
    assert "not empty" in one_error_line(capsys.readouterr().err)
    assert main(cli(data, run, "--resume", "--lr", "0.01")) == 2
    assert "other settings" in one_error_line(capsys.readouterr().err)
    assert main(cli(data, tmp_path / "new", "--resume")) == 2
    assert "nothing to resume" in one_error_line(capsys.readouterr().err)
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


@pytest.mark.slow
def test_ctrl_c_stops_after_a_finished_epoch_and_says_how_to_resume(data, tmp_path) -> None:
    run = tmp_path / "run"
    argv = cli(data, run, "--epochs", "10000", "--patience", "10000")
    code, err = ctrl_c_child(argv, ready=(run / "last.pt").is_file)  # a finished epoch
    assert code == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert not partials(run) and not (run / "summary.json").exists()
    epoch = load_checkpoint(run / "last.pt")[1]["epoch"]
    assert epoch >= 1 and len(json.loads((run / "history.json").read_text())) == epoch
    assert main([*cli(data, run, "--epochs", str(epoch + 1)), "--resume"]) == 0
    assert json.loads((run / "summary.json").read_text())["epochs"] == epoch + 1


# --- DistributedDataParallel --------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_with_gloo_and_agree_on_the_weights(data, tmp_path) -> None:
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(free_port()), "-m", "distill", *cli(data, run, "--batch", "4")]
    result = subprocess.run(command, cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["epochs"] == 2
    first, second = summary["weights_sha256_per_rank"]
    assert first == second
    assert {path.name for path in run.iterdir()} == RUN_FILES
    load_checkpoint(run / "best.pt")
