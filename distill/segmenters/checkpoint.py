"""A network of this project (a ``distill train`` checkpoint) used as a segmenter."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from distill.networks import parameter_count
from distill.networks.checkpoints import load_checkpoint
from distill.segmenters.base import Segmenter
from echoviewer.analysis.onnx_model import sigmoid

FRAME_CHUNK = 32  # frames per forward pass of a per-frame network (bounded memory)


def clip_logits(model: nn.Module, frames: np.ndarray) -> np.ndarray:
    """Float32 (T, H, W) logits of a (T, H, W) grey uint8 clip; a temporal network sees it whole."""
    device = next(model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(frames)).to(device=device, dtype=torch.float32)[:, None]
    chunk = FRAME_CHUNK if getattr(model, "temporal", "frame") == "frame" else len(frames)
    with torch.inference_mode():
        parts = [model(x[start:start + chunk][None])[0, :, 0] for start in range(0, len(frames), chunk)]
    return torch.cat(parts).float().cpu().numpy()


class TorchSegmenter(Segmenter):
    kind = "checkpoint"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.model, checkpoint = load_checkpoint(self.path)
        self.config = checkpoint["config"]
        self.name = f"{self.path.name} ({self.model.config().get('arch') or self.config['name']})"
        self.parameters = parameter_count(self.model)

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        return sigmoid(clip_logits(self.model, frames))

    def describe(self) -> dict:
        return {**super().describe(), "config": self.config}
