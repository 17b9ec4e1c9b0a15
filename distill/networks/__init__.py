"""The networks distill trains and the teacher it can read, in torch; built by name.

* ``unet.py``      the U-Net family: ``fast`` (the default student), ``teacher`` (the bundled
  teacher's network);
* ``convlstm.py``  the paper's ConvLSTM student, ``convlstm`` or ``convlstm:KxN`` (K blocks of N
  layers; default 3x3);
* ``deeplab.py``   EchoNet-Dynamic's DeepLabV3-ResNet50 (read by
  :mod:`distill.segmenters.echonet`, never trained here);
* ``checkpoints.py``  this project's checkpoints: written and read as plain tensors.
"""

from __future__ import annotations

import re

from torch import nn

from distill.networks.convlstm import ConvLSTMStudent
from distill.networks.unet import ARCHITECTURES, TemporalUNet

__all__ = ["ARCHITECTURES", "build", "from_config", "parameter_count"]

# What build and from_config return: each has config() and a ``temporal`` kind.
Network = TemporalUNet | ConvLSTMStudent

_CONVLSTM = re.compile(r"convlstm(?::(\d)x(\d))?")


def build(name: str) -> Network:
    """A freshly initialised network from its name (see the module docstring)."""
    if name in ARCHITECTURES:
        return TemporalUNet(name)
    if match := _CONVLSTM.fullmatch(name):
        blocks, layers = (int(match[1]), int(match[2])) if match[1] else (3, 3)
        return ConvLSTMStudent(blocks=blocks, layers=layers)
    raise ValueError(f"unknown network {name!r}; expected one of {', '.join(sorted(ARCHITECTURES))}, "
                     "convlstm or convlstm:KxN (e.g. convlstm:2x2)")


def from_config(config: dict) -> Network:
    """Rebuild a network from ``model.config()``."""
    kind = config.get("name")
    if kind == "unet":
        return TemporalUNet.from_config(config)
    if kind == "convlstm":
        return ConvLSTMStudent.from_config(config)
    raise ValueError(f"unknown network config {config!r}")


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
