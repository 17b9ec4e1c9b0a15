"""The GUI-free analysis of a cine (onnxruntime, no torch, no Qt): the model view, LV segmentation
cached per (cine, model), the area curve, ED/ES of every beat, measurements and quality flags."""

from echoviewer.analysis.cine_analysis import CineAnalysis, analyze
from echoviewer.analysis.errors import ModelLoadError
from echoviewer.analysis.models import BUNDLED, DEFAULT_MODEL, load_model
from echoviewer.analysis.segmentation import Segmentation, SegmentationCache

__all__ = ["BUNDLED", "DEFAULT_MODEL", "CineAnalysis", "ModelLoadError", "Segmentation",
           "SegmentationCache", "analyze", "load_model"]
