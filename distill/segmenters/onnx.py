"""Any ONNX model plus its JSON sidecar as a teacher (or a student under evaluation): the viewer's
own runner, :class:`echoviewer.analysis.onnx_model.OnnxModel`, behind the segmenter interface."""

from __future__ import annotations

from pathlib import Path

from distill.segmenters.base import Segmenter
from echoviewer.analysis.onnx_model import OnnxModel


class OnnxSegmenter(OnnxModel, Segmenter):
    """An ONNX model run with onnxruntime; the sidecar's schema is in ``echoviewer.analysis.onnx_model``."""

    kind = "onnx"
    path: Path  # OnnxModel always has its file
