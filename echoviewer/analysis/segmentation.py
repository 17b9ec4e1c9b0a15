"""LV soft masks of a whole cine from one model, kept per (cine, model) so switching back is instant."""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from echoviewer.analysis.onnx_model import OnnxModel, quantize_probabilities
from echoviewer.analysis.preprocess import SquareCrop, model_view
from echoviewer.io import Cine


@dataclass(frozen=True)
class ModelInfo:
    """What identifies a result's model in exports: its card's name, file and sha256."""

    name: str
    file: str
    sha256: str

    @classmethod
    def of(cls, model: OnnxModel) -> ModelInfo:
        return cls(model.name, model.path.name, model.sha256)


@dataclass(frozen=True, eq=False)
class Segmentation:
    """One model's output on one cine.

    ``soft`` is uint8 probability × 255 in the model view (T, h, w), ``sector`` the imaging sector
    there; ``crop`` maps them back to native pixels; a pixel is LV when ``soft > threshold``.
    """

    model: ModelInfo
    soft: np.ndarray
    sector: np.ndarray
    crop: SquareCrop
    threshold: int

    @property
    def n_frames(self) -> int:
        return int(self.soft.shape[0])

    @cached_property
    def masks(self) -> np.ndarray:
        """Boolean LV masks in the model view (T, h, w)."""
        return self.soft > self.threshold

    def native_mask(self, index: int) -> np.ndarray:
        """Boolean (H, W) LV mask of frame ``index`` on the cine's own pixel grid."""
        return self.crop.to_native(self.soft[index:index + 1])[0] > self.threshold

    def native_masks(self) -> np.ndarray:
        """Boolean (T, H, W) LV masks on the cine's own pixel grid."""
        return self.crop.to_native(self.soft) > self.threshold

    @cached_property
    def native_area_px(self) -> np.ndarray:
        """LV area of every frame in native pixels, float (T,)."""
        return np.array([np.count_nonzero(self.native_mask(i)) for i in range(self.n_frames)], float)


def segment(cine: Cine, model: OnnxModel) -> Segmentation:
    """Run ``model`` over the whole cine in frame order (temporal models see the clip as a whole)."""
    frames, sector, crop = model_view(cine, model.input_size)
    soft = quantize_probabilities(model.probabilities(frames))
    return Segmentation(ModelInfo.of(model), soft, sector, crop, model.mask_threshold)


class SegmentationCache:
    """Segmentations per cine (held only while the cine lives) and per model weights (sha256)."""

    def __init__(self) -> None:
        self._store: weakref.WeakKeyDictionary[Cine, dict[str, Segmentation]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, cine: Cine, model: OnnxModel) -> Segmentation | None:
        with self._lock:
            return self._store.get(cine, {}).get(model.sha256)

    def segment(self, cine: Cine, model: OnnxModel) -> Segmentation:
        """The cached segmentation, or a new one (computed outside the lock) that is then kept."""
        found = self.get(cine, model)
        if found is not None:
            return found
        result = segment(cine, model)
        with self._lock:
            return self._store.setdefault(cine, {}).setdefault(model.sha256, result)
