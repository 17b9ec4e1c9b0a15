"""ConvLSTM student: EchoDFKD's parameter counts, causality, streaming, ONNX step export, a tiny overfit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from distill.networks.convlstm import ConvLSTMStudent, export_step_onnx

pytestmark = pytest.mark.torch  # needs the distill extra (torch, onnx)

# EchoDFKD's table: PARAMETERS[blocks - 1][layers - 1], 12 filters
PARAMETERS = (
    (5_701, 16_141, 26_581, 37_021),
    (39_577, 91_633, 143_689, 195_745),
    (174_721, 392_953, 611_185, 829_417),
    (714_577, 1_596_937, 2_479_297, 3_361_657),
)


def _video(frames: int, size: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(1, frames, 1, size, size, generator=torch.Generator().manual_seed(seed)) * 255


def _student(blocks: int, layers: int, seed: int = 0) -> ConvLSTMStudent:
    """An eval-mode student whose BatchNorms hold non-trivial statistics and affine terms."""
    torch.manual_seed(seed)
    student = ConvLSTMStudent(blocks, layers)
    with torch.no_grad():
        for module in student.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.5, 0.5)
    return student.eval()


@pytest.mark.parametrize("blocks", range(1, 5))
@pytest.mark.parametrize("layers", range(1, 5))
def test_trainable_parameters_match_echodfkd(blocks: int, layers: int) -> None:
    student = ConvLSTMStudent(blocks, layers)
    assert sum(p.numel() for p in student.parameters() if p.requires_grad) == PARAMETERS[blocks - 1][layers - 1]


def test_config_round_trips_through_json() -> None:
    student = ConvLSTMStudent(2, 1, filters=8)
    config = json.loads(json.dumps(student.config()))
    assert config == {"name": "convlstm", "blocks": 2, "layers": 1, "filters": 8}
    assert ConvLSTMStudent.from_config(config).config() == config
    assert ConvLSTMStudent.temporal == "recurrent"
    with pytest.raises(ValueError, match="not a convlstm config"):
        ConvLSTMStudent.from_config({**config, "name": "other"})


def test_output_has_one_logit_per_pixel_and_frame() -> None:
    video = torch.rand(2, 3, 1, 16, 24) * 255
    assert ConvLSTMStudent(3, 1)(video).shape == (2, 3, 1, 16, 24)


def test_logits_do_not_depend_on_later_frames() -> None:
    student = _student(2, 2)
    video = _video(5)
    changed = video.clone()
    changed[:, 3:] = 255 - changed[:, 3:]
    with torch.inference_mode():
        before, after = student(video), student(changed)
    assert torch.equal(before[:, :3], after[:, :3])
    assert not torch.allclose(before[:, 3:], after[:, 3:])


def test_streaming_steps_equal_forward() -> None:
    student = _student(2, 2)
    video = _video(4)
    with torch.inference_mode():
        state = student.init_state(1, 16, 16)
        streamed = []
        for t in range(video.shape[1]):
            logits, state = student.step(video[:, t], state)
            streamed.append(logits)
        assert torch.allclose(torch.stack(streamed, 1), student(video), rtol=0, atol=1e-6)


@pytest.mark.parametrize("height, width", [(18, 16), (16, 18)])
def test_sizes_not_divisible_by_the_pooling_are_refused(height: int, width: int) -> None:
    student = ConvLSTMStudent(3, 1)
    with pytest.raises(ValueError, match="not divisible by 4"):
        student(torch.zeros(1, 1, 1, height, width))
    with pytest.raises(ValueError, match="not divisible by 4"):
        student.init_state(1, height, width)


def test_onnx_step_streams_like_torch(tmp_path: Path) -> None:
    student = _student(3, 3)
    path = export_step_onnx(student, tmp_path / "step.onnx", height=32, width=32)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert names[0] == "frame" and session.get_outputs()[0].name == "logits"
    video = _video(3, size=32)
    with torch.inference_mode():
        state = student.init_state(1, 32, 32)
        ort_state = [s.numpy() for s in state]
        for t in range(video.shape[1]):
            logits, state = student.step(video[:, t], state)
            ort_logits, *ort_state = session.run(None, dict(zip(names, [video[:, t].numpy(), *ort_state])))
            assert np.abs(ort_logits - logits.numpy()).max() < 1e-4
            assert max(np.abs(o - s.numpy()).max() for o, s in zip(ort_state, state)) < 1e-4


def test_a_tiny_student_overfits_a_bright_disc() -> None:
    torch.manual_seed(0)
    yy, xx = torch.meshgrid(torch.arange(16.0), torch.arange(16.0), indexing="ij")
    target = torch.stack([((yy - 8) ** 2 + (xx - 8) ** 2 <= r * r).float() for r in (4, 5)])[None, :, None]
    video = 30 + 170 * target + 20 * torch.rand(target.shape)
    student = ConvLSTMStudent(2, 1)
    optimiser = torch.optim.Adam(student.parameters(), lr=1e-2)
    losses = []
    for _ in range(50):
        optimiser.zero_grad()
        loss = F.binary_cross_entropy_with_logits(student(video), target)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]
