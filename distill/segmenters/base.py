"""The one interface of every segmenter (teacher, or student under evaluation): frames in, soft
LV masks out.

Frames are the model view, grey uint8 (T, H, W) in clip order. ``probabilities`` returns float32
(T, H, W) in [0, 1]; ``soft_masks`` stores them as the paper does, uint8 sigmoid × 255.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path

import numpy as np

from distill.datasets.echonet import EchoNetFolder, VideoRecord
from echoviewer.analysis.onnx_model import file_sha256, quantize_probabilities


class Segmenter(ABC):
    """A model that draws the LV. ``describe()`` identifies it in manifests and model cards."""

    name: str = "segmenter"
    parameters: int | None = None
    kind: str = "segmenter"
    path: Path | None = None  # the model file, if any

    @abstractmethod
    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Float32 (T, H, W) LV probabilities for grey uint8 (T, H, W) frames of one clip."""

    def soft_masks(self, frames: np.ndarray, folder: EchoNetFolder | None = None,
                   record: VideoRecord | None = None) -> np.ndarray:
        """uint8 (T, H, W) soft masks; the truth teacher needs the folder and record."""
        return quantize_probabilities(self.probabilities(frames))

    @cached_property
    def sha256(self) -> str | None:
        """The model file's sha256: which weights made a set of targets or a score."""
        return None if self.path is None else file_sha256(self.path)

    def describe(self) -> dict:
        described = {"name": self.name, "kind": self.kind, "parameters": self.parameters}
        if self.path is not None:
            described.update(path=str(self.path), sha256=self.sha256)
        return described
