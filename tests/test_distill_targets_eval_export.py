"""``distill targets``, ``evaluate`` and ``export`` on a tiny synthetic set, and the ED/ES rules of
``echoviewer.analysis.phases`` that the evaluation rests on."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from distill.cli import main
from distill.datasets import EchoNetFolder, load_npz
from distill.export import OPSET
from distill.segmenters.checkpoint import TorchSegmenter
from distill.segmenters.onnx import OnnxSegmenter
from echoviewer.analysis.phases import block_rule, find_events
from tests.helpers import TINY_CINES, one_error_line, tiny_dataset, tiny_run, torch_on_one_thread

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

assert torch_on_one_thread  # an autouse fixture, imported to take effect here


@pytest.fixture(scope="session")
def data(tmp_path_factory) -> Path:
    return tiny_dataset(tmp_path_factory)


@pytest.fixture(scope="module")
def fast_pt(tmp_path_factory) -> Path:
    return tiny_run(tmp_path_factory, "fast") / "best.pt"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, data) -> dict[str, Path]:
    """Each tiny model exported once (the slow part of this module)."""
    out = tmp_path_factory.mktemp("onnx")
    paths = {}
    for model in ("fast", "convlstm:1x1"):
        paths[model] = out / f"{model.replace(':', '_')}.onnx"
        assert main(["export", "--checkpoint", str(tiny_run(tmp_path_factory, model) / "best.pt"),
                     "--out", str(paths[model]), "--data", str(data)]) == 0
    return paths


def targets(data: Path, out: Path, teacher: str = "truth") -> int:
    return main(["targets", "--teacher", teacher, "--data", str(data), "--out", str(out), "--progress", "none"])


def counts(capsys) -> str:
    """The summary line of a targets run: 'N written, M already done, K failed -> OUT'."""
    return capsys.readouterr().err.strip().splitlines()[-1]


# --- targets -----------------------------------------------------------------------------------

def test_truth_targets_are_the_truth_and_a_rerun_redoes_only_what_is_missing(data, tmp_path, capsys) -> None:
    out = tmp_path / "targets"
    folder = EchoNetFolder(data)
    assert targets(data, out) == 0
    assert counts(capsys).startswith(f"{TINY_CINES} written, 0 already done, 0 failed")
    assert sorted(path.stem for path in out.glob("*.npz")) == sorted(r.name for r in folder.records)
    for record in folder.records:
        soft = load_npz(out / f"{record.name}.npz")["soft"]
        assert soft.dtype == np.uint8 and soft.shape == folder.read_video(record)[0].shape
        np.testing.assert_array_equal(soft, folder.truth(record.name).masks * np.uint8(255))

    assert targets(data, out) == 0
    assert counts(capsys).startswith(f"0 written, {TINY_CINES} already done")
    deleted, corrupted = out / "synth_000003.npz", out / "synth_000007.npz"
    expected = {path.name: path.read_bytes() for path in (deleted, corrupted)}
    untouched = {path.name: path.stat().st_mtime_ns for path in out.glob("*.npz") if path.name not in expected}
    deleted.unlink()
    corrupted.write_bytes(corrupted.read_bytes()[:100])
    assert targets(data, out) == 0
    assert counts(capsys).startswith(f"2 written, {TINY_CINES - 2} already done")
    assert {name: (out / name).read_bytes() for name in expected} == expected
    assert {path.name: path.stat().st_mtime_ns for path in out.glob("*.npz") if path.name in untouched} == untouched


def test_an_unreadable_video_is_reported_and_skipped(data, tmp_path, capsys) -> None:
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    (copy / "Videos" / "synth_000004.avi").write_bytes(b"RIFF garbage" * 50)
    assert targets(copy, tmp_path / "targets") == 1
    err = capsys.readouterr().err
    assert "skipped synth_000004" in err and "1 failed" in err and "Traceback" not in err
    written = sorted(path.stem for path in (tmp_path / "targets").glob("*.npz"))
    assert len(written) == TINY_CINES - 1 and "synth_000004" not in written


def test_a_checkpoint_teacher_writes_its_soft_masks_and_cannot_join_another_teachers_folder(
        data, fast_pt, tmp_path, capsys) -> None:
    out = tmp_path / "targets"
    assert targets(data, out, str(fast_pt)) == 0
    teacher = TorchSegmenter(fast_pt)
    folder = EchoNetFolder(data)
    for record in folder.split("TEST"):
        soft = load_npz(out / f"{record.name}.npz")["soft"]
        assert soft.dtype == np.uint8 and soft.shape == (32, 32, 32)
        np.testing.assert_array_equal(soft, teacher.soft_masks(folder.read_video(record)[0]))
    assert json.loads((out / "targets.json").read_text())["teacher"]["kind"] == "checkpoint"
    capsys.readouterr()
    assert targets(data, out) == 2
    assert "another teacher" in one_error_line(capsys.readouterr().err)
    (out / "targets.json").write_text('{"teacher": {"kind": "chec')  # damaged by hand: one line, no traceback
    assert targets(data, out, str(fast_pt)) == 2
    assert "targets.json is damaged" in one_error_line(capsys.readouterr().err)


# --- evaluate ----------------------------------------------------------------------------------

SUMMARY_KEYS = {"dice_vs_teacher", "afd_ed_vs_teacher", "afd_es_vs_teacher", "dice_vs_truth", "afd_ed_vs_truth",
                "afd_es_vs_truth", "teacher_dice_vs_truth", "teacher_afd_ed_vs_truth", "teacher_afd_es_vs_truth",
                "ef_naive_r_student", "ef_naive_r_teacher"}


def evaluate(data: Path, out: Path, student: str, teacher: str = "truth") -> dict:
    assert main(["evaluate", "--student", student, "--teacher", teacher, "--data", str(data), "--split", "all",
                 "--out", str(out), "--progress", "none"]) == 0
    assert (out / "evaluation.md").read_text().startswith("Student: ")
    return json.loads((out / "evaluation.json").read_text())


def test_evaluate_a_checkpoint_against_the_truth_writes_every_documented_number(data, fast_pt, tmp_path,
                                                                                 capsys) -> None:
    report = evaluate(data, tmp_path / "eval", str(fast_pt))
    assert SUMMARY_KEYS <= report["summary"].keys()
    assert 0 <= report["summary"]["dice_vs_teacher"] <= 1
    assert report["speed"]["student_fps"] > 0 and report["speed"]["teacher_fps"] > 0
    assert report["student"]["parameters"] == 111_361 and report["student"]["kind"] == "checkpoint"
    assert report["videos_scored"] == len(report["videos"]) == TINY_CINES and report["videos_failed"] == {}
    table = capsys.readouterr().out
    assert table == (tmp_path / "eval" / "evaluation.md").read_text() and "| student parameters | 111,361 |" in table


def test_the_truth_scored_against_itself_is_perfect(data, tmp_path) -> None:
    report = evaluate(data, tmp_path / "eval", "truth")
    summary = report["summary"]
    assert summary["dice_vs_teacher"] == summary["dice_vs_truth"] == summary["teacher_dice_vs_truth"] == 1.0
    # The teacher's picks are placed by the block rule the student is scored with, so flat-topped
    # peaks cost nothing when a model meets itself.
    assert summary["afd_ed_vs_teacher"] == summary["afd_es_vs_teacher"] == 0.0
    for key in ("afd_ed_vs_truth", "afd_es_vs_truth"):
        assert summary[key] == summary[f"teacher_{key}"]
    assert summary["ef_naive_r_student"] == summary["ef_naive_r_teacher"]


def test_an_onnx_student_against_itself_agrees_completely(data, exported, tmp_path) -> None:
    model = str(exported["fast"])
    report = evaluate(data, tmp_path / "eval", model, model)
    assert report["summary"]["dice_vs_teacher"] == 1.0
    assert report["student"] == report["teacher"] and report["student"]["kind"] == "onnx"


# --- export ------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, temporal", [("fast", "clip"), ("convlstm:1x1", "recurrent")])
def test_export_writes_a_checked_onnx_model_with_its_card(data, tmp_path_factory, exported, model,
                                                          temporal) -> None:
    path = exported[model]
    graph = onnx.load(str(path))
    assert max(entry.version for entry in graph.opset_import if entry.domain in ("", "ai.onnx")) >= OPSET >= 17
    embedded = json.loads({prop.key: prop.value for prop in graph.metadata_props}["model_card"])
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert embedded["parameters"] == card["parameters"] == (111_361 if model == "fast" else 5_701)
    assert embedded["temporal"] == card["temporal"] == temporal and card["teacher"] == "truth"
    assert card["check"]["max_abs_logit_difference"] < 1e-4 and card["check"]["frames"] == 32

    checkpoint = tiny_run(tmp_path_factory, model) / "best.pt"
    frames, _ = EchoNetFolder(data).read_video(EchoNetFolder(data).split("TEST")[0])
    frames = np.stack([cv2.resize(f, (112, 112), interpolation=cv2.INTER_AREA) for f in frames[:8]])
    got = OnnxSegmenter(path, threads=1).probabilities(frames)
    np.testing.assert_allclose(got, TorchSegmenter(checkpoint).probabilities(frames), atol=1e-4, rtol=0)


# --- ED/ES rules -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("start", ["ed", "es"])
def test_find_events_finds_every_beat_but_not_the_clip_ends(seed, start) -> None:
    fps, period = 50.0, 50  # 60 bpm: a beat every 50 frames; 3 beats
    t = np.arange(3 * period)
    shift = 0 if start == "ed" else period // 2  # the clip starts (and ends) at an ED peak or an ES trough
    noise = np.random.default_rng(seed).normal(0, 1.0, len(t))
    area = 1000 + 300 * np.cos(2 * np.pi * (t + shift) / period) + noise
    ed, es = find_events(area, fps)
    peaks, troughs = (np.array([50, 100]), np.array([25, 75, 125])) if start == "ed" else (
        np.array([25, 75, 125]), np.array([50, 100]))
    assert len(ed) == len(peaks) and np.all(np.abs(ed - peaks) <= 1), ed
    assert len(es) == len(troughs) and np.all(np.abs(es - troughs) <= 1), es


def test_find_events_finds_nothing_in_a_flat_or_short_curve() -> None:
    for curve in (np.full(100, 500.0), np.zeros(100), np.array([1.0, 5.0]), np.array([])):
        ed, es = find_events(curve, 50.0)
        assert len(ed) == len(es) == 0


def two_blocks(first: tuple[int, list[float]], second: tuple[int, list[float]]) -> np.ndarray:
    """A 30-frame curve at 10 with two dips (start, values) below it, fewer than half the frames."""
    curve = np.full(30, 10.0)
    for start, values in (first, second):
        curve[start:start + len(values)] = values
    return curve


def test_block_rule_takes_the_lowest_frame_of_the_block_with_the_nearest_edge() -> None:
    es_curve = np.array([5, 5, 1, 5, 5, 5, 0, 5, 5], float)  # blocks below the median: [2] and [6]
    assert [block_rule(es_curve, r, "es") for r in range(9)] == [2, 2, 2, 2, 2, 6, 6, 6, 6]  # 4: a tie, earliest
    assert [block_rule(10 - es_curve, r, "ed") for r in range(9)] == [2, 2, 2, 2, 2, 6, 6, 6, 6]
    # Only the ends count: from frame 10 the edge of [12, 17] (2 away) beats that of [2, 7] (3 away),
    # although [2, 7] holds the deeper minimum, 4 frames away, against 7 frames for the winner's.
    curve = two_blocks((2, [5, 5, 5, 5, 0, 5]), (12, [5, 5, 5, 5, 5, 4]))
    assert block_rule(curve, 10, "es") == 17
    assert block_rule(curve, 9, "es") == 6
    # Equal distances (frame 9 is 2 from 7 and from 11): the earlier block, however deep the later one.
    curve = two_blocks((2, [5, 5, 5, 5, 0, 5]), (11, [5, 5, 5, 5, 5, -50]))
    assert block_rule(curve, 9, "es") == 6
    assert block_rule(-curve, 9, "ed") == 6


def test_block_rule_below_median_fallback_and_bad_kind() -> None:
    assert block_rule(np.array([0, 0, 0, 5], float), 3, "es") == 0  # nothing below the median: at most it
    assert block_rule(np.full(6, 3.0), 4, "ed") == 0  # a flat curve is one block; its first frame
    with pytest.raises(ValueError, match="kind"):
        block_rule(np.arange(5.0), 2, "systole")


def test_block_rule_keeps_a_reference_inside_its_own_block() -> None:
    """The block holding the reference is as far as its nearer edge; any other block lies beyond one
    of its edges, so is farther: the holding block always wins."""
    rng = np.random.default_rng(0)
    for _ in range(200):
        curve = rng.normal(size=int(rng.integers(5, 60)))
        low = curve < np.median(curve)
        reference = int(rng.choice(np.flatnonzero(low)))
        start, end = reference, reference
        while start > 0 and low[start - 1]:
            start -= 1
        while end < len(curve) - 1 and low[end + 1]:
            end += 1
        assert block_rule(curve, reference, "es") == start + int(np.argmin(curve[start:end + 1]))


# --- targets by the clinical convention: closed across the mitral hinge points ---------------------

def test_close_at_hinges_removes_what_lies_beyond_the_hinge_line_and_nothing_else() -> None:
    from distill.targets import close_at_hinges

    soft = np.full((2, 40, 40), 200, np.uint8)
    # frame 0: apex at the top, hinges on the row y = 30; frame 1: the heart turned, hinges on x = 10
    landmarks = np.array([[[20, 2], [10, 30], [30, 30]], [[38, 20], [10, 8], [10, 32]]], float)
    closed = close_at_hinges(soft, landmarks, margin_px=1.0)
    assert (closed[0, :32] == 200).all() and (closed[0, 32:] == 0).all()  # up to 1 px past the line is kept
    assert (closed[1, :, 9:] == 200).all() and (closed[1, :, :9] == 0).all()
    assert (soft == 200).all()  # the input is left alone


def test_fill_to_hinges_closes_the_gap_below_a_mask_that_stops_at_the_leaflet_tips() -> None:
    from distill.targets import fill_to_hinges

    soft = np.zeros((1, 60, 60), np.uint8)
    soft[0, 5:40, 20:41] = 230  # the cavity as a teacher draws it with the valve open: it stops at y = 39
    landmarks = np.array([[[30, 2], [18, 50], [42, 50]]], float)  # apex, septal and lateral hinge (y = 50)
    filled = fill_to_hinges(soft, landmarks, band=0.4)
    assert (filled[0, 40:50, 24:37] == 255).all()  # between the tips and the hinge line: now LV
    assert (filled[0, 52:] == 0).all()  # nothing beyond the hinge line
    assert (filled[0, :20] == soft[0, :20]).all()  # the apex and the walls above the band as drawn
    assert (filled[0, 30:50, :15] == 0).all() and (filled[0, 30:50, 46:] == 0).all()  # no wider than the hull
    assert soft.max() == 230  # the input is left alone
    assert (fill_to_hinges(np.zeros_like(soft), landmarks) == 0).all()  # no mask: nothing invented


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The z of the 2-D cross product: its sign says on which side of ``a`` the point ``b`` lies."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


class Spilling:
    """A teacher that draws everything: its mask runs through any valve."""

    def describe(self) -> dict:
        return {"kind": "test", "name": "spilling"}

    def soft_masks(self, frames: np.ndarray, folder=None, record=None) -> np.ndarray:
        return np.full(frames.shape, 255, np.uint8)


def test_targets_closed_at_the_hinges_keep_nothing_beyond_them_and_stay_one_convention_per_folder(
        data, tmp_path, capsys) -> None:
    from distill.targets import produce_targets

    folder, out = EchoNetFolder(data), tmp_path / "closed"
    records = folder.split("TEST")
    assert produce_targets(Spilling(), folder, records, out, progress="none", closed_at_hinges=True)["written"]
    for record in records:
        soft, landmarks = load_npz(out / f"{record.name}.npz")["soft"], folder.truth(record.name).landmarks
        for frame, (apex, septal, lateral) in zip(soft, landmarks):
            ys, xs = np.nonzero(frame == 0)
            side = cross(lateral - septal, np.stack([xs, ys], axis=1) - septal)
            assert len(xs) and np.sign(side).std() == 0  # all cleared pixels on one side of the line ...
            assert np.sign(side[0]) != np.sign(cross(lateral - septal, apex - septal))  # ... not the apex's
    assert json.loads((out / "targets.json").read_text())["close_at_hinges"] is True
    with pytest.raises(ValueError, match="holds targets with --close-at-hinges"):
        produce_targets(Spilling(), folder, records, out, progress="none")  # another convention
    assert main(["targets", "--teacher", "truth", "--data", str(data), "--out", str(tmp_path / "truth"),
                 "--close-at-hinges", "--progress", "none"]) == 0  # the truth already closes there: unchanged
    for record in records:
        np.testing.assert_array_equal(load_npz(tmp_path / "truth" / f"{record.name}.npz")["soft"],
                                      folder.truth(record.name).masks * np.uint8(255))


def test_close_at_hinges_needs_the_datas_landmarks(data, tmp_path, capsys) -> None:
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    for path in (copy / "Masks").glob("*.npz"):
        arrays = dict(np.load(path))
        del arrays["landmarks"]
        np.savez_compressed(path, **arrays)
    assert main(["targets", "--teacher", "truth", "--data", str(copy), "--out", str(tmp_path / "t"),
                 "--close-at-hinges", "--progress", "none"]) == 2
    assert "needs synthetic data whose Masks/" in one_error_line(capsys.readouterr().err)
