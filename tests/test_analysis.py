"""The analysis engine: model view and its way back, segmentation cache, ED/ES of every beat,
measurements on real and simulated cines, quality flags, edited picks, model errors."""

from __future__ import annotations

import gc
import json
import shutil
from dataclasses import replace

import cv2
import numpy as np
import pytest

from echoviewer.analysis import ModelLoadError, SegmentationCache, analyze, load_model
from echoviewer.analysis.onnx_model import OnnxModel
from echoviewer.analysis.phases import find_events
from echoviewer.analysis.preprocess import SquareCrop, model_view
from echoviewer.analysis.quality import (beat_flags, dice_per_frame, disagreement_flag, mask_flags,
                                         periodicity)
from echoviewer.io import load_cine
from echoviewer.resources import STUDENT_MODEL


@pytest.fixture(scope="module")
def student() -> OnnxModel:
    return load_model("student", threads=1)


@pytest.fixture(scope="module")
def sample(sample_cine_path):
    return load_cine(sample_cine_path)


@pytest.fixture(scope="module")
def truth(sample_cine_path) -> dict:
    return json.loads(sample_cine_path.with_name("sample_a4c.truth.json").read_text())


@pytest.fixture(scope="module")
def sample_analysis(sample, student):
    return analyze(sample, student)


# --- model view and back -------------------------------------------------------------------------

def test_masks_map_back_onto_the_native_pixels_they_came_from(sample) -> None:
    crop = SquareCrop.of_sector(sample.sector_mask)
    native = np.zeros((1, sample.height, sample.width), np.uint8)
    cv2.ellipse(native[0], (300, 220), (60, 110), 10, 0, 360, 255, -1)
    back = crop.to_native(crop.to_model(native, interpolation=cv2.INTER_AREA)) > 127
    overlap = (back & (native > 0)).sum() / (back | (native > 0)).sum()
    assert overlap > 0.95
    assert not back[0, :, :crop.left].any() if crop.left > 0 else True


def test_a_crop_reaching_outside_the_frame_pads_and_returns_only_what_is_inside() -> None:
    crop = SquareCrop(top=-10, left=-20, side=100, height=60, width=50)
    frames = np.full((2, 60, 50), 200, np.uint8)
    view = crop.to_model(frames, (112, 112))
    assert view.shape == (2, 112, 112) and view[:, 0, 0].max() == 0 and view[:, 60, 60].min() == 200
    back = crop.to_native(np.full((2, 112, 112), 255, np.uint8))
    assert back.shape == (2, 60, 50) and back.min() == 255


def test_an_echonet_sized_cine_is_its_own_model_view(sample) -> None:
    small = replace(sample, frames=np.zeros((3, 112, 112), np.uint8), colour=None)
    frames, _, crop = model_view(small)
    assert frames is small.frames
    assert crop.to_native(np.ones((1, 112, 112), np.uint8)).shape == (1, 112, 112)


# --- the engine on the bundled sample ------------------------------------------------------------

def test_every_beat_is_found_and_measured_on_the_simulated_sample(sample_analysis, truth) -> None:
    result = sample_analysis
    assert len(result.ed_frames) == len(truth["ed_frames"]) == 2
    assert np.abs(np.subtract(result.ed_frames, truth["ed_frames"])).max() <= 2
    assert np.abs(np.subtract(result.es_frames, truth["es_frames"])).max() <= 2
    assert len(result.beats) == 2
    summary = result.summary
    assert summary["heart_rate_bpm"]["mean"] == pytest.approx(truth["heart_rate_bpm"], abs=3)
    # single-plane volumes of a student mask vs the simulator's true volumes
    assert summary["ef_disks_percent"]["mean"] == pytest.approx(truth["ef_percent"], abs=10)
    assert summary["edv_disks"]["mean"] == pytest.approx(truth["edv_ml"], rel=0.2)
    assert summary["esv_disks"]["mean"] == pytest.approx(truth["esv_ml"], rel=0.35)
    assert [f.code for f in result.flags if f.severity == "warning"] == []


def test_areas_are_native_pixels_times_the_pixel_size(sample_analysis, sample) -> None:
    result = sample_analysis
    native = result.segmentation.native_masks()
    assert native.shape == sample.frames.shape
    assert result.area_px.tolist() == native.reshape(len(native), -1).sum(axis=1).tolist()
    pixel = sample.calibration.cm_per_px_x * sample.calibration.cm_per_px_y
    assert result.area_cm2 == pytest.approx(result.area_px * pixel)
    assert result.units == {"area": "cm2", "length": "cm", "volume": "mL"}
    # the LV is 15-60 cm² in any adult heart
    assert 15 < result.area_cm2.min() and result.area_cm2.max() < 60


def test_an_uncalibrated_cine_reports_pixels_and_the_same_ratios(sample, student, sample_analysis) -> None:
    bare = replace(sample, calibration=None, calibration_note="no Sequence of Ultrasound Regions")
    result = analyze(bare, student)
    assert result.area_cm2 is None and result.units["area"] == "px2"
    assert "uncalibrated" in [f.code for f in result.flags]
    assert result.as_dict()["area_cm2"] is None
    calibrated = sample_analysis.summary
    for ratio in ("ef_disks_percent", "ef_area_length_percent", "fac_percent", "heart_rate_bpm"):
        assert result.summary[ratio]["mean"] == pytest.approx(calibrated[ratio]["mean"], rel=1e-3)
    cm = sample.calibration.cm_per_px_x
    assert result.summary["ed_length"]["mean"] * cm == pytest.approx(calibrated["ed_length"]["mean"])


def test_edited_picks_redo_the_measurements(sample_analysis) -> None:
    edited = sample_analysis.with_events([sample_analysis.ed_frames[0]], [sample_analysis.es_frames[0] + 2])
    assert edited.events_edited and "edited" in edited.as_dict()["events_rule"]
    assert len(edited.beats) == 1 and edited.beats[0].es_frame == sample_analysis.es_frames[0] + 2
    assert edited.beats[0].es_area != sample_analysis.beats[0].es_area
    assert sample_analysis.beats[0].es_frame == sample_analysis.es_frames[0]  # the original stays
    with pytest.raises(ValueError, match="frames must lie in"):
        sample_analysis.with_events([0], [500])


def test_the_real_cine_has_four_beats_and_plausible_values(pydicom_data, student) -> None:
    result = analyze(load_cine(pydicom_data / "color3d_jpeg_baseline.dcm"), student)
    assert len(result.beats) >= 3
    summary = result.summary
    assert 55 <= summary["heart_rate_bpm"]["mean"] <= 75  # ≈ 65 bpm: 27.5-frame period at 30 fps
    assert 30 <= summary["ef_disks_percent"]["mean"] <= 70
    assert 6 <= summary["ed_length"]["mean"] <= 12  # cm
    assert summary["ed_area"]["mean"] > summary["es_area"]["mean"]


# --- cache ---------------------------------------------------------------------------------------

class CountingModel:
    """The student, counting how often it runs."""

    def __init__(self, model: OnnxModel) -> None:
        self._model, self.runs = model, 0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def probabilities(self, frames):
        self.runs += 1
        return self._model.probabilities(frames)


def test_switching_back_to_a_model_reuses_its_segmentation(sample, student) -> None:
    cache, counting = SegmentationCache(), CountingModel(student)
    first = analyze(sample, counting, cache=cache)
    teacher = load_model("teacher", threads=1)
    analyze(sample, teacher, cache=cache)
    again = analyze(sample, counting, cache=cache)
    assert counting.runs == 1 and again.segmentation is first.segmentation
    assert cache.get(sample, teacher) is not None


def test_the_cache_lets_a_closed_cine_go(sample_cine_path, student) -> None:
    cache = SegmentationCache()
    cine = load_cine(sample_cine_path)
    cache.segment(cine, student)
    assert len(cache._store) == 1
    del cine
    gc.collect()
    assert len(cache._store) == 0


# --- ED/ES and quality -----------------------------------------------------------------------------

def beating(fps: float, bpm: float, seconds: float, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(fps * seconds)) / fps
    rng = np.random.default_rng(seed)
    return 1000 + 300 * np.cos(2 * np.pi * bpm / 60 * t) + noise * rng.normal(size=t.size)


@pytest.mark.parametrize("fps", [25.0, 50.0, 100.0])
def test_one_ed_and_one_es_per_beat_at_any_frame_rate(fps) -> None:
    area = beating(fps, 75, 4.0, noise=40)
    ed, es = find_events(area, fps)
    period = fps * 60 / 75
    assert len(ed) == 4 and len(es) == 5  # cos starts at a peak: ED at 0 is not shown by the curve
    assert np.allclose(np.diff(ed), period, atol=0.15 * period)
    assert np.abs(es - (ed[0] - period / 2 + np.arange(len(es)) * period)).max() <= 0.15 * period


def test_a_flat_or_noisy_curve_has_no_events_and_is_aperiodic() -> None:
    assert all(len(events) == 0 for events in find_events(np.full(60, 900.0), 30.0))
    noise = np.random.default_rng(1).normal(1000, 50, 90)
    assert periodicity(noise, 30.0) < 0.3
    assert periodicity(beating(30.0, 70, 3.0, noise=30), 30.0) > 0.8


def test_mask_flags_name_the_frames_with_split_empty_or_edge_masks() -> None:
    sector = np.zeros((112, 112), bool)
    sector[10:100, 10:100] = True
    masks = np.zeros((4, 112, 112), bool)
    masks[:, 40:70, 40:60] = True
    masks[1, 80:90, 80:90] = True  # a second piece
    masks[2] = False
    masks[3, 40:70, 40:100] = True  # reaches the sector's edge
    flags = {f.code: f.frames for f in mask_flags(masks, sector)}
    assert flags == {"mask_split": [1], "mask_empty": [2], "mask_at_sector_edge": [3]}


def test_student_and_teacher_disagreement_is_flagged_by_frame() -> None:
    a = np.zeros((3, 20, 20), bool)
    a[:, 5:15, 5:15] = True
    b = a.copy()
    b[2] = False
    b[2, 0:4, 0:4] = True
    dice = dice_per_frame(a, b)
    assert dice.tolist() == [1.0, 1.0, 0.0]
    flag = disagreement_flag(dice, "teacher")
    assert flag.frames == [2] and "teacher" in flag.message
    assert disagreement_flag(dice[:2], "teacher") is None


def test_comparing_with_the_teacher_adds_per_frame_dice(sample, student) -> None:
    result = analyze(sample, student, compare=load_model("teacher", threads=1))
    dice = result.as_dict()["comparison"]["dice"]
    assert len(dice) == sample.n_frames and 0.85 < np.mean(dice) <= 1.0


def test_implausible_rates_and_ef_are_flagged(sample_analysis) -> None:
    fast = replace(sample_analysis.beats[0], heart_rate_bpm=250.0, ef_disks_percent=95.0)
    beats = (fast,) + sample_analysis.beats[1:]
    codes = {f.code: f.beats for f in beat_flags(beats, sample_analysis.area_px, sample_analysis.cine.timing.fps)}
    assert codes["implausible_heart_rate"] == [0] and codes["implausible_ef"] == [0]
    no_beats = sample_analysis.with_events((), ())  # every pick deleted
    assert no_beats.beats == () and "no_beat" in [f.code for f in no_beats.flags]


# --- models ----------------------------------------------------------------------------------------

def test_model_errors_are_one_line_and_name_the_file(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="no such model file"):
        load_model(tmp_path / "missing.onnx")
    alone = tmp_path / "alone.onnx"
    shutil.copy(STUDENT_MODEL, alone)
    with pytest.raises(ModelLoadError, match="no sidecar"):
        load_model(alone)
    fake = tmp_path / "fake.onnx"
    fake.write_text("not a model")
    shutil.copy(STUDENT_MODEL.with_suffix(".json"), fake.with_suffix(".json"))
    with pytest.raises(ModelLoadError) as info:
        load_model(fake)
    assert "\n" not in str(info.value) and "fake.onnx" in str(info.value)


def test_a_copied_model_is_the_same_weights(tmp_path, student) -> None:
    copy = tmp_path / "mine.onnx"
    shutil.copy(STUDENT_MODEL, copy)
    shutil.copy(STUDENT_MODEL.with_suffix(".json"), copy.with_suffix(".json"))
    model = load_model(copy)
    assert model.sha256 == student.sha256 and model is load_model(copy)


@pytest.mark.parametrize(("change", "field"), [
    ({"output": {"activation": "sigmoid", "mask_threshold_uint8": True}}, "output.mask_threshold_uint8"),
    ({"output": {"activation": "sigmoid", "channel": 5}}, "output.channel 5"),
    ({"input_mean": "Infinity"}, "not a number JSON allows"),
    ({"input_mean": "NaN"}, "not a number JSON allows"),
    ({"input_height": 100000}, "input.height"),
    ({"input_height": 112.0}, "input.height"),
    ({"input_channels": 2}, "input.channels"),
    ({"deep": True}, "nested too deeply"),
])
def test_a_model_card_is_checked_field_by_field_and_refused_in_one_line(tmp_path, change, field) -> None:
    """Issue 20 (7): a threshold of ``true`` was taken as 1 (EDA 42.0 against 35.4 cm²); channel 5,
    Infinity, NaN, deep nesting and 50 GiB input sizes gave tracebacks or NaN masks."""
    model = tmp_path / "m.onnx"
    shutil.copy(STUDENT_MODEL, model)
    card = json.loads(STUDENT_MODEL.with_suffix(".json").read_text())
    text = None
    if "output" in change:
        card["output"] = {**card["output"], **change["output"]}
    elif "input_mean" in change:
        text = json.dumps(card).replace('"mean": [', f'"mean": [{change["input_mean"]}, ', 1)
    elif "input_height" in change:
        card["input"]["height"] = change["input_height"]
    elif "input_channels" in change:
        card["input"]["channels"] = change["input_channels"]
    else:
        text = json.dumps(card)[:-1] + ', "x": ' + "[" * 200_000 + "]" * 200_000 + "}"
    model.with_suffix(".json").write_text(text if text is not None else json.dumps(card))
    with pytest.raises(ModelLoadError) as raised:
        OnnxModel(model)
    message = str(raised.value)
    assert field in message and "\n" not in message, message
