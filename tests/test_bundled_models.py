"""The bundled models in echoviewer/resources/models/: their cards, and what a user sees on real and simulated echo."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import onnx
import pytest

from echoviewer.analysis.preprocess import model_view
from distill.segmenters.onnx import OnnxSegmenter
from echoviewer.analysis.phases import MASK_THRESHOLD, area_curve, find_events
from echoviewer.io import load_cine
from echoviewer.resources import BUNDLED_MODELS, SAMPLE_CINE, STUDENT_MODEL

MODELS = BUNDLED_MODELS
ECHONET_TEACHER_PARAMETERS = 39_633_729


@pytest.fixture(scope="module")
def student() -> OnnxSegmenter:
    return OnnxSegmenter(STUDENT_MODEL, threads=1)


@pytest.fixture(scope="module")
def real_view(pydicom_data) -> np.ndarray:
    """The real SonoSite A4C cine (120 frames, about 65 bpm at 30 fps) as the models see it."""
    frames, _, _ = model_view(load_cine(pydicom_data / "color3d_jpeg_baseline.dcm"))
    return frames


@pytest.mark.parametrize("role", sorted(MODELS))
def test_model_card_matches_the_file(role: str) -> None:
    path = MODELS[role]
    card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    graph = onnx.load(str(path))
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
    embedded = json.loads({p.key: p.value for p in graph.metadata_props}["model_card"])
    assert {k: v for k, v in card.items() if k != "sha256"} == embedded
    assert card["check"]["max_abs_logit_difference"] < 1e-4
    training = card["training"]  # distill train records the network as "model", train-teacher as "network"
    assert card["seed"] is not None and training.get("model", training.get("network")) == card["architecture"]["arch"]
    metrics = card["metrics"]
    if "labelled_validation" in metrics:  # a teacher from human labels: scored on its held-out patients
        assert metrics["labelled_validation"]["dice_mean"] > 0.9
    elif isinstance(card["teacher"], dict) and card["teacher"]["name"].endswith("teacher-camus"):  # it draws the expert's contour, not the simulator's
        assert metrics["summary"]["dice_vs_teacher"] > 0.9
    else:
        assert metrics["summary"]["dice_vs_truth"] > 0.85


def test_student_is_at_most_one_percent_of_the_echonet_teacher() -> None:
    card = json.loads(STUDENT_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    assert card["parameters"] <= ECHONET_TEACHER_PARAMETERS // 100
    assert card["teacher"]["name"].startswith("echoviewer bundled teacher")


def test_student_finds_every_beat_of_the_simulated_sample(student: OnnxSegmenter) -> None:
    truth = json.loads(SAMPLE_CINE.with_suffix(".truth.json").read_text(encoding="utf-8"))
    frames, _, _ = model_view(load_cine(SAMPLE_CINE))
    soft = student.soft_masks(frames)
    ed, es = find_events(area_curve(soft), truth["fps"])
    for found, expected in ((ed, truth["ed_frames"]), (es, truth["es_frames"])):
        assert len(found) == len(expected)
        assert np.max(np.abs(np.asarray(found) - expected)) <= 2


def test_student_draws_the_lv_on_every_frame_of_a_real_cine(student: OnnxSegmenter, real_view: np.ndarray) -> None:
    masks = student.soft_masks(real_view) > MASK_THRESHOLD
    areas = masks.reshape(len(masks), -1).sum(1)
    assert areas.min() > 300 and areas.max() < 2500  # px of 112²: never empty, never the whole heart
    # Where the LV cavity of this cine lies in the 112² model view (read off the frames by eye):
    # below the apex, between the septum (x ≈ 40) and the lateral wall (x ≈ 75), apex to mitral
    # annulus at y ≈ 20-80. Nearly all of every mask must fall in that box.
    box = np.zeros(masks.shape[1:], bool)
    box[15:86, 34:82] = True
    inside = (masks & box).reshape(len(masks), -1).sum(1) / areas
    assert inside.min() > 0.9, inside.min()


def test_real_area_curve_rises_and_falls_once_per_heartbeat(student: OnnxSegmenter, real_view: np.ndarray) -> None:
    area = area_curve(student.soft_masks(real_view), MASK_THRESHOLD)
    centred = area - area.mean()
    autocorrelation = np.correlate(centred, centred, "full")[len(area) - 1:]
    lag = 15 + int(np.argmax(autocorrelation[15:45]))  # beats of 40-120 bpm at 30 fps
    assert 24 <= lag <= 31, lag  # the heart beats about every 27.5 frames (65 bpm)
    ed, es = find_events(area, 30.0)
    assert 4 <= len(ed) <= 5 and 4 <= len(es) <= 5, (ed, es)
    assert np.all(np.diff(ed) >= 20) and np.all(np.diff(es) >= 20)


def test_the_viewers_models_return_their_memory_and_give_the_same_masks(monkeypatch) -> None:
    """The viewer keeps every model it has shown loaded; bench/soak.py found their onnxruntime
    arenas holding ~550 MiB, so its models free their working memory after each run."""
    from echoviewer.analysis import models
    from echoviewer.gui.app import application

    monkeypatch.setattr(models, "_memory_arena", True)
    batch = models.load_model("student")
    application()  # the viewer's process set-up
    viewer = models.load_model("student")
    assert viewer is not batch and models.load_model("student") is viewer  # loaded once, then cached
    assert batch.session.get_session_options().enable_cpu_mem_arena
    assert not viewer.session.get_session_options().enable_cpu_mem_arena
    frames = load_cine(SAMPLE_CINE).frames[:40]
    assert np.array_equal(viewer.probabilities(frames), batch.probabilities(frames))
