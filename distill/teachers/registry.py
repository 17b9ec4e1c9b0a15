"""Turn a ``--teacher`` / ``--student`` argument into a segmenter.

* ``truth``: the simulator's ground truth (oracle teacher);
* ``teacher`` / ``student``: the bundled ONNX models in ``resources/models/``;
* ``FILE.onnx``: any ONNX model with its JSON sidecar beside it (``FILE.json``);
* ``FILE.pt``: a ``distill train`` checkpoint, or else an EchoNet-Dynamic DeepLabV3 checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from distill.models import FORMAT, CheckpointError, parameter_count, read_checkpoint
from distill.teachers.base import Segmenter
from distill.teachers.onnx_model import OnnxSegmenter
from distill.teachers.torch_model import TorchSegmenter
from distill.teachers.truth import TruthTeacher
from echoviewer.analysis.models import BUNDLED
from echoviewer.analysis.onnx_model import sigmoid


class EchoNetTeacher(Segmenter):
    """EchoNet-Dynamic's DeepLabV3-ResNet50 (``deeplabv3_resnet50_random.pt``), the paper's teacher."""

    kind = "echonet-deeplabv3"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        from distill.teachers.deeplab import load_echonet_deeplab

        self.path = Path(path)
        self.model = load_echonet_deeplab(self.path)
        self.name = f"EchoNet-Dynamic DeepLabV3-ResNet50 ({self.path.name})"
        self.parameters = parameter_count(self.model)

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        from distill.teachers.deeplab import echonet_logits

        return sigmoid(echonet_logits(self.model, frames))



def load_segmenter(spec: str | os.PathLike[str]) -> Segmenter:
    """The segmenter ``spec`` names (see the module docstring); TeacherLoadError if unusable."""
    text = str(spec)
    if text == "truth":
        return TruthTeacher()
    if text in BUNDLED:
        if not BUNDLED[text].is_file():
            raise FileNotFoundError(f"{BUNDLED[text]}: the bundled {text} is missing; rebuild it with "
                                    "'python -m distill reproduce-bundled'")
        return OnnxSegmenter(BUNDLED[text])
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file; give 'truth', 'teacher', 'student', "
                                "a .onnx model with its .json sidecar, or a .pt checkpoint")
    if path.suffix.lower() == ".onnx":
        return OnnxSegmenter(path)
    try:
        read_checkpoint(path)
    except CheckpointError as exc:
        if FORMAT not in str(exc):  # a damaged or foreign pickle: no second reading helps
            raise
        return EchoNetTeacher(path)
    return TorchSegmenter(path)
