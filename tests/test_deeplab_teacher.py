"""The EchoNet-Dynamic DeepLabV3 teacher: torchvision-identical layout, checkpoint loading, preprocessing.

The reference layout below is written from torchvision's source (models/resnet.py ``_make_layer``
and ``Bottleneck``, models/_utils.py ``IntermediateLayerGetter``, models/segmentation/deeplabv3.py
``DeepLabHead`` / ``ASPP`` / ``ASPPPooling``), not from our module; torchvision is never imported.
"""

from __future__ import annotations

import pathlib
from collections import Counter, OrderedDict
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from torch import nn

from distill.networks.deeplab import ECHONET_MEAN, ECHONET_STD, DeepLabV3ResNet50
from distill.segmenters.echonet import echonet_logits, load_echonet_deeplab
from echoviewer.analysis.errors import ModelLoadError

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")

# torchvision's DeepLabV3_ResNet50_Weights meta says 42,004,074 parameters with the aux FCNHead and
# 21 classes; minus the aux head (1024*256*9 + 2*256 + 256*21 + 21 = 2,365,205) and minus the
# 20 dropped output channels (20*256 + 20 = 5,140) leaves EchoNet-Dynamic's model.
N_PARAMETERS = 39_633_729
# Stem 1 + 5; 16 bottlenecks × (3 convs + 3 BNs × 5) = 288; 4 downsamples × 6 = 24;
# ASPP 6 branches-or-projection × 6 = 36; head conv 1 + BN 5 + last conv 2.
N_ENTRIES = 362
N_BATCHNORMS = 60  # 1 + 16 × 3 + 4 in the backbone, 7 in the head
ENTRIES_PER_PREFIX = {
    "backbone.conv1": 1, "backbone.bn1": 5, "backbone.layer1": 60, "backbone.layer2": 78,
    "backbone.layer3": 114, "backbone.layer4": 60, "classifier.0": 36, "classifier.1": 1,
    "classifier.2": 5, "classifier.4": 2,
}
SHAPES = {
    "backbone.conv1.weight": (64, 3, 7, 7),
    "backbone.layer1.0.conv1.weight": (64, 64, 1, 1),
    "backbone.layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "backbone.layer1.0.downsample.1.num_batches_tracked": (),
    "backbone.layer2.0.conv2.weight": (128, 128, 3, 3),
    "backbone.layer2.0.downsample.0.weight": (512, 256, 1, 1),
    "backbone.layer3.0.downsample.0.weight": (1024, 512, 1, 1),
    "backbone.layer3.5.conv3.weight": (1024, 256, 1, 1),
    "backbone.layer4.0.conv1.weight": (512, 1024, 1, 1),
    "backbone.layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
    "backbone.layer4.2.conv3.weight": (2048, 512, 1, 1),
    "backbone.layer4.2.bn3.running_var": (2048,),
    "classifier.0.convs.0.0.weight": (256, 2048, 1, 1),
    "classifier.0.convs.1.0.weight": (256, 2048, 3, 3),
    "classifier.0.convs.3.1.running_mean": (256,),
    "classifier.0.convs.4.1.weight": (256, 2048, 1, 1),
    "classifier.0.convs.4.2.weight": (256,),
    "classifier.0.project.0.weight": (256, 1280, 1, 1),
    "classifier.1.weight": (256, 256, 3, 3),
    "classifier.2.num_batches_tracked": (),
    "classifier.4.weight": (1, 256, 1, 1),
    "classifier.4.bias": (1,),
}


def torchvision_keys() -> list[str]:
    """deeplabv3_resnet50(aux_loss=False)'s state_dict keys in order, spelled out from its source."""
    keys = ["backbone.conv1.weight", *(f"backbone.bn1.{s}" for s in BN)]
    for stage, blocks in enumerate((3, 4, 6, 3), start=1):
        for block in range(blocks):
            prefix = f"backbone.layer{stage}.{block}"
            for i in (1, 2, 3):
                keys += [f"{prefix}.conv{i}.weight", *(f"{prefix}.bn{i}.{s}" for s in BN)]
            if block == 0:  # layer1: 64 -> 256 channels; layer2-4: stride (or dilation) change
                keys += [f"{prefix}.downsample.0.weight", *(f"{prefix}.downsample.1.{s}" for s in BN)]
    for branch in ("convs.0", "convs.1", "convs.2", "convs.3"):  # Sequential(conv, BN, ReLU)
        keys += [f"classifier.0.{branch}.0.weight", *(f"classifier.0.{branch}.1.{s}" for s in BN)]
    # ASPPPooling is Sequential(AdaptiveAvgPool2d, conv, BN, ReLU): the conv is index 1.
    keys += ["classifier.0.convs.4.1.weight", *(f"classifier.0.convs.4.2.{s}" for s in BN)]
    keys += ["classifier.0.project.0.weight", *(f"classifier.0.project.1.{s}" for s in BN)]
    return keys + ["classifier.1.weight", *(f"classifier.2.{s}" for s in BN),
                   "classifier.4.weight", "classifier.4.bias"]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """The forward passes here are tiny: on a shared, busy CPU, OpenMP threads waiting for each
    other cost seconds each, one thread milliseconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def model() -> DeepLabV3ResNet50:
    """The one full-size model of this module: random weights and non-trivial BN statistics."""
    torch.manual_seed(0)
    net = DeepLabV3ResNet50()
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.num_batches_tracked.fill_(7)
    return net.eval()


def stand_in(model: nn.Module) -> dict[str, torch.Tensor]:
    """The model's state_dict as zero-stride zeros: right shapes and dtypes, a few KB on disk."""
    return {key: torch.zeros((), dtype=value.dtype).expand(value.shape)
            for key, value in model.state_dict().items()}


def echonet_checkpoint(state_dict: dict[str, torch.Tensor], path: pathlib.Path, zipfile: bool = True) -> None:
    """Save as EchoNet-Dynamic's segmentation.py does: DataParallel's ``module.`` keys, a real SGD
    and StepLR state after one step (of a small layer: only the format matters)."""
    layer = nn.Conv2d(256, 1, 1)
    optimizer = torch.optim.SGD(layer.parameters(), lr=1e-5, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=15)
    loss = layer(torch.randn(2, 256, 4, 4)).pow(2).mean()
    loss.backward()
    optimizer.step()
    scheduler.step()
    torch.save({"epoch": 1, "state_dict": OrderedDict((f"module.{k}", v) for k, v in state_dict.items()),
                "best_loss": loss.item(), "loss": loss.item(), "opt_dict": optimizer.state_dict(),
                "scheduler_dict": scheduler.state_dict()}, path, _use_new_zipfile_serialization=zipfile)


def test_parameter_and_entry_counts(model: DeepLabV3ResNet50) -> None:
    state = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == N_PARAMETERS
    assert len(state) == N_ENTRIES
    assert sum(key.endswith(".num_batches_tracked") for key in state) == N_BATCHNORMS
    assert Counter(".".join(key.split(".")[:2]) for key in state) == ENTRIES_PER_PREFIX


def test_state_dict_keys_and_shapes_match_torchvision(model: DeepLabV3ResNet50) -> None:
    state = model.state_dict()
    assert list(state) == torchvision_keys()
    assert {key: tuple(state[key].shape) for key in SHAPES} == SHAPES


def test_strides_and_dilations_match_torchvision(model: DeepLabV3ResNet50) -> None:
    # replace_stride_with_dilation=[False, True, True]: layer3/4 trade their stride for dilation
    # 2/4, and each stage's first block keeps the previous stage's dilation.
    expected = {"layer2.0": (2, 1), "layer2.3": (1, 1), "layer3.0": (1, 1), "layer3.1": (1, 2),
                "layer3.5": (1, 2), "layer4.0": (1, 2), "layer4.1": (1, 4), "layer4.2": (1, 4)}
    for name, (stride, dilation) in expected.items():
        conv2 = model.backbone.get_submodule(f"{name}.conv2")
        assert (conv2.stride, conv2.dilation, conv2.padding) == ((stride,) * 2, (dilation,) * 2,
                                                                 (dilation,) * 2)
    assert [model.backbone.get_submodule(f"layer{i}.0.downsample.0").stride for i in (1, 2, 3, 4)] == \
        [(1, 1), (2, 2), (1, 1), (1, 1)]
    assert [model.classifier[0].convs[i][0].dilation for i in (1, 2, 3)] == [(12, 12), (24, 24), (36, 36)]
    with torch.inference_mode():
        assert model.backbone(torch.zeros(1, 3, 64, 64)).shape == (1, 2048, 8, 8)  # output stride 8


@pytest.mark.slow
@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_echonet_checkpoint_round_trip(model: DeepLabV3ResNet50, tmp_path: pathlib.Path,
                                       zipfile: bool) -> None:
    path = tmp_path / "deeplabv3_resnet50_random.pt"
    echonet_checkpoint(model.state_dict(), path, zipfile)
    loaded = load_echonet_deeplab(path)
    assert not loaded.training
    assert all(p.device.type == "cpu" for p in loaded.parameters())
    state = loaded.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(state[key], value), key
    x = torch.randn(2, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        expected, actual = model(x), loaded(x)
    assert actual.shape == (2, 1, 32, 40)
    torch.testing.assert_close(actual, expected)


@pytest.mark.slow
@pytest.mark.parametrize("prefix", ["", "module."])
def test_bare_state_dict_is_accepted(model: DeepLabV3ResNet50, tmp_path: pathlib.Path, prefix: str) -> None:
    state = {prefix + key: value for key, value in stand_in(model).items()}
    state[prefix + "classifier.4.bias"] = torch.tensor([3.5])
    torch.save(state, tmp_path / "bare.pt")
    loaded = load_echonet_deeplab(tmp_path / "bare.pt")
    assert not loaded.training
    assert loaded.classifier[4].bias.item() == 3.5


def _touch(path: str) -> None:
    pathlib.Path(path).touch()


class _Payload:
    """Unpickling this creates a file: what a malicious checkpoint would do."""

    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return _touch, (str(self.marker),)


def assert_one_line(error: ModelLoadError, path: pathlib.Path, *fragments: str) -> None:
    message = str(error)
    assert "\n" not in message and message.startswith(f"{path}:")
    for fragment in fragments:
        assert fragment in message


def test_pickled_code_is_refused_and_never_run(tmp_path: pathlib.Path) -> None:
    marker, path = tmp_path / "executed", tmp_path / "evil.pt"
    torch.save({"epoch": 1, "state_dict": _Payload(marker)}, path)
    with pytest.raises(ModelLoadError) as info:
        load_echonet_deeplab(path)
    assert_one_line(info.value, path, "refused to unpickle")
    assert not marker.exists()
    torch.load(path, weights_only=False)  # the payload is live: a full unpickler runs it
    assert marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize("zipfile", [True, False], ids=["zip", "legacy"])
def test_truncated_checkpoint(model: DeepLabV3ResNet50, tmp_path: pathlib.Path, zipfile: bool) -> None:
    path = tmp_path / "model.pt"
    echonet_checkpoint(stand_in(model), path, zipfile)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelLoadError) as info:
        load_echonet_deeplab(path)
    assert_one_line(info.value, path, "not a readable PyTorch checkpoint")


@pytest.mark.parametrize("content", [b"", b"FileName,EF,ESV\n0X1,55,30\n"], ids=["empty", "text"])
def test_not_a_torch_file(tmp_path: pathlib.Path, content: bytes) -> None:
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError) as info:
        load_echonet_deeplab(path)
    assert_one_line(info.value, path, "not a readable PyTorch checkpoint")


def test_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ModelLoadError) as info:
        load_echonet_deeplab(tmp_path / "absent.pt")
    assert_one_line(info.value, tmp_path / "absent.pt", "no such file")


@pytest.mark.parametrize("replace, drop, fragment", [
    ({"classifier.4.weight": torch.zeros(21, 256, 1, 1), "classifier.4.bias": torch.zeros(21)}, 0,
     "a 21-channel head (classifier.4.weight (21, 256, 1, 1))"),
    ({}, 5, "5 missing keys (backbone.conv1.weight, backbone.bn1.weight, backbone.bn1.bias, ...)"),
    ({"aux_classifier.4.bias": torch.zeros(21)}, 0, "1 unexpected key (aux_classifier.4.bias)"),
    ({"backbone.conv1.weight": torch.zeros(64, 1, 7, 7)}, 0,
     "1 wrong shape (backbone.conv1.weight (64, 1, 7, 7) not (64, 3, 7, 7))"),
    ({"classifier.4.bias": "0.5"}, 0, "1 non-tensor value (classifier.4.bias)"),
], ids=["21-classes", "missing", "unexpected", "shape", "not-a-tensor"])
def test_wrong_state_dict(model: DeepLabV3ResNet50, tmp_path: pathlib.Path, replace: dict, drop: int,
                          fragment: str) -> None:
    state = dict(list(stand_in(model).items())[drop:]) | replace
    path = tmp_path / "model.pt"
    echonet_checkpoint(state, path)
    with pytest.raises(ModelLoadError) as info:
        load_echonet_deeplab(path)
    assert_one_line(info.value, path, "not an EchoNet-Dynamic DeepLabV3-ResNet50 checkpoint: " + fragment,
                    "; expected the state_dict of torchvision deeplabv3_resnet50 with a 1-channel head")


def test_not_a_state_dict(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "model.pt"
    torch.save(torch.zeros(3), path)
    with pytest.raises(ModelLoadError) as info:
        load_echonet_deeplab(path)
    assert_one_line(info.value, path, "neither a state_dict nor a dict holding one")


@pytest.fixture()
def probe() -> nn.Module:
    """A 1×1 conv reading each RGB channel with its own weight: exposes the preprocessing."""
    conv = nn.Conv2d(3, 1, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 10.0, 100.0]).view(1, 3, 1, 1))
        conv.bias.zero_()
    return conv.eval()


def expected_probe(grey: np.ndarray) -> np.ndarray:
    grey = grey.astype(np.float64)
    return sum(w * (grey - m) / s for w, m, s in zip((1, 10, 100), ECHONET_MEAN, ECHONET_STD))


def test_echonet_logits_normalises_grey_as_rgb(probe: nn.Module) -> None:
    frames = np.random.default_rng(0).integers(0, 256, (5, 112, 112), dtype=np.uint8)
    logits = echonet_logits(probe, frames, batch=2)
    assert logits.dtype == np.float32 and logits.shape == (5, 112, 112)
    np.testing.assert_allclose(logits, expected_probe(frames), rtol=1e-5, atol=1e-3)


def test_echonet_logits_resizes_to_112_and_back(probe: nn.Module) -> None:
    frames = np.stack([np.full((60, 90), value, np.uint8) for value in (0, 40, 255)])
    logits = echonet_logits(probe, frames)
    assert logits.dtype == np.float32 and logits.shape == (3, 60, 90)
    np.testing.assert_allclose(logits, expected_probe(frames), rtol=1e-5, atol=1e-3)
    assert echonet_logits(probe, frames[:0]).shape == (0, 60, 90)


def test_echonet_logits_rejects_bad_input(probe: nn.Module) -> None:
    with pytest.raises(ValueError, match="uint8"):
        echonet_logits(probe, np.zeros((2, 112, 112), np.float32))
    with pytest.raises(ValueError, match="eval mode"):
        echonet_logits(probe.train(), np.zeros((2, 112, 112), np.uint8))
