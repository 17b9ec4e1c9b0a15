"""The learned generator: trained on labelled frames, it draws cines that ``generate`` writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from distill.cli import main
from distill.echogen.generator import generate_cine, load_generator
from distill.echogen.render import Grain, fit_grain
from distill.echogen.shapes import ATRIUM, CAVITY, MYOCARDIUM, ShapeSource, label_cine
from distill.errors import UsageError
from tests.helpers import one_error_line
from tests.test_train_teacher import camus_npz

pytestmark = pytest.mark.torch


def ellipse(shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    return ((cols - centre[0]) / axes[0]) ** 2 + ((rows - centre[1]) / axes[1]) ** 2 <= 1


def source(shape: tuple[int, int] = (112, 112)) -> ShapeSource:
    def label(half_width: float) -> np.ndarray:
        out = np.zeros(shape, np.uint8)
        out[ellipse(shape, (56, 90), (20, 12))] = ATRIUM
        out[ellipse(shape, (56, 50), (half_width + 6, 38))] = MYOCARDIUM
        out[ellipse(shape, (56, 50), (half_width, 32))] = CAVITY
        return out
    return ShapeSource("patient0001_4CH", "A4C", label(18), label(12))


def test_a_label_cine_beats_between_its_sources_ed_and_es() -> None:
    cine = label_cine(source(), np.random.default_rng(0), n_frames=60, fps=30, heart_rate_bpm=75)
    area = (cine.labels == CAVITY).sum(axis=(1, 2))
    assert cine.ed_frames and cine.es_frames
    assert all(area[ed] > area[es] for ed in cine.ed_frames for es in cine.es_frames)
    assert area.max() / area.min() > 1.15  # it contracts
    assert set(np.unique(cine.labels)) <= {0, CAVITY, MYOCARDIUM, ATRIUM}
    again = label_cine(source(), np.random.default_rng(0), n_frames=60, fps=30, heart_rate_bpm=75)
    assert np.array_equal(cine.labels, again.labels)


def test_the_grain_fit_recovers_the_scale_of_blurred_noise() -> None:
    import cv2

    from distill.echogen.render import residual_correlation

    rng = np.random.default_rng(1)
    noise = np.stack([cv2.GaussianBlur(rng.standard_normal((96, 96)).astype(np.float32), (0, 0), sigmaX=2.0, sigmaY=1.0)
                      for _ in range(8)])
    valid = np.ones(noise.shape, bool)
    grain = fit_grain(residual_correlation(noise, valid, 2), residual_correlation(noise, valid, 1))
    assert grain.fine_x == pytest.approx(2.0, abs=0.4) and grain.fine_y == pytest.approx(1.0, abs=0.3)
    assert grain.coarse_share < 0.15
    assert isinstance(grain, Grain)


@pytest.fixture(scope="module")
def generator(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("echogen")
    labelled = camus_npz(root / "camus.npz", 10, height=112, width=112)
    out = root / "generator"
    assert main(["train-generator", "--labelled", str(labelled), "--out", str(out), "--epochs", "1",
                 "--val-share", "0.3", "--progress", "none"]) == 0
    return out


@pytest.mark.slow
def test_a_trained_generator_records_its_data_and_licence_and_draws_a_cine(generator) -> None:
    card = json.loads((generator / "generator.json").read_text())
    assert card["licence"]["licence"] == "CC BY-NC-SA 4.0" and card["shapes"] > 0
    assert card["data"]["held_out_patients"] > 0 and card["validation"]["mae_grey"] > 0
    loaded = load_generator(str(generator))
    cine = generate_cine(loaded, np.random.default_rng(0), n_frames=12, fps=30)
    assert cine.frames.shape == (12, 112, 112) and cine.frames.dtype == np.uint8
    assert cine.masks.shape == cine.frames.shape and cine.masks.any(axis=(1, 2)).all()
    assert cine.frames.std() > 5  # grain, not a flat picture


@pytest.mark.slow
def test_generate_writes_a_learned_set_and_refuses_another_generator_on_resume(generator, tmp_path, capsys) -> None:
    out = tmp_path / "set"
    argv = ["generate", "--out", str(out), "--n", "3", "--frames", "10", "--generator", str(generator),
            "--generator-share", "0.5", "--progress", "none"]
    assert main(argv) == 0
    names = sorted(path.stem for path in (out / "Videos").glob("*.avi"))
    assert len(names) == 3 and len((out / "FileList.csv").read_text().splitlines()) == 4
    kinds = {json.loads(str(np.load(out / "Masks" / f"{name}.npz")["params_json"])).get("generator", "simulator")
             for name in names}
    assert kinds == {"label-to-echo", "simulator"} or len(kinds) == 1  # a 50 % share over 3 cases
    assert main([*argv[:-2], "--generator-share", "1.0", "--resume", "--progress", "none"]) == 2
    assert "other settings (generator)" in one_error_line(capsys.readouterr().err)


@pytest.mark.slow
def test_the_probe_times_the_generators_cines_beside_the_simulators(generator, capsys) -> None:
    """The wizard's estimate for a run drawn half by the generator weighs both kinds of cine."""
    def probe(*extra: str) -> dict:
        assert main(["probe", "generate", "--n", "100", "--frames", "8", "--seed", "1", *extra]) == 0
        return json.loads(capsys.readouterr().out)

    simulated, half = probe(), probe("--generator", str(generator), "--generator-share", "0.5")
    everything = probe("--generator", str(generator), "--generator-share", "1")
    assert half["seconds_per_cine"] > 0 and everything["seconds_per_cine"] > 0
    # the half-and-half estimate lies between the two pure ones (each timed on its own first case)
    low, high = sorted((simulated["bytes_per_cine"], everything["bytes_per_cine"]))
    assert low * 0.8 <= half["bytes_per_cine"] <= high * 1.2


def test_a_folder_that_is_not_a_generator_is_one_clear_error(tmp_path, capsys) -> None:
    with pytest.raises(UsageError, match="not a generator folder"):
        load_generator(str(tmp_path))
    assert main(["generate", "--out", str(tmp_path / "x"), "--n", "1", "--generator", str(tmp_path)]) == 2
    assert "train-generator" in one_error_line(capsys.readouterr().err)


def test_a_student_card_inherits_the_licences_of_its_teacher_and_generator(tmp_path) -> None:
    from distill.export import inherited

    licence = {"licence": "CC BY-NC-SA 4.0", "use": "research"}
    (tmp_path / "teacher.json").write_text(json.dumps({"data": {"name": "camus_train.npz"}, "licence": licence}))
    generator, data = tmp_path / "gen", tmp_path / "data"
    generator.mkdir()
    data.mkdir()
    (generator / "generator.json").write_text(json.dumps({"data": {"path": "camus_train.npz"}, "licence": licence}))
    (data / "synth.json").write_text(json.dumps({"generator": {"folder": str(generator)}}))
    teacher, licences = inherited({"name": "t", "path": str(tmp_path / "teacher.onnx")}, str(data))
    assert teacher["data"] == {"name": "camus_train.npz"} and teacher["licence"] == licence
    assert licences["teacher"] == licence and licences["generator"]["licence"] == "CC BY-NC-SA 4.0"
    plain_teacher, none = inherited({"name": "bundled", "path": str(tmp_path / "missing.onnx")}, None)
    assert plain_teacher == {"name": "bundled", "path": str(tmp_path / "missing.onnx")} and none == {}
