"""``python -m distill export``: a trained checkpoint → ONNX (opset 17) + model card.

The exported model takes grey model-view frames as raw 0–255 floats, ``frames`` (N, 1, 112, 112),
and returns ``logits`` (N, 1, 112, 112). N is the time axis of one clip for a temporal U-Net
(``temporal: "clip"``) and any batch of frames for a per-frame network (``"frame"``); the paper's
ConvLSTM is exported as one recurrent step (``"recurrent"``: ``frame`` and ``state_in_*`` in,
``logits`` and ``state_out_*`` out).

Before anything is written, onnxruntime's logits are compared with torch's on real frames (the first
test video of ``--data``, or the bundled sample cine); a difference of 1e-4 or more aborts the
export. The model card (architecture, parameters, teacher, data, seed, metrics, date, the check)
is stored in the ONNX metadata (``model_card``) and, with the ONNX file's sha256, in a JSON file of
the same name beside it; the JSON is also the sidecar that ``OnnxSegmenter`` reads.
"""

from __future__ import annotations

import argparse
import json
import warnings
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import onnx
import torch
from torch import nn

from distill.datasets.echonet import EchoNetFolder
from distill.networks import Network, parameter_count
from distill.networks.checkpoints import load_checkpoint
from distill.networks.convlstm import ConvLSTMStudent, export_step_onnx
from distill.segmenters.checkpoint import clip_logits
from distill.segmenters.onnx import OnnxSegmenter
from echoviewer.analysis.onnx_model import file_sha256, sidecar_path
from echoviewer.analysis.phases import MASK_THRESHOLD, TIMING_THRESHOLD
from echoviewer.io import load_cine
from echoviewer.io.atomic import atomic_output, read_json, write_json
from echoviewer.resources import SAMPLE_CINE

OPSET = 17
TOLERANCE = 1e-4
SIZE = 112
CHECK_FRAMES = 32


class ExportError(RuntimeError):
    """The exported model does not reproduce torch's output."""


class _ClipModel(nn.Module):
    """(N, 1, H, W) frames of one clip → (N, 1, H, W) logits, for a (B, T, 1, H, W) network."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.model(frames[None])[0]


def _export_graph(model: Network, path: Path) -> str:
    """Write the ONNX graph of ``model`` to ``path``; returns the temporal kind."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        if isinstance(model, ConvLSTMStudent):
            export_step_onnx(model, path, SIZE, SIZE)
            return "recurrent"
        torch.onnx.export(_ClipModel(model).eval(), (torch.zeros(8, 1, SIZE, SIZE),), str(path), dynamo=False,
                          opset_version=OPSET, input_names=["frames"], output_names=["logits"],
                          dynamic_axes={"frames": {0: "frames"}, "logits": {0: "frames"}})
    return model.temporal


def check_frames(data: Path | None) -> tuple[np.ndarray, str]:
    """Real frames to compare torch and onnxruntime on: a test video of ``data``, else the sample."""
    if data is not None:
        folder = EchoNetFolder(data)
        record = (folder.split("TEST") or folder.records)[0]
        frames, _ = folder.read_video(record)
        source = f"{record.path.name} of {folder.root}"
    else:
        from echoviewer.analysis.preprocess import model_view

        frames, _, _ = model_view(load_cine(SAMPLE_CINE))
        source = SAMPLE_CINE.name
    frames = frames[:CHECK_FRAMES]
    if frames.shape[1:] != (SIZE, SIZE):  # the exported model's input size (e.g. a 'generate --size 64' set)
        frames = np.stack([cv2.resize(f, (SIZE, SIZE), interpolation=cv2.INTER_AREA) for f in frames])
    return frames, source


def _read_card(path: Path) -> dict:
    card = read_json(path)
    return card if isinstance(card, dict) else {}


def inherited(teacher: object, data: str | None) -> tuple[object, dict]:
    """The teacher entry with the teacher's training data and licence from its own card, and what the
    student inherits: the licences of the teacher's data and of a learned generator that drew its cines."""
    licences: dict[str, object] = {}
    if isinstance(teacher, dict) and teacher.get("path"):
        card = _read_card(Path(str(teacher["path"])).with_suffix(".json"))
        if card.get("licence"):
            teacher = {**teacher, "data": card.get("data"), "licence": card["licence"]}
            licences["teacher"] = card["licence"]
    generator = _read_card(Path(data) / "synth.json").get("generator") if data else None
    if isinstance(generator, dict):
        card = _read_card(Path(str(generator.get("folder"))) / "generator.json")
        if card.get("licence"):
            licences["generator"] = {"data": card.get("data"), **card["licence"]}
    return teacher, licences


def model_card(model: Network, checkpoint: dict, temporal: str, *, name: str, metrics: dict | None) -> dict:
    train = json.loads(checkpoint.get("train", "{}"))
    targets = train.get("targets")
    teacher: object = targets
    if targets and targets != "truth" and (Path(targets) / "targets.json").is_file():
        teacher = json.loads((Path(targets) / "targets.json").read_text(encoding="utf-8")).get("teacher")
    teacher, licences = inherited(teacher, train.get("data"))
    extra = {"inherited_licences": licences} if licences else {}
    return {"name": name, "architecture": model.config(), "parameters": parameter_count(model),
            "input": {"name": "frame" if temporal == "recurrent" else "frames", "layout": "NCHW", "channels": 1,
                      "height": SIZE, "width": SIZE, "mean": [0.0], "std": [1.0],
                      "frames": "grey 0-255; the sector cropped to a square centred on its apex, resized to 112"},
            "output": {"name": "logits", "activation": "sigmoid", "channel": 0,
                       "mask_threshold_uint8": MASK_THRESHOLD, "timing_threshold_uint8": TIMING_THRESHOLD},
            "temporal": temporal, "teacher": teacher, "data": train.get("data"), "seed": train.get("seed"),
            "training": train, "epochs_trained": checkpoint.get("epoch"), "val_loss": checkpoint.get("val_loss"),
            "metrics": metrics or {}, "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "opset": OPSET, **extra}


def embed_card(onnx_path: Path, card_path: Path, card: dict) -> dict:
    """Store ``card`` in the ONNX file's metadata (``model_card``), then write it with the file's
    sha256 as the JSON sidecar at ``card_path``; returns that card."""
    graph = onnx.load(str(onnx_path))
    del graph.metadata_props[:]
    graph.metadata_props.add(key="model_card", value=json.dumps(card, sort_keys=True))
    onnx.save(graph, str(onnx_path))
    card = {**card, "sha256": file_sha256(onnx_path)}
    write_json(card_path, card, allow_nan=True)
    return card


def export(checkpoint_path: Path, out: Path, *, name: str, data: Path | None = None,
           metrics: dict | None = None, card_extra: dict | None = None) -> dict:
    """Export, check and write ``out`` (.onnx) and its card (.json); returns the card. ``card_extra``
    adds or replaces fields of the card (``train-teacher``: the labelled data and its licence)."""
    model, checkpoint = load_checkpoint(checkpoint_path)
    frames, source = check_frames(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    card_path = sidecar_path(out)
    with atomic_output(out, suffix=".onnx") as onnx_tmp, atomic_output(card_path, suffix=".json") as card_tmp:
        temporal = _export_graph(model, onnx_tmp)
        card = {**model_card(model, checkpoint, temporal, name=name, metrics=metrics), **(card_extra or {})}
        write_json(card_tmp, card, allow_nan=True)  # the sidecar for the check below
        reference = clip_logits(model, frames)
        got = OnnxSegmenter(onnx_tmp, sidecar=card_tmp)
        logits = got.raw_outputs(frames)[:, 0]
        difference = float(np.max(np.abs(logits - reference)))
        if not difference < TOLERANCE:
            raise ExportError(f"onnxruntime differs from torch by {difference:.2e} (limit {TOLERANCE:g}) on "
                              f"{source}; the model was not written")
        card["check"] = {"max_abs_logit_difference": difference, "frames": len(frames), "source": source,
                         "onnxruntime": __import__("onnxruntime").__version__, "torch": torch.__version__}
        card = embed_card(onnx_tmp, card_tmp, card)  # both files are committed together, on leaving the block
    return card


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="best.pt of a 'distill train' run")
    parser.add_argument("--out", type=Path, required=True, help="ONNX file to write (the card goes beside it)")
    parser.add_argument("--name", default=None, help="model name in the card (default: the file name)")
    parser.add_argument("--data", type=Path, default=None,
                        help="dataset whose first TEST video checks the export (default: the bundled sample)")
    parser.add_argument("--metrics", type=Path, default=None, help="evaluation.json to copy into the card")


def run(args: argparse.Namespace) -> int:
    metrics = None
    if args.metrics is not None:
        report = json.loads(args.metrics.read_text(encoding="utf-8"))
        metrics = {"summary": report["summary"], "speed": report["speed"], "data": report["data"],
                   "videos": report["videos_scored"], "teacher": report["teacher"]}
    card = export(args.checkpoint, args.out, name=args.name or args.out.stem, data=args.data, metrics=metrics)
    print(f"{args.out}: {card['parameters']:,} parameters, {card['temporal']}, onnxruntime vs torch max |Δlogit| "
          f"{card['check']['max_abs_logit_difference']:.1e}, sha256 {card['sha256'][:16]}…")
    return 0
