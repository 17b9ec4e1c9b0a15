"""The one interface of every segmenter (teacher, or student under evaluation): frames in, soft
LV masks out.

Frames are the model view, grey uint8 (T, H, W) in clip order. ``probabilities`` returns float32
(T, H, W) in [0, 1]; ``soft_masks`` stores them as the paper does, uint8 sigmoid × 255.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from distill.datasets.echonet import EchoNetFolder, VideoRecord


def to_uint8(probabilities: np.ndarray) -> np.ndarray:
    """Sigmoid × 255, rounded: the paper's soft-target storage."""
    return np.rint(np.clip(probabilities, 0.0, 1.0) * 255.0).astype(np.uint8)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype(np.float32)  # overflow-free logistic


class Segmenter(ABC):
    """A model that draws the LV. ``describe()`` identifies it in manifests and model cards."""

    name: str = "segmenter"
    parameters: int | None = None

    @abstractmethod
    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        """Float32 (T, H, W) LV probabilities for grey uint8 (T, H, W) frames of one clip."""

    def soft_masks(self, frames: np.ndarray, folder: EchoNetFolder | None = None,
                   record: VideoRecord | None = None) -> np.ndarray:
        """uint8 (T, H, W) soft masks; the truth teacher needs the folder and record."""
        return to_uint8(self.probabilities(frames))

    def describe(self) -> dict:
        return {"name": self.name, "parameters": self.parameters}
