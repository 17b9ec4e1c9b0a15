"""The label-to-echo network: a label map and a latent in, the mean and spread of every pixel out.

It is the decoder of a conditional variational autoencoder. Its inputs: one-hot labels
(background, LV cavity, myocardium, left atrium), the pixel's normalised (x, y) position (the
sector, depth-dependent gain and the structures the labels do not name, such as the right heart,
valves and pericardium, sit where they usually are) and a coarse latent map (8 × 8 px cells) that
says how this image departs from the average one: a brighter septum, a dropout, a shadow, where
the right heart's walls run. Output: the mean grey level (0-1) and its log standard deviation. In
training an encoder reads the real image to pick the latent, and the loss is the Gaussian negative
log-likelihood plus the latent's KL divergence from a standard normal; to draw an image the latent
comes from that normal, so no image is needed. A sample is ``mean + std * grain``
(:mod:`distill.echogen.render`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

N_CLASSES = 4  # background, LV cavity, myocardium, left atrium: the CAMUS labels
LATENT_CELL = 8  # pixels per latent cell side
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


class LatentEncoder(nn.Module):
    """(image, labels) → mean and log variance of the latent, (B, C, H/8, W/8) each."""

    def __init__(self, channels: int, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = N_CLASSES + 3
        for _ in range(3):  # three stride-2 convolutions: 8 × 8 px cells
            layers += [nn.Conv2d(cin, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            cin, width = width, width * 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(cin, 2 * channels, 1)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.head(self.body(torch.cat([inputs(labels), images[:, None]], 1)))
        mean, log_var = out.chunk(2, dim=1)
        return mean, log_var.clamp(-10.0, 10.0)


class LabelToEcho(nn.Module):
    """A four-level U-Net at half resolution (the mean and spread are smooth; the grain comes from
    the noise), upsampled bilinearly to the label map's size; ``widths`` sets its size."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 112, 160), latent_channels: int = 8) -> None:
        super().__init__()
        self.widths = tuple(widths)
        self.latent_channels = latent_channels
        self.down = nn.ModuleList()
        cin = N_CLASSES + 2 + latent_channels
        for width in self.widths:
            self.down.append(_block(cin, width))
            cin = width
        self.up = nn.ModuleList(_block(a + b, b) for a, b in zip(self.widths[:0:-1], self.widths[-2::-1]))
        self.head = nn.Conv2d(self.widths[0], 2, 1)

    def config(self) -> dict:
        return {"name": "label-to-echo", "widths": list(self.widths), "latent_channels": self.latent_channels}

    @classmethod
    def from_config(cls, config: dict) -> LabelToEcho:
        return cls(tuple(int(w) for w in config["widths"]), int(config["latent_channels"]))

    def latent_shape(self, height: int, width: int) -> tuple[int, int, int]:
        return self.latent_channels, -(-height // LATENT_CELL), -(-width // LATENT_CELL)

    def forward(self, labels: torch.Tensor, latent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``labels`` (B, H, W) int64 and ``latent`` (B, C, H/8, W/8) → mean (B, H, W) in 0-1 and log std."""
        size = labels.shape[-2:]
        half = (size[0] // 2, size[1] // 2)
        x = torch.cat([F.avg_pool2d(inputs(labels), 2),
                       F.interpolate(latent, size=half, mode="bilinear", align_corners=False)], 1)
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


def kl_divergence(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(q ‖ N(0, 1)) summed over the latent, per image."""
    return 0.5 * (mean ** 2 + log_var.exp() - 1.0 - log_var).sum(dim=(1, 2, 3)).mean()
