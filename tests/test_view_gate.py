"""The view gate: non-apical views get ``view_not_apical`` in the JSON, CSV, CLI line and viewer,
and EF and volumes are marked as not to be trusted; apical ones pass."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
from helpers import write_dicom

from distill.synth.simulator import simulate
from distill.synth.views import OTHER_VIEWS, simulate_view
from echoviewer.analysis import analyze, load_model
from echoviewer.analysis.view_gate import CODE, ViewGate, score_view, view_frames
from echoviewer.cli import main as echoviewer_main
from echoviewer.io import load_cine
from echoviewer.resources import SAMPLE_CINE

SEEDS = range(900, 906)  # not among train-view-gate's cases (those are seeded [2025, i] and [2026, i])


def _npz(path: Path, frames: np.ndarray) -> Path:
    np.savez(path, frames=frames, fps=np.float64(30.0))
    return path


def test_other_views_are_seeded_sector_cines() -> None:
    for view in OTHER_VIEWS:
        frames, sector = simulate_view(7, view, n_frames=3)
        again, _ = simulate_view(7, view, n_frames=3)
        assert frames.shape == (3, 112, 112) and frames.dtype == np.uint8 and np.array_equal(frames, again)
        assert sector.mean() > 0.3 and frames[:, ~sector].max() == 0 and frames[:, sector].mean() > 5
    with pytest.raises(ValueError, match="unknown view"):
        simulate_view(7, "m-mode")


def test_the_bundled_gate_passes_simulated_apical_cines_and_flags_the_other_views(tmp_path) -> None:
    passed = [not score_view(load_cine(_npz(tmp_path / f"a{seed}.npz", simulate(seed, n_frames=16).frames))).flagged
              for seed in SEEDS]
    flagged = {view: [score_view(load_cine(_npz(tmp_path / f"{view}{seed}.npz",
                                                 simulate_view(seed, view, n_frames=16)[0]))).flagged
                      for seed in SEEDS] for view in OTHER_VIEWS}
    assert sum(passed) >= len(SEEDS) - 1, passed
    assert all(sum(found) >= len(SEEDS) - 1 for found in flagged.values()), flagged


def test_a_cine_is_scored_once_whatever_the_model(tmp_path) -> None:
    gate = ViewGate()
    calls = []
    real = gate.apical_probability
    gate.apical_probability = lambda frames: calls.append(len(frames)) or real(frames)  # type: ignore[method-assign]
    cine = load_cine(SAMPLE_CINE)
    first = score_view(cine, gate)
    assert score_view(cine, gate) is first and len(calls) == 1  # a model switch re-analyses the same cine
    assert score_view(load_cine(SAMPLE_CINE), gate) == first and len(calls) == 2  # a reopened file: scored anew


def test_the_sample_passes_and_a_short_axis_cine_is_flagged_everywhere(tmp_path, capsys) -> None:
    model = load_model("student")
    sample = analyze(load_cine(SAMPLE_CINE), model)
    assert not sample.view.flagged and sample.view.apical_probability > 0.5
    assert CODE not in {flag.code for flag in sample.flags}

    path = _npz(tmp_path / "psax.npz", simulate_view(3, "psax", n_frames=48)[0])
    status = echoviewer_main(["analyze", str(path), "--json", str(tmp_path / "o.json"), "--csv",
                              str(tmp_path / "o.csv")])
    line = capsys.readouterr().out
    assert status == 0 and "not to be trusted" in line and CODE in line
    cine = json.loads((tmp_path / "o.json").read_text())["cines"][0]
    assert cine["view"]["not_apical"] and cine["view"]["apical_probability"] < 0.5
    flag = next(flag for flag in cine["flags"] if flag["code"] == CODE)
    assert flag["severity"] == "warning" and "not to be trusted" in flag["message"]
    with open(tmp_path / "o_beats.csv", newline="", encoding="utf-8") as table:
        rows = list(csv.DictReader(table))
    assert rows and all(CODE in row["flags"].split(";") for row in rows)


def test_an_m_mode_or_doppler_display_is_flagged_from_the_header(tmp_path) -> None:
    frames = load_cine(SAMPLE_CINE).frames[:12, ::2, ::2].copy()
    for spatial_format, words in ((2, "M-mode"), (3, "spectral Doppler")):
        path = write_dicom(tmp_path / f"f{spatial_format}.dcm", frames, cm_per_px=(0.05, 0.05))
        ds = pydicom.dcmread(path)
        extra = pydicom.Dataset()
        extra.RegionSpatialFormat, extra.RegionDataType = spatial_format, 3
        for keyword, value in (("RegionLocationMinX0", 0), ("RegionLocationMinY0", 200),
                               ("RegionLocationMaxX1", 319), ("RegionLocationMaxY1", 239)):
            setattr(extra, keyword, value)
        ds.SequenceOfUltrasoundRegions.append(extra)
        ds.save_as(path)
        score = score_view(load_cine(path))
        assert score.flagged and score.apical_probability is None and words in score.reason


def test_a_damaged_gate_model_gives_one_line(tmp_path) -> None:
    onnx = tmp_path / "view_gate.onnx"
    onnx.write_bytes(b"not onnx")
    with pytest.raises(Exception, match="view-gate card"):
        ViewGate(onnx).apical_probability(np.zeros((1, 112, 112), np.uint8))


def test_view_frames_spread_over_the_clip_in_the_model_view() -> None:
    cine = load_cine(SAMPLE_CINE)
    frames = view_frames(cine, 8)
    assert frames.shape == (8, 112, 112) and frames.dtype == np.uint8
    assert view_frames(cine, 1000).shape[0] == cine.n_frames


def test_train_view_gate_writes_a_model_the_viewer_loads(tmp_path) -> None:
    from distill.cli import main

    out = tmp_path / "gate" / "view_gate.onnx"
    assert main(["train-view-gate", "--out", str(out), "--cases", "8", "--epochs", "1", "--seed", "3"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"] == {"seed": 3, "cases": 8, "epochs": 1, "frames_per_case": 3}
    assert set(card["metrics"]["held_out_accuracy"]) <= {"apical", *OTHER_VIEWS} and "nothing real" in card["data"]
    probability = ViewGate(out).apical_probability(view_frames(load_cine(SAMPLE_CINE), 4))
    assert 0.0 <= probability <= 1.0
