"""The simulator's ground truth as an oracle teacher, for upper-bound experiments."""

from __future__ import annotations

import numpy as np

from distill.datasets.echonet import EchoNetFolder, VideoRecord
from distill.segmenters.base import Segmenter


class TruthTeacher(Segmenter):
    """Soft masks that are the exact truth masks (0 or 255). Only our simulator's folders have them."""

    name = "truth"
    kind = "truth"

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        raise ValueError("the truth teacher needs a dataset folder made by 'python -m distill generate'")

    def soft_masks(self, frames: np.ndarray, folder: EchoNetFolder | None = None,
                   record: VideoRecord | None = None) -> np.ndarray:
        truth = folder.truth(record.name) if folder is not None and record is not None else None
        if truth is None:
            where = f"{folder.root}/Masks/{record.name}.npz" if folder and record else "Masks/<name>.npz"
            raise ValueError(f"{where}: no ground truth; the truth teacher needs a folder made by "
                             "'python -m distill generate'")
        assert record is not None  # the truth was read for it
        if truth.masks.shape != frames.shape:
            raise ValueError(f"{record.name}: truth masks {truth.masks.shape} do not match the video "
                             f"{frames.shape}")
        return truth.masks.astype(np.uint8) * np.uint8(255)
