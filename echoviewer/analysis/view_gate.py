"""The view gate: is this cine an apical view whose LV the models can measure?

Two cues, either of which raises the ``view_not_apical`` warning:

* **The file says so.** A DICOM whose ultrasound regions include an M-mode or spectral Doppler
  display (RegionSpatialFormat 2 or 3) is not a 2D apical cine, whatever its pixels look like.
* **The picture says so.** A small classifier (``view_gate.onnx``, trained by ``python -m distill
  train-view-gate`` on simulated apical, parasternal and non-cardiac cines; nothing real) scores
  up to :data:`FRAMES` frames spread over the clip in the model view; a mean apical probability
  below :data:`APICAL_THRESHOLD` raises the flag.

The flag means EF and volumes are not to be trusted: the models only know the apical LV, and on
any other view they still draw a confident one.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import onnxruntime as ort

from echoviewer.analysis.errors import ModelLoadError
from echoviewer.analysis.onnx_model import sidecar_path, sigmoid
from echoviewer.analysis.preprocess import MODEL_SIZE, view_of
from echoviewer.io import Cine
from echoviewer.io.atomic import read_json
from echoviewer.resources import VIEW_GATE_MODEL

APICAL_VIEW = "apical"
INPUT_NAME, OUTPUT_NAME = "frames", "logits"
FRAMES = 8
APICAL_THRESHOLD = 0.5
NOT_2D_FORMATS = {2: "M-mode", 3: "spectral Doppler"}  # DICOM RegionSpatialFormat
CODE = "view_not_apical"


@dataclass(frozen=True)
class ViewScore:
    """What the gate saw: the mean apical probability (None when it did not look) and why it flags."""

    apical_probability: float | None
    reason: str | None

    @property
    def flagged(self) -> bool:
        return self.reason is not None


class ViewGate:
    """The bundled classifier, loaded once (onnxruntime sessions may be run from several threads),
    with each cine's verdict kept while the cine lives: the view does not change with the model, so
    switching models or re-analysing does not score it again."""

    def __init__(self, path: Path = VIEW_GATE_MODEL) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._scores: weakref.WeakKeyDictionary[Cine, ViewScore] = weakref.WeakKeyDictionary()

    @cached_property
    def _session(self) -> ort.InferenceSession:
        card = read_json(sidecar_path(self.path))
        if not (isinstance(card, dict) and card.get("input", {}).get("size") == [MODEL_SIZE, MODEL_SIZE]):
            raise ModelLoadError(f"{self.path}: missing or unexpected view-gate card; reinstall echoviewer")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        return ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])

    def apical_probability(self, frames: np.ndarray) -> float:
        """Mean apical probability of uint8 model-view frames (N, 112, 112)."""
        with self._lock:
            session = self._session
        logits = session.run(None, {INPUT_NAME: frames[:, None].astype(np.float32)})[0][:, 0]
        return float(np.mean(sigmoid(logits)))

    def score(self, cine: Cine) -> ViewScore:
        """The verdict on ``cine``: the kept one, or a new one (computed outside the lock)."""
        with self._lock:
            found = self._scores.get(cine)
        if found is None:
            found = _score(cine, self)
            with self._lock:
                found = self._scores.setdefault(cine, found)
        return found


_gate = ViewGate()


def view_frames(cine: Cine, count: int = FRAMES) -> np.ndarray:
    """Up to ``count`` frames spread over the clip, in the 112×112 model view."""
    picked = np.unique(np.linspace(0, cine.n_frames - 1, min(count, cine.n_frames)).round().astype(int))
    return view_of(cine.frames[picked], cine.sector_mask)[0]


def score_view(cine: Cine, gate: ViewGate = _gate) -> ViewScore:
    """The gate's verdict on ``cine`` (scored once per cine)."""
    return gate.score(cine)


def _score(cine: Cine, gate: ViewGate) -> ViewScore:
    formats = [NOT_2D_FORMATS[f] for f in cine.metadata.region_formats if f in NOT_2D_FORMATS]
    if formats:
        return ViewScore(None, f"the file holds a {formats[0]} display, not a 2D apical cine")
    probability = gate.apical_probability(view_frames(cine))
    if probability < APICAL_THRESHOLD:
        return ViewScore(probability, f"it does not look like an apical view (apical score {probability:.2f})")
    return ViewScore(probability, None)
