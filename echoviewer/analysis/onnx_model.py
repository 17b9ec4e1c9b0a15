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
from typing import Any

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


MAX_CARD_BYTES = 1_000_000  # a model card is a few kB; more is not one
MAX_INPUT_SIDE = 2048  # pixels per side of the model's input (the bundled models take 112-224)


class _CardError(ValueError):
    """One field of a model card is wrong (the message names it)."""


def _no_constant(name: str) -> float:
    raise _CardError(f"{name} is not a number JSON allows; write a finite number")


def _integer(value: Any, name: str, low: int, high: int) -> int:
    """A whole number in ``low``-``high`` (``true`` is not 1, ``2.0`` not 2)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _CardError(f"{name} must be a whole number from {low} to {high}, not {json.dumps(value)[:40]}")
    return value


def _numbers(value: Any, name: str) -> np.ndarray:
    values = value if isinstance(value, list) else [value]
    if not 1 <= len(values) <= 3 or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise _CardError(f"{name} must be a number or a list of 1 or 3 numbers, not {json.dumps(value)[:40]}")
    numbers = np.asarray(values, np.float64)
    if not np.all(np.isfinite(numbers)) or np.any(np.abs(numbers) > 1e6):
        raise _CardError(f"{name} must hold finite numbers of at most 1e6, not {json.dumps(value)[:40]}")
    return numbers.astype(np.float32)


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _CardError(f"{name} must be one of {', '.join(allowed)}, not {json.dumps(value)[:40]}")
    return value


def _object(value: Any, name: str) -> dict:
    if not isinstance(value, dict):
        raise _CardError(f"{name} must be a JSON object, not {json.dumps(value)[:40]}")
    return value


def _read_sidecar(path: Path) -> dict:
    """The model card, checked field by field: each type, range and size, so a damaged or hostile
    card is refused in one line naming its field, never a traceback, NaN masks or a huge allocation."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: no sidecar beside the ONNX model; {_EXPECTED}")
    try:
        if path.stat().st_size > MAX_CARD_BYTES:
            raise _CardError(f"the card is {path.stat().st_size:,} bytes; a model card is at most "
                             f"{MAX_CARD_BYTES:,}")
        card = _object(json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant), "the sidecar")
        spec, out = _object(card.get("input"), "input"), _object(card.get("output", {}), "output")
        layout = _choice(spec.get("layout", "NCHW"), "input.layout", LAYOUTS)
        channels = _integer(spec.get("channels", 1), "input.channels", 1, 3)
        if channels == 2:
            raise _CardError("input.channels must be 1 or 3, not 2")
        size = (_integer(spec.get("height"), "input.height", 1, MAX_INPUT_SIDE),
                _integer(spec.get("width"), "input.width", 1, MAX_INPUT_SIDE))
        mean, std = _numbers(spec.get("mean", [0.0]), "input.mean"), _numbers(spec.get("std", [1.0]), "input.std")
        if {mean.size, std.size} - {1, channels} or np.any(std <= 0):
            raise _CardError("input.mean and input.std need 1 or `channels` values, std > 0")
        activation = _choice(out.get("activation", "sigmoid"), "output.activation", ACTIVATIONS)
        temporal = _choice(card.get("temporal", "frame"), "temporal", TEMPORAL)
        channel = _integer(out.get("channel", 0), "output.channel", 0, 1023)
        threshold = _integer(out.get("mask_threshold_uint8", MASK_THRESHOLD), "output.mask_threshold_uint8", 1, 254)
    except _CardError as exc:
        raise ModelLoadError(f"{path}: {exc}; fix the model card (the .json sidecar)") from None
    except RecursionError:
        raise ModelLoadError(f"{path}: the card is nested too deeply to be a model card; {_EXPECTED}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: unreadable sidecar ({type(exc).__name__}: {exc}); {_EXPECTED}") from None
    return {"layout": layout, "channels": channels, "size": size, "mean": mean, "std": std,
            "activation": activation, "channel": channel, "temporal": temporal,
            "mask_threshold": threshold, "card": card}


class OnnxModel:
    """An ONNX model run with onnxruntime on the CPU (threads: onnxruntime's default).

    ``probabilities`` takes grey uint8 (T, H, W) frames of one clip, in order, and returns float32
    (T, H, W) LV probabilities; frames of another size than the card's are resized in and out.
    """

    def __init__(self, path: str | os.PathLike[str], sidecar: str | os.PathLike[str] | None = None,
                 threads: int = 0, memory_arena: bool = True) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelLoadError(f"{self.path}: no such ONNX model file")
        self.spec = _read_sidecar(Path(sidecar) if sidecar else sidecar_path(self.path))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.enable_cpu_mem_arena = memory_arena  # off: memory returned after each run
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
        output = self.session.get_outputs()[0].shape
        axis = 1 if self.spec["layout"] == "NCHW" else -1
        classes = output[axis] if len(output) == 4 else None
        if isinstance(classes, int) and self.spec["channel"] >= classes:
            raise ModelLoadError(f"{self.path}: output.channel {self.spec['channel']} but the model has {classes} "
                                 f"output channel(s) (0-{classes - 1}); fix the model card")
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

