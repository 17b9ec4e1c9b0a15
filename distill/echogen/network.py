"""The label-to-echo network: a label map in, the mean and spread of every pixel's grey level out.

Input channels: one-hot labels (background, LV cavity, myocardium, left atrium) and the pixel's
normalised (x, y) position, which lets the network place the sector, the depth-dependent gain and
the structures the label map does not name (right heart, valves, pericardium) where they usually
are. Output: the mean grey level (0-1) and its log standard deviation, fitted by Gaussian negative
log-likelihood, so a sample is ``mean + std * grain``: the anatomy from the labels, the texture's
strength from what the network learned, its grain from correlated noise (:mod:`distill.echogen.render`).

(A conditional VAE with a coarse latent map was tried as well, to draw the structure the labels do
not explain; with the KL term at its ELBO weight the decoder leant on the latent for everything,
the sector included, and images drawn from the prior were shapeless. See docs/simulator-notes.md.)
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

N_CLASSES = 4  # background, LV cavity, myocardium, left atrium: the CAMUS labels
LOG_STD_MIN = -6.0


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                         nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def inputs(labels: torch.Tensor) -> torch.Tensor:
    """One-hot labels and the (x, y) position in -1..1, (B, N_CLASSES + 2, H, W)."""
    b, h, w = labels.shape
    onehot = F.one_hot(labels.clamp(0, N_CLASSES - 1), N_CLASSES).permute(0, 3, 1, 2).float()
    ys = torch.linspace(-1.0, 1.0, h, device=labels.device).view(1, 1, h, 1).expand(b, 1, h, w)
    xs = torch.linspace(-1.0, 1.0, w, device=labels.device).view(1, 1, 1, w).expand(b, 1, h, w)
    return torch.cat([onehot, xs, ys], 1)


class LabelToEcho(nn.Module):
    """A four-level U-Net at half resolution (the mean and spread are smooth; the grain comes from
    the noise), upsampled bilinearly to the label map's size; ``widths`` sets its size."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 112, 160)) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.down = nn.ModuleList()
        cin = N_CLASSES + 2
        for width in self.widths:
            self.down.append(_block(cin, width))
            cin = width
        self.up = nn.ModuleList(_block(a + b, b) for a, b in zip(self.widths[:0:-1], self.widths[-2::-1]))
        self.head = nn.Conv2d(self.widths[0], 2, 1)

    def config(self) -> dict:
        return {"name": "label-to-echo", "widths": list(self.widths)}

    @classmethod
    def from_config(cls, config: dict) -> LabelToEcho:
        return cls(tuple(int(w) for w in config["widths"]))

    def forward(self, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``labels`` (B, H, W) int64 → mean (B, H, W) in 0-1 and log std (B, H, W)."""
        size = labels.shape[-2:]
        x = F.avg_pool2d(inputs(labels), 2)
        skips = []
        for index, block in enumerate(self.down):
            x = block(x if index == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        skips.pop()
        for block in self.up:
            skip = skips.pop()
            x = block(torch.cat([F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False), skip], 1))
        out = F.interpolate(self.head(x), size=size, mode="bilinear", align_corners=False)
        return torch.sigmoid(out[:, 0]), out[:, 1].clamp(min=LOG_STD_MIN)


def gaussian_nll(mean: torch.Tensor, log_std: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (0.5 * ((target - mean) * torch.exp(-log_std)) ** 2 + log_std).mean()
