"""``python -m distill train-view-gate``: the classifier behind the ``view_not_apical`` flag.

It learns, from simulated cines alone, to tell an apical view (the simulator's four-chamber cines)
from what the LV models must not measure: parasternal short and long axis and tissue that is not a
heart (:mod:`distill.synth.views`, drawn with the same probe and image formation). A frame is seen
as the models see it (the 112×112 model view) with strong photometric and geometric augmentation;
the mean probability over a few frames of a cine is the viewer's apical score
(:mod:`echoviewer.analysis.view_gate`). The ONNX file takes raw 0–255 grey frames ``frames``
(N, 1, 112, 112) and returns one ``logits`` (N, 1) per frame (positive: apical). Its card (seed,
cases, held-out accuracy per view) sits beside it as JSON, as the segmentation models' do.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from distill.export import OPSET, embed_card
from distill.synth.params import CaseParams
from distill.synth.simulator import simulate
from distill.synth.views import OTHER_VIEWS, simulate_view
from echoviewer.analysis.onnx_model import sidecar_path
from echoviewer.analysis.preprocess import MODEL_SIZE, view_of
from echoviewer.analysis.view_gate import APICAL_VIEW, INPUT_NAME, OUTPUT_NAME
from echoviewer.io.atomic import atomic_output

FRAMES_PER_CASE = 3
KINDS = (APICAL_VIEW, *OTHER_VIEWS)
# Frame sizes the cases are drawn at: EchoNet-style squares and scanner screens (cropped to the model view).
SIZES = ((112, 112), (144, 192), (160, 160))
DATA = ("simulated cines only: apical four-chamber, some LV-centred or cut short below the valves, some "
        "two-chamber-like (distill.synth), against parasternal short and long axis and non-cardiac tissue "
        "(distill.synth.views); nothing real")


def apical_variety(p: CaseParams, rng: np.random.Generator) -> CaseParams:
    """Apical framings the A4C simulator does not draw on its own: the LV in the middle of the sector
    and the sector cut short below the valves (as CAMUS's are), and two-chamber-like views (no right
    heart to speak of)."""
    if rng.random() < 0.5:
        p = replace(p, lv_apex_x_cm=rng.uniform(-1.5, 0.5), long_axis_deg=rng.uniform(-8.0, 8.0),
                    depth_cm=float(np.clip(p.lv_apex_depth_cm + p.lv_length_cm + rng.uniform(0.5, 4.0), 10.0, 20.0)))
    if rng.random() < 0.4:
        p = replace(p, rv_width_ratio=rng.uniform(0.02, 0.1), ra_length_cm=rng.uniform(0.5, 1.5))
    return p


def _kind(index: int) -> str:
    """An apical cine in every other case; the other views take turns in the rest."""
    return APICAL_VIEW if index % 2 == 0 else OTHER_VIEWS[(index // 2) % len(OTHER_VIEWS)]


def case_frames(seed: int, index: int) -> tuple[np.ndarray, str]:
    """FRAMES_PER_CASE model-view frames (uint8, (n, 112, 112)) of case ``index`` and its kind."""
    kind = _kind(index)
    rng = np.random.default_rng([seed, index, 1])
    height, width = SIZES[int(rng.integers(len(SIZES)))]
    n_frames = 12
    if kind == APICAL_VIEW:
        cine = simulate([seed, index], height=height, width=width, n_frames=n_frames,
                        adjust=lambda params: apical_variety(params, rng))
        frames, sector = cine.frames, cine.sector
    else:
        frames, sector = simulate_view([seed, index], kind, height=height, width=width, n_frames=n_frames)
    picked = np.sort(rng.choice(n_frames, FRAMES_PER_CASE, replace=False))
    return view_of(frames[picked], sector)[0], kind


def dataset(seed: int, cases: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frames (N, 112, 112) uint8, labels (N,) 1 = apical, and each frame's kind index."""
    frames, labels, kinds = [], [], []
    for index in range(cases):
        view, kind = case_frames(seed, index)
        frames.append(view)
        labels += [float(kind == APICAL_VIEW)] * len(view)
        kinds += [KINDS.index(kind)] * len(view)
    return np.concatenate(frames), np.array(labels, np.float32), np.array(kinds)


class ViewNet(nn.Module):
    """A small CNN: four stride-2 stages, global mean and max pooling, one logit."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 96)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for cout in widths:
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(),
                       nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(2 * cin, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.features((frames - 32.0) / 50.0)
        return self.head(torch.cat([x.mean((2, 3)), x.amax((2, 3))], 1))


def augment(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Mirror, rotate (±12°), zoom (0.85–1.5) and shift about the sector apex; gain, gamma, contrast,
    blur, speckle-like and additive noise (stress echo and poor windows are far grainier than the
    simulator's good cases)."""
    out = np.empty(frames.shape, np.float32)
    size = frames.shape[-1]
    for i, frame in enumerate(frames):
        image = frame[:, ::-1] if rng.random() < 0.5 else frame
        matrix = cv2.getRotationMatrix2D((size / 2, 0.0), rng.uniform(-12, 12), rng.uniform(0.85, 1.5))
        matrix[:, 2] = matrix[:, 2] + rng.uniform(-6, 6, 2)
        image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR)
        value: np.ndarray = (image.astype(np.float32) / 255.0) ** rng.uniform(0.7, 1.4) * rng.uniform(0.6, 1.5)
        if rng.random() < 0.3:
            value = np.asarray(cv2.GaussianBlur(value, (0, 0), rng.uniform(0.5, 1.5)))
        if rng.random() < 0.5:  # low contrast: a raised floor
            value = value * rng.uniform(0.5, 1.0) + rng.uniform(0.0, 0.12) * (value > 0)
        if rng.random() < 0.5:  # multiplicative grain at the pixel scale
            shape = rng.uniform(3.0, 12.0)
            value = value * rng.gamma(shape, 1.0 / shape, value.shape).astype(np.float32)
        value = value + rng.normal(0, rng.uniform(0, 0.06), value.shape).astype(np.float32) * (value > 0)
        out[i] = np.clip(value, 0, 1) * 255.0
    return out


def _accuracy(net: ViewNet, frames: np.ndarray, labels: np.ndarray, kinds: np.ndarray) -> dict:
    net.eval()
    with torch.no_grad():
        logits = torch.cat([net(torch.from_numpy(frames[i:i + 256, None].astype(np.float32)))[:, 0]
                            for i in range(0, len(frames), 256)]).numpy()
    right = (logits > 0) == (labels > 0.5)
    return {kind: round(float(right[kinds == k].mean()), 4) for k, kind in enumerate(KINDS) if (kinds == k).any()}


def train(seed: int, cases: int, epochs: int, batch: int = 48,
          log: Callable[[str], object] = print) -> tuple[ViewNet, dict]:
    torch.manual_seed(seed)
    rng = np.random.default_rng([seed, 0])
    start = time.monotonic()
    frames, labels, kinds = dataset(seed, cases)
    held = dataset(seed + 1, max(cases // 5, len(KINDS) * 2))
    log(f"{len(frames)} training frames, {len(held[0])} held out ({time.monotonic() - start:.0f} s)")
    net = ViewNet()
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    steps = epochs * int(np.ceil(len(frames) / batch))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    loss_fn = nn.BCEWithLogitsLoss()
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(frames))
        total = 0.0
        for i in range(0, len(order), batch):
            take = order[i:i + batch]
            x = torch.from_numpy(augment(frames[take], rng))[:, None]
            loss = loss_fn(net(x)[:, 0], torch.from_numpy(labels[take]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
            total += loss.item() * len(take)
        log(f"epoch {epoch + 1}/{epochs}: loss {total / len(frames):.4f}; held-out accuracy "
            f"{_accuracy(net, *held)} ({time.monotonic() - start:.0f} s)")
    return net.eval(), {"held_out_accuracy": _accuracy(net, *held), "held_out_frames": len(held[0]),
                        "training_frames": len(frames), "seconds": round(time.monotonic() - start, 1)}


def export(net: ViewNet, out: Path, card: dict) -> dict:
    """Write ``out`` (.onnx) and its card (.json) atomically, after checking onnxruntime against torch."""
    import onnxruntime

    probe = torch.from_numpy(np.random.default_rng(0).uniform(0, 255, (4, 1, MODEL_SIZE, MODEL_SIZE))
                             .astype(np.float32))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out, suffix=".onnx") as onnx_tmp, atomic_output(sidecar_path(out), suffix=".json") as card_tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (probe,), str(onnx_tmp), dynamo=False, opset_version=OPSET,
                              input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                              dynamic_axes={INPUT_NAME: {0: "frames"}, OUTPUT_NAME: {0: "frames"}})
        session = onnxruntime.InferenceSession(str(onnx_tmp), providers=["CPUExecutionProvider"])
        difference = float(np.abs(session.run(None, {INPUT_NAME: probe.numpy()})[0] - net(probe).detach().numpy()).max())
        if not difference < 1e-4:
            raise RuntimeError(f"onnxruntime differs from torch by {difference:.2e}; the view gate was not written")
        return embed_card(onnx_tmp, card_tmp, {**card, "check": {"max_abs_logit_difference": difference}})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="the .onnx file to write (its card beside it)")
    parser.add_argument("--seed", type=int, default=2025, help="data and training seed (default 2025)")
    parser.add_argument("--cases", type=int, default=1200, help="simulated cases, half apical (default 1200)")
    parser.add_argument("--epochs", type=int, default=12, help="passes over the frames (default 12)")


def run(args: argparse.Namespace) -> int:
    net, metrics = train(args.seed, args.cases, args.epochs)
    card = {"name": "echoviewer view gate", "task": "apical view or not (logit > 0: apical)",
            "input": {"name": INPUT_NAME, "size": [MODEL_SIZE, MODEL_SIZE], "scale": "raw grey 0-255"},
            "output": {"name": OUTPUT_NAME, "activation": "sigmoid"},
            "data": DATA,
            "training": {"seed": args.seed, "cases": args.cases, "epochs": args.epochs,
                         "frames_per_case": FRAMES_PER_CASE},
            "parameters": sum(p.numel() for p in net.parameters()), "metrics": metrics,
            "date": datetime.now(UTC).isoformat(timespec="seconds")}
    card = export(net, args.out, card)
    print(json.dumps({"out": str(args.out), "sha256": card["sha256"], **metrics}))
    return 0
