"""A hospital's own ONNX model, described by a JSON sidecar, runs as a teacher."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from distill.segmenters.onnx import OnnxSegmenter
from distill.segmenters.registry import load_segmenter
from echoviewer.analysis.onnx_model import quantize_probabilities

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

MEAN, STD = [10.0, 20.0, 30.0], [40.0, 50.0, 60.0]


class _ForeignModel(torch.nn.Module):
    """NHWC RGB in, normalised as (x - mean) / std; two class scores out, NHWC (background, LV).

    The LV score is the de-normalised green channel at 64×64, so the expected output is known."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        green = x[..., 1] * STD[1] + MEAN[1]  # back to 0-255
        lv = (green - 128.0) / 16.0
        return torch.stack([torch.zeros_like(lv), lv], dim=-1)


def _export(path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(_ForeignModel(), (torch.zeros(4, 64, 64, 3),), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["scores"],
                          dynamic_axes={"image": {0: "n"}, "scores": {0: "n"}})


def test_a_foreign_nhwc_softmax_model_runs_as_described_by_its_sidecar(tmp_path) -> None:
    path = tmp_path / "hospital.onnx"
    _export(path)
    path.with_suffix(".json").write_text(json.dumps({
        "name": "hospital LV model", "temporal": "frame",
        "input": {"layout": "NHWC", "channels": 3, "height": 64, "width": 64, "mean": MEAN, "std": STD},
        "output": {"activation": "softmax", "channel": 1}}))
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (40, 64, 64), dtype=np.uint8)  # 40 frames: more than one chunk of 32
    teacher = load_segmenter(path)
    assert isinstance(teacher, OnnxSegmenter) and teacher.name == "hospital LV model"
    expected = 1 / (1 + np.exp(-(frames.astype(np.float32) - 128) / 16))  # softmax of (0, s) = sigmoid(s)
    np.testing.assert_allclose(teacher.probabilities(frames), expected, atol=1e-5)
    np.testing.assert_array_equal(teacher.soft_masks(frames), quantize_probabilities(expected))


def test_frames_of_another_size_are_resized_in_and_out(tmp_path) -> None:
    path = tmp_path / "hospital.onnx"
    _export(path)
    path.with_suffix(".json").write_text(json.dumps({
        "input": {"layout": "NHWC", "channels": 3, "height": 64, "width": 64, "mean": MEAN, "std": STD},
        "output": {"activation": "softmax", "channel": 1}}))
    frames = np.full((3, 112, 112), 200, np.uint8)
    probabilities = OnnxSegmenter(path).probabilities(frames)
    assert probabilities.shape == (3, 112, 112)
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-72 / 16)), atol=1e-5)
