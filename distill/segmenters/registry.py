"""Turn a ``--teacher`` / ``--student`` argument into a segmenter.

* ``truth``: the simulator's ground truth (oracle teacher);
* ``teacher`` / ``student``: the bundled ONNX models in ``echoviewer/resources/models/``;
* ``FILE.onnx``: any ONNX model with its JSON sidecar beside it (``FILE.json``);
* ``FILE.pt``: a ``distill train`` checkpoint, or else an EchoNet-Dynamic DeepLabV3 checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

from distill.networks.checkpoints import FORMAT, CheckpointError, read_checkpoint
from distill.segmenters.base import Segmenter
from distill.segmenters.checkpoint import TorchSegmenter
from distill.segmenters.echonet import EchoNetTeacher
from distill.segmenters.onnx import OnnxSegmenter
from distill.segmenters.truth import TruthTeacher
from echoviewer.analysis.models import BUNDLED


def load_segmenter(spec: str | os.PathLike[str]) -> Segmenter:
    """The segmenter ``spec`` names (see the module docstring); ModelLoadError if unusable."""
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
