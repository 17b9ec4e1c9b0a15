"""``python -m distill probe``: one JSON line on success, one ``error:`` line and exit 2 otherwise."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import cv2
import numpy as np
import pytest

from distill.cli import main
from distill.datasets.echonet import hash_split
from distill.segmenters.base import Segmenter
from tests.helpers import (
    ROOT,
    SUBPROCESS_ENV,
    distill_child,
    one_error_line,
    torch_on_one_thread,
)

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

assert torch_on_one_thread  # an autouse fixture, imported to take effect here


def probe(capsys, *argv: str) -> dict:
    """``probe ARGV`` in process: its one JSON line."""
    assert main(["probe", *argv]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def probe_error(capsys, *argv: str) -> str:
    """``probe ARGV`` in process: exit 2 and the one error line."""
    assert main(["probe", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return one_error_line(captured.err)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("probe") / "data"
    assert main(["generate", "--out", str(out), "--n", "12", "--frames", "8", "--size", "32",
                 "--progress", "none"]) == 0
    return out


# --- teacher -------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_bundled_teacher_finds_the_simulated_ventricle() -> None:
    child = distill_child("probe", "teacher", "teacher")
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert len(child.stdout.splitlines()) == 1
    assert result["kind"] == "onnx" and result["needs_truth"] is False and result["parameters"] > 0
    assert result["input"] == {"height": 112, "width": 112, "channels": 1}
    test = result["test"]
    assert test["frames"] == 4 and test["output_shape"] == [4, 112, 112] and test["seconds"] > 0
    assert 0.02 < test["mask_fraction"] < 0.3
    assert test["dice_vs_simulator"] > 0.85  # 0.97 for seed 0


def test_truth_needs_the_simulator_masks(capsys) -> None:
    result = probe(capsys, "teacher", "truth")
    assert result["kind"] == "truth" and result["needs_truth"] is True and result["test"] is None


def _torch_dict(path: Path) -> None:
    import torch

    torch.save({"weights": torch.zeros(3)}, path)


@pytest.mark.parametrize("name, write", [
    ("corrupt.onnx", lambda path: path.write_bytes(np.random.default_rng(0).bytes(4096))),
    ("noise.pt", lambda path: path.write_bytes(np.random.default_rng(1).bytes(4096))),
    ("foreign.pt", _torch_dict),  # a torch file, but neither a distill nor an EchoNet checkpoint
])
def test_a_damaged_or_foreign_model_file_is_named_in_one_line(capsys, tmp_path, name, write) -> None:
    path = tmp_path / name
    write(path)
    shutil.copy(ROOT / "echoviewer/resources/models/teacher.json", path.with_suffix(".json"))
    assert str(path) in probe_error(capsys, "teacher", str(path))


class _Fake(Segmenter):
    def __init__(self, make) -> None:
        self.make = make

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        return self.make(frames.shape).astype(np.float32)


@pytest.mark.parametrize("make, message", [
    (np.zeros, "found no left ventricle"),
    (lambda shape: np.full(shape, np.nan), "NaN"),
    (lambda shape: np.full(shape, 2.0), "leaves [0, 1]"),
    (lambda shape: np.ones(shape[1:]), "has shape"),
])
def test_unusable_teacher_output_is_refused(capsys, monkeypatch, make, message) -> None:
    monkeypatch.setattr("distill.segmenters.registry.load_segmenter", lambda spec: _Fake(make))
    line = probe_error(capsys, "teacher", "fake")
    assert line.startswith("error: fake: ") and message in line


# --- data ----------------------------------------------------------------------------------------

def test_a_generated_folder_is_counted(dataset) -> None:
    child = distill_child("probe", "data", str(dataset))
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["layout"] == "echonet" and result["videos"] == 12 and result["missing"] == 0
    assert sum(result["splits"].values()) == 12 and min(result["splits"].values()) > 0
    assert result["truth"] is True and result["bytes"] > 0
    examples = [Path(path) for path in result["examples"]]
    assert len(examples) == 4 and all(path.is_absolute() and path.is_file() for path in examples)
    splits = [hash_split(path.stem) for path in examples]
    assert splits[:result["splits"]["TEST"]] == ["TEST"] * result["splits"]["TEST"]  # TEST videos first


def test_plain_avis_without_masks(capsys, dataset, tmp_path) -> None:
    for video in (dataset / "Videos").iterdir():
        shutil.copy(video, tmp_path)
    result = probe(capsys, "data", str(tmp_path))
    assert result["layout"] == "plain" and result["videos"] == 12 and result["truth"] is False


@pytest.mark.slow
def test_a_folder_without_videos_is_refused(tmp_path) -> None:
    child = distill_child("probe", "data", str(tmp_path))  # the command line's contract: exit 2, one line
    assert child.returncode == 2 and child.stdout == ""
    assert "holds no .avi videos" in one_error_line(child.stderr)
    (tmp_path / "notes.txt").write_text("no videos here")
    child = distill_child("probe", "data", str(tmp_path))
    assert child.returncode == 2 and "holds no .avi videos" in one_error_line(child.stderr)
    assert child.stdout == ""


def test_a_missing_split_is_refused(capsys, dataset, tmp_path) -> None:
    shutil.copy(dataset / "Videos/synth_000001.avi", tmp_path)  # one video: TRAIN only
    line = probe_error(capsys, "data", str(tmp_path))
    assert "the VAL split has no videos" in line and "~10 videos" in line
    assert "not a folder" in probe_error(capsys, "data", str(tmp_path / "synth_000001.avi"))


# --- generate ------------------------------------------------------------------------------------

def test_generate_estimates_and_thumbnails(capsys, tmp_path) -> None:
    result = probe(capsys, "generate", "--n", "500", "--frames", "4", "--size", "48", "--seed", "3",
                   "--out", str(tmp_path / "new/data"), "--thumbnails", str(tmp_path / "thumbs"))
    assert result["n"] == 500 and result["seconds_per_cine"] > 0 and result["bytes_per_cine"] > 0
    assert result["estimated_bytes"] == round(result["bytes_per_cine"] * 500 * 1.1)
    assert result["estimated_seconds"] > 0 and result["free_bytes"] > 0
    assert [Path(path).name for path in result["thumbnails"]] == [f"synth_00000{i}.png" for i in range(3)]
    thumbs = [cv2.imread(path, cv2.IMREAD_UNCHANGED) for path in result["thumbnails"]]
    assert all(t.shape == (112, 112) and t.dtype == np.uint8 and t.max() > 0 for t in thumbs)
    assert not np.array_equal(thumbs[0], thumbs[1])


def test_generate_refuses_a_full_disk(capsys, monkeypatch, tmp_path) -> None:
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 1000, 1000))
    line = probe_error(capsys, "generate", "--n", "10", "--frames", "4", "--size", "32", "--out", str(tmp_path / "x"))
    assert f"not enough disk space at {tmp_path}" in line and "choose fewer cines" in line


def test_data_and_generate_do_not_import_torch(dataset, tmp_path) -> None:
    code = ("import sys; from distill.cli import main; "
            f"assert main(['probe', 'data', {str(dataset)!r}]) == 0; "
            f"assert main(['probe', 'generate', '--n', '2', '--frames', '2', '--size', '32', '--thumbnails', "
            f"{str(tmp_path)!r}]) == 0; print('torch' in sys.modules)")
    child = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True,
                           text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines()[-1] == "False"


# --- student -------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, parameters, temporal", [("fast", 111_361, "clip"),
                                                         ("convlstm:1x1", 5_701, "recurrent")])
def test_student_parameters_and_step_time(capsys, model, parameters, temporal) -> None:
    result = probe(capsys, "student", model, "--batch", "1", "--clip", "2", "--size", "32", "--steps", "1")
    assert result == {**result, "model": model, "parameters": parameters, "temporal": temporal}
    assert result["step_seconds"] > 0 and result["threads"] >= 1


def test_an_unknown_student_is_refused(capsys) -> None:
    assert "unknown network 'resnet'" in probe_error(capsys, "student", "resnet")
