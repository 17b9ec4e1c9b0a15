"""Bad models and bad data given to ``python -m distill``: one ``error:`` line naming the file, exit 2,
nothing executed from a file, and nothing half-written left behind."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import pytest
import torch

import distill.export
from distill.cli import main
from distill.export import ExportError, export
from tests.helpers import distill_child, one_error_line, tiny_dataset, tiny_run, torch_on_one_thread

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

assert torch_on_one_thread  # an autouse fixture, imported to take effect here
SIDECAR = {"input": {"layout": "NCHW", "channels": 1, "height": 112, "width": 112, "mean": [0], "std": [1]},
           "output": {"activation": "sigmoid"}, "temporal": "frame"}


class OpensAFile:
    """Unpickling this calls ``open(path, "w")``: a file appears if a loader runs pickled code."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def fixed_onnx(tmp_path_factory) -> Path:
    """A tiny ONNX model with a fixed 1×3×64×64 input (no sidecar)."""
    path = tmp_path_factory.mktemp("onnx") / "fixed.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Conv2d(3, 1, 1), (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False,
                          opset_version=17, input_names=["x"], output_names=["y"])
    return path


def with_sidecar(model: Path, folder: Path, sidecar: str, name: str = "model.onnx") -> Path:
    folder.mkdir(exist_ok=True)
    copy = folder / name
    copy.write_bytes(model.read_bytes())
    copy.with_suffix(".json").write_text(sidecar)
    return copy


def refused(capsys, argv: list[str], *, naming: Path | str) -> str:
    """Run the CLI; it must exit 2 with one error line that names ``naming``."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    line = one_error_line(captured.err)
    assert str(naming) in line and "Traceback" not in captured.err
    return line


def bad_models(tmp_path: Path, fixed_onnx: Path, fast_pt: Path) -> dict[str, tuple[Path, Path, str]]:
    """name -> (--teacher argument, the file the message must name, a word the message must hold)."""
    text = tmp_path / "x.pt"
    text.write_text("not a checkpoint\n")
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(fast_pt.read_bytes()[:3000])
    pickled = tmp_path / "pickled.pt"
    pickled.write_bytes(pickle.dumps({"state_dict": OpensAFile(tmp_path / "MARKER")}))
    zipped = tmp_path / "zipped.pt"
    torch.save({"format": "x", "payload": OpensAFile(tmp_path / "MARKER")}, zipped)
    bare = tmp_path / "bare" / "model.onnx"
    bare.parent.mkdir()
    bare.write_bytes(fixed_onnx.read_bytes())
    mismatch = with_sidecar(fixed_onnx, tmp_path / "mismatch", json.dumps(SIDECAR))
    broken_json = with_sidecar(fixed_onnx, tmp_path / "broken_json", "{not json")
    not_object = with_sidecar(fixed_onnx, tmp_path / "not_object", "[1, 2]")
    garbage = tmp_path / "garbage" / "model.onnx"
    with_sidecar(fixed_onnx, garbage.parent, json.dumps(SIDECAR)).write_bytes(b"\x08\x07garbage" * 20)
    return {
        "text file named .pt": (text, text, "checkpoint"),
        "truncated checkpoint": (truncated, truncated, "checkpoint"),
        "pickle with code": (pickled, pickled, "checkpoint"),
        "torch.save with code": (zipped, zipped, "checkpoint"),
        "onnx without sidecar": (bare, bare.with_suffix(".json"), "sidecar"),
        "sidecar disagrees with the input": (mismatch, mismatch, "[1, 3, 64, 64]"),
        "sidecar not json": (broken_json, broken_json.with_suffix(".json"), "sidecar"),
        "sidecar not an object": (not_object, not_object.with_suffix(".json"), "sidecar"),
        "damaged onnx": (garbage, garbage, "ONNX"),
        "missing file": (tmp_path / "nope.pt", tmp_path / "nope.pt", "no such"),
    }


@pytest.mark.slow
def test_every_bad_model_is_refused_in_one_line_without_running_its_code(data, tmp_path, tmp_path_factory,
                                                                         fixed_onnx, capsys) -> None:
    models = bad_models(tmp_path, fixed_onnx, tiny_run(tmp_path_factory, "fast") / "best.pt")
    for name, (argument, named, word) in models.items():
        out = tmp_path / "targets"
        line = refused(capsys, ["targets", "--teacher", str(argument), "--data", str(data), "--out", str(out),
                                "--progress", "none"], naming=named)
        assert word in line, (name, line)
        assert not out.exists(), name  # refused before anything was written
    assert not (tmp_path / "MARKER").exists()
    # the payload is live: a plain unpickler does create the marker
    pickle.loads((tmp_path / "pickled.pt").read_bytes())["state_dict"].close()
    assert (tmp_path / "MARKER").exists()


@pytest.mark.slow
def test_a_bad_student_is_refused_by_evaluate_in_one_line_of_a_child_process(data, tmp_path) -> None:
    student = tmp_path / "student.pt"  # torch warns about this pickle's protocol: none of it may show
    student.write_bytes(pickle.dumps({"state_dict": OpensAFile(tmp_path / "MARKER")}, protocol=4))
    result = distill_child("evaluate", "--student", str(student), "--teacher", "truth", "--data", str(data),
                           "--out", str(tmp_path / "eval"), "--progress", "none")
    assert result.returncode == 2 and str(student) in one_error_line(result.stderr), result.stderr
    assert not (tmp_path / "eval").exists() and not (tmp_path / "MARKER").exists()


def test_bad_data_folders_are_refused_in_one_line(tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    no_column = tmp_path / "no_column"
    (no_column / "Videos").mkdir(parents=True)
    (no_column / "Videos" / "a.avi").write_bytes(b"RIFF")
    (no_column / "FileList.csv").write_text("Name,Split\na,TRAIN\n")
    for folder, named, word in ((empty, empty, "no videos"), (no_column, no_column / "FileList.csv", "FileName"),
                                (tmp_path / "absent", tmp_path / "absent", "no such folder")):
        line = refused(capsys, ["targets", "--teacher", "truth", "--data", str(folder), "--out",
                                str(tmp_path / "targets"), "--progress", "none"], naming=named)
        assert word in line
    assert not (tmp_path / "targets").exists()


@pytest.mark.slow
def test_training_without_its_targets_is_refused_and_leaves_the_folder_reusable(data, tmp_path, capsys) -> None:
    missing, run = tmp_path / "no_targets", tmp_path / "run"
    argv = ["train", "--data", str(data), "--out", str(run), "--epochs", "1", "--batch", "2", "--clip", "4",
            "--progress", "none"]
    line = refused(capsys, [*argv, "--targets", str(missing)], naming=missing)
    assert "distill targets" in line
    assert not run.exists() or not any(run.iterdir())
    assert main([*argv, "--targets", "truth"]) == 0  # the same --out, once the targets are right


@pytest.mark.slow
def test_a_failed_export_check_writes_neither_the_model_nor_its_card(data, tmp_path, tmp_path_factory,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(distill.export, "TOLERANCE", 0.0)  # no difference is below 0
    out = tmp_path / "models" / "fast.onnx"
    with pytest.raises(ExportError, match="not written"):
        export(tiny_run(tmp_path_factory, "fast") / "best.pt", out, name="fast", data=data)
    assert list(out.parent.iterdir()) == []  # no .onnx, no .json, no hidden partial file
