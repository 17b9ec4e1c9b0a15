"""EchoNet-Dynamic's LV segmentation network: DeepLabV3-ResNet50 with a 1-channel head, in pure torch.

EchoNet-Dynamic builds ``torchvision.models.segmentation.deeplabv3_resnet50(aux_loss=False)`` and
replaces ``classifier[-1]`` by ``nn.Conv2d(256, 1, kernel_size=1)``. :class:`DeepLabV3ResNet50`
re-implements that network without torchvision: same modules, so the ``state_dict`` matches
torchvision's key for key and shape for shape (362 entries, 39,633,729 parameters). Its forward
returns the logits tensor itself instead of torchvision's ``{"out": logits}``.

:mod:`distill.segmenters.echonet` reads the released checkpoint into it and runs it as a teacher.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

# The normalisation and frame size it was trained with (EchoNet-Dynamic's frames)
ECHONET_MEAN = (32.085175, 32.591923, 33.37932)  # RGB, 0-255 scale
ECHONET_STD = (50.129288, 50.487717, 51.34619)
ECHONET_SIZE = 112  # EchoNet-Dynamic's frames are 112×112


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Sequential:
    """torchvision's ASPP branch (1×1) and ASPPConv (3×3 atrous) layout: conv, BN, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=dilation * (kernel_size // 2),
                  dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    )


class Bottleneck(nn.Module):
    """torchvision's ResNet V1.5 bottleneck: the stride sits on the 3×3 conv (conv2)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = _conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=dilation,
                               dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class ResNet50Backbone(nn.Sequential):
    """ResNet-50 with ``replace_stride_with_dilation=[False, True, True]`` (output stride 8) as
    torchvision's ``IntermediateLayerGetter(..., {"layer4": "out"})`` keeps it: stem and layer1-4,
    no avgpool or fc. Initialised as torchvision's ResNet (Kaiming fan-out convs, BN 1/0)."""

    def __init__(self) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict(
            conv1=nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
            bn1=nn.BatchNorm2d(64),
            relu=nn.ReLU(inplace=True),
            maxpool=nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        inplanes, dilation = 64, 1
        stages = ((64, 3, 1, False), (128, 4, 2, False), (256, 6, 2, True), (512, 3, 2, True))
        for index, (planes, blocks, stride, dilate) in enumerate(stages, start=1):
            # torchvision's _make_layer: the first block keeps the previous dilation.
            previous_dilation = dilation
            if dilate:
                dilation *= stride
                stride = 1
            downsample = None
            if stride != 1 or inplanes != planes * Bottleneck.expansion:
                downsample = nn.Sequential(_conv1x1(inplanes, planes * Bottleneck.expansion, stride),
                                           nn.BatchNorm2d(planes * Bottleneck.expansion))
            stage = [Bottleneck(inplanes, planes, stride, previous_dilation, downsample)]
            inplanes = planes * Bottleneck.expansion
            stage += [Bottleneck(inplanes, planes, dilation=dilation) for _ in range(1, blocks)]
            layers[f"layer{index}"] = nn.Sequential(*stage)
        super().__init__(layers)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)


class ASPPPooling(nn.Sequential):
    """Image-level branch: global average, 1×1 conv, BN, ReLU, upsampled back to the input size."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(super().forward(x), size=x.shape[-2:], mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """Atrous spatial pyramid pooling: 1×1, three atrous 3×3 and a pooling branch, then a 1×1
    projection with dropout 0.5."""

    def __init__(self, in_channels: int, atrous_rates: tuple[int, ...], out_channels: int = 256) -> None:
        super().__init__()
        branches: list[nn.Module] = [_conv_bn_relu(in_channels, out_channels, 1)]
        branches += [_conv_bn_relu(in_channels, out_channels, 3, rate) for rate in atrous_rates]
        branches.append(ASPPPooling(in_channels, out_channels))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(
            nn.Conv2d(len(self.convs) * out_channels, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(),
            nn.Dropout(0.5),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class DeepLabV3ResNet50(nn.Module):
    """torchvision's ``deeplabv3_resnet50(weights=None, weights_backbone=None, aux_loss=False)``
    with EchoNet-Dynamic's ``num_classes``-channel last conv (1 for the LV).

    ``forward`` takes normalised (N,3,H,W) floats and returns logits (N,num_classes,H,W), upsampled
    bilinearly (align_corners=False) to the input size; the tensor, not torchvision's dict.
    """

    def __init__(self, num_classes: int = 1) -> None:
        super().__init__()
        self.backbone = ResNet50Backbone()
        self.classifier = nn.Sequential(  # torchvision's DeepLabHead
            ASPP(2048, (12, 24, 36)),
            nn.Conv2d(256, 256, 3, padding=1, bias=False),
            nn.BatchNorm2d(256),
            nn.ReLU(),
            nn.Conv2d(256, num_classes, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.classifier(self.backbone(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
