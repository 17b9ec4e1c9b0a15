"""EchoDFKD's ConvLSTM student: a causal ConvLSTM encoder and a plain upsampling decoder.

Input is grey video ``(B, T, 1, H, W)`` in raw 0–255 (no normalisation); output is one logit per
pixel and frame, ``(B, T, 1, H, W)``. Frame ``t`` sees only frames ``≤ t``: :meth:`ConvLSTMStudent.step`
advances one frame with an explicit state, and ``forward`` is that same step run over time, so a
cine can be streamed frame by frame (:func:`export_step_onnx` exports the step for onnxruntime).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

NAME = "convlstm"

State = tuple[Tensor, ...]


class ConvLSTMLayer(nn.Module):
    """One ConvLSTM layer (3×3 gates on ``concat(input, hidden)``) and the BatchNorm on its output."""

    def __init__(self, in_channels: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.gates = nn.Conv2d(in_channels + hidden, 4 * hidden, 3, padding=1)
        self.norm = nn.BatchNorm2d(hidden)

    def forward(self, x: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Return ``(normalised output, h, c)`` for one frame; ``h`` and ``c`` are the new state."""
        i, f, o, g = self.gates(torch.cat((x, h), 1)).chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return self.norm(h), h, c


class ConvLSTMStudent(nn.Module):
    """Encoder of ``blocks`` blocks of ``layers`` ConvLSTM layers (block i: ``filters·2^i`` channels,
    2×2 max-pool after every block but the last); decoder of ``blocks − 1`` stages of nearest ×2
    upsample → 3×3 conv halving the channels → BatchNorm (no skips, no non-linearity); 1×1 head."""

    temporal = "recurrent"

    def __init__(self, blocks: int = 3, layers: int = 3, filters: int = 12) -> None:
        super().__init__()
        if min(blocks, layers, filters) < 1:
            raise ValueError(f"blocks, layers and filters must be ≥ 1, got {blocks}, {layers}, {filters}")
        self.blocks, self.layers, self.filters = blocks, layers, filters
        widths = [filters * 2 ** i for i in range(blocks)]
        self.encoder = nn.ModuleList()
        channels = 1
        for width in widths:
            block = nn.ModuleList()
            for _ in range(layers):
                block.append(ConvLSTMLayer(channels, width))
                channels = width
            self.encoder.append(block)
        self.pool = nn.MaxPool2d(2)
        self.decoder = nn.Sequential(*(
            nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                          nn.Conv2d(width, width // 2, 3, padding=1), nn.BatchNorm2d(width // 2))
            for width in reversed(widths[1:])))
        self.head = nn.Conv2d(filters, 1, 1)

    def config(self) -> dict[str, Any]:
        """JSON-able settings that :meth:`from_config` rebuilds this architecture from."""
        return {"name": NAME, "blocks": self.blocks, "layers": self.layers, "filters": self.filters}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ConvLSTMStudent:
        """Build an (untrained) student from :meth:`config`'s dict."""
        if config.get("name") != NAME:
            raise ValueError(f"not a {NAME} config: {config!r}")
        return cls(blocks=config["blocks"], layers=config["layers"], filters=config["filters"])

    def check_size(self, height: int, width: int) -> None:
        """Raise ValueError unless both sides survive the ``blocks − 1`` poolings exactly."""
        factor = 2 ** (self.blocks - 1)
        if height % factor or width % factor:
            raise ValueError(f"frame size {height}×{width} is not divisible by {factor} "
                             f"(= 2^(blocks − 1) for blocks={self.blocks}); crop or pad the frames")

    def init_state(self, batch: int, height: int, width: int, device: torch.device | str | None = None,
                   dtype: torch.dtype | None = None) -> State:
        """Zero state ``(h, c)`` of every ConvLSTM layer, flattened in layer order; defaults to the
        parameters' device and dtype."""
        self.check_size(height, width)
        weight = self.head.weight
        device, dtype = device or weight.device, dtype or weight.dtype
        state: list[Tensor] = []
        for b, block in enumerate(self.encoder):
            for layer in cast("Iterable[ConvLSTMLayer]", block):  # each block: a ModuleList of layers
                shape = (batch, layer.hidden, height >> b, width >> b)
                state += [torch.zeros(shape, device=device, dtype=dtype),
                          torch.zeros(shape, device=device, dtype=dtype)]
        return tuple(state)

    def step(self, frame: Tensor, state: State) -> tuple[Tensor, State]:
        """Advance one frame ``(B, 1, H, W)``: return its logits ``(B, 1, H, W)`` and the new state."""
        x, new_state, k = frame, [], 0
        for b, block in enumerate(self.encoder):
            if b:
                x = self.pool(x)
            for layer in cast("Iterable[ConvLSTMLayer]", block):
                x, h, c = layer(x, state[k], state[k + 1])
                new_state += [h, c]
                k += 2
        return self.head(self.decoder(x)), tuple(new_state)

    def forward(self, video: Tensor) -> Tensor:
        """Logits ``(B, T, 1, H, W)`` of a video ``(B, T, 1, H, W)``, from a zero state."""
        batch, frames, _, height, width = video.shape
        state = self.init_state(batch, height, width, video.device, video.dtype)
        logits = []
        for t in range(frames):
            logit, state = self.step(video[:, t], state)
            logits.append(logit)
        return torch.stack(logits, 1)


class ConvLSTMStep(nn.Module):
    """One streaming step for export: ``forward(frame, *state) -> (logits, *new_state)``."""

    def __init__(self, student: ConvLSTMStudent) -> None:
        super().__init__()
        self.student = student

    def forward(self, frame: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        logits, new_state = self.student.step(frame, state)
        return (logits, *new_state)


def export_step_onnx(student: ConvLSTMStudent, path: str | Path, height: int = 112, width: int = 112) -> Path:
    """Export the eval-mode step (batch 1, fixed ``height``×``width``) to ONNX at ``path``.

    Inputs ``frame`` (1, 1, H, W) raw 0–255 and ``state_in_0..``; outputs ``logits`` and
    ``state_out_0..`` (``h``, ``c`` of each layer in order; feed zeros for the first frame).
    """
    path = Path(path)
    was_training = student.training
    student.eval()
    try:
        state = student.init_state(1, height, width)
        frame = torch.zeros(1, 1, height, width, dtype=state[0].dtype, device=state[0].device)
        torch.onnx.export(
            ConvLSTMStep(student), (frame, *state), str(path), dynamo=False, opset_version=17,
            input_names=["frame", *(f"state_in_{i}" for i in range(len(state)))],
            output_names=["logits", *(f"state_out_{i}" for i in range(len(state)))])
    finally:
        student.train(was_training)
    return path
