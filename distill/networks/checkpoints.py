"""This project's checkpoints, written and read without ever unpickling code.

A checkpoint is a dict of plain data that ``torch.load(..., weights_only=True)`` reads:
``{"format": FORMAT, "config": {...}, "state_dict": {...}, ...}``; the config rebuilds the network
(:func:`distill.networks.from_config`).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from distill.networks import Network, from_config
from echoviewer.analysis.errors import ModelLoadError
from echoviewer.io.atomic import atomic_output

FORMAT = "echoviewer-distill-checkpoint/1"


class CheckpointError(ModelLoadError):
    """A file that is not a usable checkpoint; the message names the file and the expected form."""


def save_checkpoint(path: str | os.PathLike[str], model: nn.Module, **extra: object) -> None:
    """Write the model (and plain-data extras) atomically: a kill never leaves a half file."""
    module: Any = getattr(model, "module", model)  # a Network, unwrapped from DistributedDataParallel
    payload = {"format": FORMAT, "config": module.config(), "state_dict": module.state_dict(), **extra}
    with atomic_output(path) as temporary:
        torch.save(payload, temporary)


def read_checkpoint(path: str | os.PathLike[str]) -> dict:
    """The checkpoint's dict, read with ``weights_only=True``; CheckpointError if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch warns about foreign pickles; the error below says it in one line
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for foreign or damaged files
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"{path}: not a readable checkpoint of plain tensors ({reason}); expected "
                              "a file written by 'python -m distill train'") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a distill checkpoint (no '{FORMAT}' format tag); expected a "
                              "file written by 'python -m distill train'")
    return payload


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[Network, dict]:
    """The network stored in a checkpoint, in eval mode, and the checkpoint's dict."""
    payload = read_checkpoint(path)
    try:
        model = from_config(payload["config"])
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        reason = str(exc).strip().splitlines()[0][:160]
        raise CheckpointError(f"{path}: weights do not fit the network it names ({reason})") from None
    return model.eval(), payload
