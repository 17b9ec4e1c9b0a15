"""Training data in memory: each video's frames with its soft targets, and random windows of them.

A 112×112 video of 100 frames holds 1.25 MB of frames and as much of targets, so a few thousand
videos fit in memory; reading them once beats decoding AVIs every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from distill.datasets.echonet import EchoNetFolder
from distill.progress import Progress
from distill.targets import read_target
from distill.segmenters.truth import TruthTeacher
from echoviewer.run_contract import load_stage


@dataclass(frozen=True)
class Clip:
    name: str
    frames: np.ndarray  # uint8 (T, H, W)
    target: np.ndarray  # uint8 (T, H, W): soft mask × 255


def load_clips(folder: EchoNetFolder, split: str, targets: str | Path, *, progress: str = "none") -> list[Clip]:
    """The videos of ``split`` with their targets: a folder made by ``distill targets``, or ``"truth"``.

    Raises ValueError naming what is missing when a video has no valid target.
    """
    records = folder.split(split)
    truth = TruthTeacher() if str(targets) == "truth" else None
    clips, bar = [], Progress(load_stage(split), total=len(records), mode=progress, unit="video")
    target: np.ndarray | None
    try:
        # Unreadable videos were reported when the targets were made.
        for record, frames, _ in folder.read_videos(records, {}, bar.advance):
            if truth is not None:
                target = truth.soft_masks(frames, folder, record)
            elif (target := read_target(Path(targets), record.name, frames.shape)) is None:
                raise ValueError(f"{Path(targets) / (record.name + '.npz')}: missing or invalid target for "
                                 f"{record.name}; run 'python -m distill targets' on {folder.root} first")
            clips.append(Clip(record.name, frames, target))
    finally:
        bar.close()
    if not clips:
        raise ValueError(f"{folder.root}: no readable {split} videos; expected an EchoNet-style folder "
                         "with a Split column (TRAIN/VAL/TEST)")
    return clips


def window_starts(clips: list[Clip], length: int, rng: np.random.Generator) -> np.ndarray:
    """One random start per clip for a window of ``length`` frames (0 when the clip is shorter)."""
    return np.array([rng.integers(0, max(len(c.frames) - length, 0) + 1) for c in clips])


def stack_windows(clips: list[Clip], starts: np.ndarray, length: int, *, frame_indices: np.ndarray | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Frames (B, L, 1, H, W) float 0–255 and targets in [0, 1], short clips padded by repeating
    their last frame. ``frame_indices`` (B, L) picks arbitrary frames instead of windows."""
    frames, targets = [], []
    for b, (clip, start) in enumerate(zip(clips, starts)):
        index = (frame_indices[b] if frame_indices is not None
                 else np.minimum(np.arange(start, start + length), len(clip.frames) - 1))
        frames.append(clip.frames[index])
        targets.append(clip.target[index])
    x = torch.from_numpy(np.stack(frames)).float()[:, :, None]
    y = torch.from_numpy(np.stack(targets)).float()[:, :, None] / 255.0
    return x, y
