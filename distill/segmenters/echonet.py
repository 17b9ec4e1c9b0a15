"""EchoNet-Dynamic's DeepLabV3-ResNet50 (``deeplabv3_resnet50_random.pt``), the paper's teacher.

:func:`load_echonet_deeplab` reads the released checkpoint into
:class:`distill.networks.deeplab.DeepLabV3ResNet50` with ``torch.load(weights_only=True)`` only, so
no object in the file is ever executed; :func:`echonet_logits` preprocesses frames as EchoNet-Dynamic
does. :class:`EchoNetTeacher` puts both behind the segmenter interface.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from distill.networks import parameter_count
from distill.networks.deeplab import ECHONET_MEAN, ECHONET_SIZE, ECHONET_STD, DeepLabV3ResNet50
from distill.segmenters.base import Segmenter
from echoviewer.analysis.errors import ModelLoadError
from echoviewer.analysis.onnx_model import sigmoid
from echoviewer.io.errors import short_reason

_HEAD_WEIGHT = "classifier.4.weight"
_EXPECTED = "expected the state_dict of torchvision deeplabv3_resnet50 with a 1-channel head"


def _listed(names: list[str], what: str) -> str:
    """E.g. "5 missing keys (a, b, c, ...)": a count and at most three names."""
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"{len(names)} {what}{'' if len(names) == 1 else 's'} ({shown})"


def _read_state_dict(path: Path) -> Mapping[str, object]:
    """The checkpoint's state_dict, read with the weights-only unpickler; raises ModelLoadError."""
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such file; "
                             "expected EchoNet-Dynamic's deeplabv3_resnet50_random.pt")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc):
            raise ModelLoadError(f"{path}: holds pickled Python objects other than tensors and plain "
                                 "containers; refused to unpickle them (only weights are read)") from None
        raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint (the weights-only reader "
                             "rejects its contents)") from None
    except Exception as exc:  # torch.load raises many types on damaged or foreign bytes
        raise ModelLoadError(f"{path}: not a readable PyTorch checkpoint "
                             f"({type(exc).__name__}: {short_reason(exc)})") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]  # EchoNet-Dynamic's {"epoch", "state_dict", "opt_dict", ...}
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(key, str) for key in obj):
        raise ModelLoadError(f"{path}: not an EchoNet-Dynamic DeepLabV3-ResNet50 checkpoint: "
                             f"neither a state_dict nor a dict holding one; {_EXPECTED}")
    if all(key.startswith("module.") for key in obj):  # saved from nn.DataParallel
        obj = {key.removeprefix("module."): value for key, value in obj.items()}
    return obj


def _mismatch(state: Mapping[str, object], expected: Mapping[str, torch.Tensor]) -> str | None:
    """What keeps ``state`` from loading strictly into a model whose state_dict is ``expected``."""
    head = state.get(_HEAD_WEIGHT)
    if isinstance(head, torch.Tensor) and head.ndim == 4 and head.shape[0] != 1:
        return f"a {head.shape[0]}-channel head ({_HEAD_WEIGHT} {tuple(head.shape)})"
    tensors = {key: value for key, value in state.items() if isinstance(value, torch.Tensor)}
    not_tensors = [key for key in state if key not in tensors]
    if not_tensors:
        return _listed(not_tensors, "non-tensor value")
    missing = [key for key in expected if key not in state]
    if missing:
        return _listed(missing, "missing key")
    unexpected = [key for key in state if key not in expected]
    if unexpected:
        return _listed(unexpected, "unexpected key")
    wrong = [f"{key} {tuple(tensors[key].shape)} not {tuple(value.shape)}"
             for key, value in expected.items() if tensors[key].shape != value.shape]
    if wrong:
        return _listed(wrong, "wrong shape")
    return None


def load_echonet_deeplab(path: str | Path) -> nn.Module:
    """EchoNet-Dynamic's segmentation checkpoint as an eval-mode CPU :class:`DeepLabV3ResNet50`.

    Reads the released ``{"epoch", "state_dict", "best_loss", "loss", "opt_dict", "scheduler_dict"}``
    file (``module.``-prefixed keys from DataParallel) or a bare state_dict, with or without the
    prefix, and loads it strictly. Every failure raises :class:`ModelLoadError`.
    """
    path = Path(path)
    state = _read_state_dict(path)
    with torch.device("meta"):  # shapes only: nothing allocated before the checkpoint fits
        problem = _mismatch(state, DeepLabV3ResNet50().state_dict())
    if problem is None:
        model = DeepLabV3ResNet50()
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:  # e.g. a dtype that cannot be copied into float weights
            problem = short_reason(exc)
    if problem is not None:
        raise ModelLoadError(f"{path}: not an EchoNet-Dynamic DeepLabV3-ResNet50 checkpoint: "
                             f"{problem}; {_EXPECTED}")
    return model.eval()


def echonet_logits(model: nn.Module, frames: np.ndarray, batch: int = 16) -> np.ndarray:
    """LV logits (T,H,W) float32 of uint8 grey frames (T,H,W), preprocessed as EchoNet-Dynamic.

    Frames of another size are area-resized to 112×112 and the logits bilinearly resized back.
    Grey is replicated to RGB and normalised with :data:`ECHONET_MEAN` / :data:`ECHONET_STD`.
    ``model`` (ours, or torchvision's with its dict output) must be in eval mode; it runs under
    ``torch.inference_mode`` in chunks of ``batch``.
    """
    if frames.ndim != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T,H,W), got {frames.dtype} {frames.shape}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    if model.training:
        raise ValueError("the model must be in eval mode (BatchNorm would use batch statistics)")
    count, height, width = frames.shape
    logits = np.empty((count, height, width), np.float32)
    resize = (height, width) != (ECHONET_SIZE, ECHONET_SIZE)
    if count == 0:
        return logits
    if resize:
        frames = np.stack([cv2.resize(frame, (ECHONET_SIZE, ECHONET_SIZE), interpolation=cv2.INTER_AREA)
                           for frame in frames])
    device = next(model.parameters()).device
    mean = torch.tensor(ECHONET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(ECHONET_STD, device=device).view(1, 3, 1, 1)
    with torch.inference_mode():
        for start in range(0, count, batch):
            chunk = np.ascontiguousarray(frames[start:start + batch])
            grey = torch.from_numpy(chunk).to(device=device, dtype=torch.float32)
            x = (grey[:, None].expand(-1, 3, -1, -1) - mean) / std
            out = model(x)
            if isinstance(out, Mapping):  # torchvision's own model returns {"out": logits}
                out = out["out"]
            if resize:
                out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
            logits[start:start + batch] = out[:, 0].float().cpu().numpy()
    return logits


class EchoNetTeacher(Segmenter):
    """EchoNet-Dynamic's DeepLabV3-ResNet50 (``deeplabv3_resnet50_random.pt``), the paper's teacher."""

    kind = "echonet-deeplabv3"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.model = load_echonet_deeplab(self.path)
        self.name = f"EchoNet-Dynamic DeepLabV3-ResNet50 ({self.path.name})"
        self.parameters = parameter_count(self.model)

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        return sigmoid(echonet_logits(self.model, frames))
