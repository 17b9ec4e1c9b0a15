"""Any ONNX LV segmentation model plus a small JSON sidecar (its model card), run with onnxruntime:
the bundled student and teacher, or a hospital's own model.

The sidecar (``model.json`` beside ``model.onnx``; this project's model cards are valid sidecars)::

    {"input":  {"layout": "NCHW", "channels": 1, "height": 112, "width": 112,
                "mean": [0.0], "std": [1.0]},
     "output": {"activation": "sigmoid", "channel": 0},
     "temporal": "frame"}

* ``layout``: ``NCHW`` or ``NHWC``; grey frames are repeated when ``channels`` is 3.
* the model receives ``(pixel - mean[c]) / std[c]`` with pixels in 0–255 (a model that wants 0–1
  inputs says mean 0, std 255).
* ``activation``: ``sigmoid`` (logits), ``softmax`` (class scores; ``channel`` is the LV class) or
  ``none`` (already probabilities).
* ``temporal``: ``frame`` (any batch of frames), ``clip`` (the first axis is the time of one clip,
  which the model sees whole) or ``recurrent`` (one frame per call, with ``state_in_*`` inputs and
  ``state_out_*`` outputs carried from frame to frame, zeros at the start).
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from echoviewer.analysis.errors import ModelLoadError
from echoviewer.analysis.phases import MASK_THRESHOLD

LAYOUTS = ("NCHW", "NHWC")
ACTIVATIONS = ("sigmoid", "softmax", "none")
TEMPORAL = ("frame", "clip", "recurrent")
FRAME_CHUNK = 32
_EXPECTED = ('expected a JSON object like {"input": {"layout": "NCHW", "channels": 1, "height": 112, '
             '"width": 112, "mean": [0], "std": [1]}, "output": {"activation": "sigmoid"}, '
             '"temporal": "frame"}')


def sidecar_path(model_path: Path) -> Path:
    return model_path.with_suffix(".json")


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)  # overflow-free logistic


def quantize_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Probability × 255, rounded: how soft masks are stored (as EchoDFKD stores its targets)."""
    return np.rint(np.clip(probabilities, 0.0, 1.0) * 255.0).astype(np.uint8)


def file_sha256(path: Path) -> str:
    """Names the exact weights a result came from (streamed: a large model is never read whole)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _read_sidecar(path: Path) -> dict:
    if not path.is_file():
        raise ModelLoadError(f"{path}: no sidecar beside the ONNX model; {_EXPECTED}")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        spec, out = card["input"], card.get("output", {})
        layout, channels = spec.get("layout", "NCHW"), int(spec.get("channels", 1))
        size = (int(spec["height"]), int(spec["width"]))
        mean = np.asarray(spec.get("mean", [0.0]), np.float32).reshape(-1)
        std = np.asarray(spec.get("std", [1.0]), np.float32).reshape(-1)
        activation, temporal = out.get("activation", "sigmoid"), card.get("temporal", "frame")
        channel = int(out.get("channel", 0))
        threshold = int(out.get("mask_threshold_uint8", MASK_THRESHOLD))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError,
            AttributeError) as exc:
        raise ModelLoadError(f"{path}: unreadable sidecar ({type(exc).__name__}: {exc}); {_EXPECTED}") from None
    checks = {f"layout {layout!r} not in {LAYOUTS}": layout not in LAYOUTS,
              f"channels {channels} not 1 or 3": channels not in (1, 3),
              f"activation {activation!r} not in {ACTIVATIONS}": activation not in ACTIVATIONS,
              f"temporal {temporal!r} not in {TEMPORAL}": temporal not in TEMPORAL,
              "mean and std need 1 or `channels` values, std > 0":
                  bool({mean.size, std.size} - {1, channels}) or bool(np.any(std <= 0)),
              f"size {size} not positive": min(size) <= 0,
              f"mask_threshold_uint8 {threshold} not in 1-254": not 0 < threshold < 255}
    problems = [message for message, failed in checks.items() if failed]
    if problems:
        raise ModelLoadError(f"{path}: {'; '.join(problems)}")
    return {"layout": layout, "channels": channels, "size": size, "mean": mean, "std": std,
            "activation": activation, "channel": channel, "temporal": temporal,
            "mask_threshold": threshold, "card": card}


class OnnxModel:
    """An ONNX model run with onnxruntime on the CPU (threads: onnxruntime's default).

    ``probabilities`` takes grey uint8 (T, H, W) frames of one clip, in order, and returns float32
    (T, H, W) LV probabilities; frames of another size than the card's are resized in and out.
    """

    def __init__(self, path: str | os.PathLike[str], sidecar: str | os.PathLike[str] | None = None,
                 threads: int = 0) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(f"{self.path}: no such ONNX model file")
        self.spec = _read_sidecar(Path(sidecar) if sidecar else sidecar_path(self.path))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for damaged or foreign files
            raise ModelLoadError(f"{self.path}: not a loadable ONNX model ({str(exc)[:160]})") from None
        self._check_io()
        card = self.spec["card"]
        self.name = card.get("name") or self.path.name
        self.parameters = card.get("parameters")
        self.mask_threshold: int = self.spec["mask_threshold"]

    @property
    def input_size(self) -> tuple[int, int]:
        """(height, width) of the frames the model takes."""
        return self.spec["size"]

    @cached_property
    def sha256(self) -> str:
        return file_sha256(self.path)

    def _check_io(self) -> None:
        inputs = self.session.get_inputs()
        self.input_name = inputs[0].name
        self.state_names = [i.name for i in inputs if i.name.startswith("state_in")]
        expected = self._input_shape()
        shape = inputs[0].shape
        fixed_mismatch = len(shape) != 4 or any(
            isinstance(got, int) and got != want for got, want in zip(shape[1:], expected[1:]))
        if fixed_mismatch or (self.spec["temporal"] == "recurrent") != bool(self.state_names):
            want = "×".join(map(str, expected[1:]))
            raise ModelLoadError(
                f"{self.path}: input {self.input_name!r} has shape {shape}, but the sidecar describes "
                f"{self.spec['layout']} N×{want} ({self.spec['temporal']}); fix the sidecar or export "
                "the model with that input")

    def _input_shape(self) -> tuple[int, int, int, int]:
        (h, w), c = self.spec["size"], self.spec["channels"]
        return (1, c, h, w) if self.spec["layout"] == "NCHW" else (1, h, w, c)

    def _prepare(self, frames: np.ndarray) -> np.ndarray:
        h, w = self.spec["size"]
        if frames.shape[1:] != (h, w):
            frames = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames])
        mean, std = self.spec["mean"], self.spec["std"]
        x = frames[:, None].astype(np.float32)
        if np.any(mean != 0) or np.any(std != 1):  # the bundled models take raw grey levels
            x = (x - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)
        if x.shape[1] != self.spec["channels"]:
            x = np.repeat(x, self.spec["channels"], axis=1)
        return np.ascontiguousarray(x if self.spec["layout"] == "NCHW" else x.transpose(0, 2, 3, 1))

    def _as_nchw(self, output: np.ndarray, n: int) -> np.ndarray:
        out = output.astype(np.float32)
        if out.ndim == 4 and self.spec["layout"] == "NHWC":
            out = out.transpose(0, 3, 1, 2)
        if out.ndim == 3:
            out = out[:, None]
        if out.ndim != 4 or out.shape[0] != n:
            raise ModelLoadError(f"{self.path}: output of shape {output.shape}; expected N×C×H×W "
                                   f"(or N×H×W) for {n} frames")
        return out

    def raw_outputs(self, frames: np.ndarray) -> np.ndarray:
        """The model's first output, (T, C, h, w) at the model's size, before the activation."""
        x = self._prepare(frames)
        temporal = self.spec["temporal"]
        if temporal == "recurrent":
            return np.concatenate(self._run_recurrent(x))
        chunk = FRAME_CHUNK if temporal == "frame" else len(x)
        return np.concatenate([self._as_nchw(self.session.run(None, {self.input_name: x[s:s + chunk]})[0],
                                             len(x[s:s + chunk])) for s in range(0, len(x), chunk)])

    def _run_recurrent(self, x: np.ndarray) -> list[np.ndarray]:
        inputs = {i.name: i for i in self.session.get_inputs()}
        state = {name: np.zeros(inputs[name].shape, np.float32) for name in self.state_names}
        parts = []
        for frame in x:
            output, *new_state = self.session.run(None, {self.input_name: frame[None], **state})
            state = dict(zip(self.state_names, new_state))
            parts.append(self._as_nchw(output, 1))
        return parts

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        out = self.raw_outputs(frames)
        activation, channel = self.spec["activation"], self.spec["channel"]
        if activation == "softmax":
            e = np.exp(out - out.max(axis=1, keepdims=True))
            probabilities = e[:, channel] / e.sum(axis=1)
        else:
            probabilities = sigmoid(out[:, channel]) if activation == "sigmoid" else np.clip(out[:, channel], 0, 1)
        if probabilities.shape[1:] != frames.shape[1:]:
            size = (frames.shape[2], frames.shape[1])
            probabilities = np.stack([cv2.resize(p, size, interpolation=cv2.INTER_LINEAR) for p in probabilities])
        return probabilities.astype(np.float32)

