"""Training-batch augmentation: what moves the targets with the frames, and near-field clutter."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from distill.augment import augment, near_field_clutter  # noqa: E402
from distill.synth.simulator import simulate  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def clip() -> tuple[torch.Tensor, torch.Tensor]:
    """Two simulated clips of 6 frames at 112² (B, T, 1, H, W): grey 0–255 and truth masks 0–1."""
    cines = [simulate(seed, n_frames=6, height=112, width=112) for seed in (0, 1)]
    frames = torch.stack([torch.from_numpy(c.frames).float() for c in cines])[:, :, None]
    masks = torch.stack([torch.from_numpy(c.masks).float() for c in cines])[:, :, None]
    return frames, masks


def test_no_strength_and_no_clutter_leave_the_batch_as_it_is(clip) -> None:
    frames, masks = clip
    x, y = augment(frames, masks, 0.0, torch.Generator().manual_seed(0))
    assert torch.equal(x, frames) and torch.equal(y, masks)


def test_clutter_changes_the_frames_only_and_a_zero_share_changes_nothing(clip) -> None:
    frames, masks = clip
    x, y = augment(frames, masks, 0.0, torch.Generator().manual_seed(0), clutter=1.0)
    assert torch.equal(y, masks) and not torch.equal(x, frames)  # the apex the teacher drew stays
    unit = frames / 255.0
    assert torch.equal(near_field_clutter(unit, 0.0, torch.Generator().manual_seed(0)), unit)


def test_clutter_brightens_the_near_field_inside_the_sector_and_nothing_deep_or_outside(clip) -> None:
    frames, _ = clip
    unit = frames / 255.0
    hazy = near_field_clutter(unit, 1.0, torch.Generator().manual_seed(3))
    added = hazy - unit
    assert (added >= -1e-6).all()  # a screen blend only brightens
    h, w = unit.shape[-2:]
    near, deep = added[..., 2: h // 10, w // 2 - 4: w // 2 + 4], added[..., h // 2:, :]  # below the apex; deep
    assert near.mean() > 0.1 and deep.abs().max() < 0.01
    echo = (unit.amax(dim=1) > 0).float()  # (B, 1, H, W): ever an echo
    near_echo = torch.nn.functional.max_pool2d(echo, 17, 1, 8) > 0
    outside = (~near_echo)[:, None].expand_as(unit)  # 8 px or more beyond the sector: the corners by the apex
    assert outside[..., : h // 4, :].any() and added[outside].abs().max() < 1e-6


def test_clutter_stays_still_over_the_clip_while_its_grain_is_fine(clip) -> None:
    frames, _ = clip
    unit = frames / 255.0
    added = near_field_clutter(unit, 1.0, torch.Generator().manual_seed(5)) - unit
    band = added[0, :, 0, 2:12, 46:66].reshape(added.shape[1], -1)  # the apex's near field, each frame
    band = band - band.mean(dim=1, keepdim=True)
    correlation = (band[:-1] * band[1:]).sum(1) / (band[:-1].norm(dim=1) * band[1:].norm(dim=1))
    assert correlation.min() > 0.6  # reverberation stays with the probe
    lateral = (band[0].reshape(10, 20)[:, :-4] * band[0].reshape(10, 20)[:, 4:]).mean() / band[0].var()
    assert lateral < 0.5  # grain of a pixel or two, not one smooth blob


def test_the_same_generator_seed_gives_the_same_clutter(clip) -> None:
    unit = clip[0] / 255.0
    a = near_field_clutter(unit, 0.5, torch.Generator().manual_seed(9))
    b = near_field_clutter(unit, 0.5, torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
