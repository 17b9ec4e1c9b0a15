"""``python -m distill probe``: quick checks before a run (a teacher, a dataset, a generate run's cost, a student's step).

``python -m distill probe teacher|data|generate|student ...`` prints one JSON object (one line) on
stdout; a problem raises, so the command line prints one ``error:`` line and exits 2. ``data`` and
``generate`` never import torch (``generate --generator`` does, to time the learned generator).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from distill.datasets.echonet import SPLITS, EchoNetFolder, find_root
from distill.generate import drawn_by_generator, make_case, parse_frames, prepare_folder, settings_from
from distill.synth import simulate
from distill.synth.writers import truth_path, video_path
from echoviewer.io.preview import first_frame

TEST_FRAMES = 4  # frames of the synthetic cine a teacher is tried on
THUMBNAILS = 3  # cases shown by `generate --thumbnails`
SIZE = 112  # EchoNet's frame size: the teacher's test cine and the thumbnails
# Synthetic cines differ in depth, gain and speckle, so their MJPEG sizes vary from case to case;
# 10 % on top of the probed cases also covers FileList.csv, VolumeTracings.csv and file-system blocks.
BYTES_MARGIN = 1.1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    probes = parser.add_subparsers(dest="what", required=True, metavar="WHAT")
    teacher = probes.add_parser("teacher", help="load a teacher and run it on a synthetic cine")
    teacher.add_argument("spec", help="teacher, student, truth, FILE.onnx (with FILE.json) or FILE.pt")
    teacher.add_argument("--seed", type=int, default=0, help="seed of the synthetic test cine")
    teacher.set_defaults(probe=probe_teacher)
    data = probes.add_parser("data", help="count the videos and splits of a dataset folder")
    data.add_argument("root", type=Path, help="EchoNet-Dynamic or -Synthetic folder, or a folder of AVIs")
    data.set_defaults(probe=probe_data)
    generate = probes.add_parser("generate", help="time one cine of 'distill generate' and extrapolate")
    generate.add_argument("--n", type=int, required=True, help="number of cines of the planned run")
    generate.add_argument("--seed", type=int, default=0)
    generate.add_argument("--frames", type=parse_frames, default=(32, 256), help="a count or a range (32-256)")
    generate.add_argument("--size", type=int, default=112, help="frame size in pixels (default 112)")
    generate.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1),
                          help="processes of the planned run (default: 2, or 1 on one core)")
    generate.add_argument("--out", type=Path, help="the planned output folder: its free disk space is checked")
    generate.add_argument("--thumbnails", type=Path, help=f"write the first frames of cases 0-{THUMBNAILS - 1} "
                          "here as PNG (the cost estimate then averages the three)")
    generate.add_argument("--generator", type=Path, default=None,
                          help="a 'distill train-generator' folder drawing part of the cines: one of its cines is "
                               "timed too")
    generate.add_argument("--generator-share", type=float, default=1.0, help="the share it draws (default 1)")
    generate.set_defaults(probe=probe_generate)
    student = probes.add_parser("student", help="build a network and time its training steps")
    student.add_argument("model", help="fast, teacher, convlstm or convlstm:KxN")
    student.add_argument("--clip", type=int, default=16, help="frames per clip (train's default 16)")
    student.add_argument("--batch", type=int, default=8, help="clips per step (train's default 8)")
    student.add_argument("--size", type=int, default=112, help="frame size in pixels (default 112)")
    student.add_argument("--augment", type=float, default=0.0, help="augmentation strength, as train's")
    student.add_argument("--steps", type=int, default=3, help="timed steps after one warm-up step")
    student.set_defaults(probe=probe_student)


def run(args: argparse.Namespace) -> int:
    print(json.dumps(args.probe(args)), flush=True)
    return 0


# --- teacher -------------------------------------------------------------------------------------

def _input_spec(segmenter: Any) -> dict[str, int | None] | None:
    """The frames the model takes: size (None: any) and channels; None for the truth teacher."""
    from distill.networks.deeplab import ECHONET_SIZE
    from distill.segmenters.checkpoint import TorchSegmenter
    from distill.segmenters.echonet import EchoNetTeacher
    from distill.segmenters.onnx import OnnxSegmenter

    if isinstance(segmenter, OnnxSegmenter):
        (height, width), channels = segmenter.input_size, segmenter.spec["channels"]
        return {"height": height, "width": width, "channels": channels}
    if isinstance(segmenter, EchoNetTeacher):
        return {"height": ECHONET_SIZE, "width": ECHONET_SIZE, "channels": 3}
    if isinstance(segmenter, TorchSegmenter):  # fully convolutional, grey
        return {"height": None, "width": None, "channels": 1}
    return None


def probe_teacher(args: argparse.Namespace) -> dict[str, Any]:
    """Load ``args.spec`` and run it on a short synthetic cine; ValueError if its output is unusable."""
    from distill.segmenters.registry import load_segmenter
    from echoviewer.analysis.quality import dice_per_frame  # onnxruntime: only where a model runs

    segmenter = load_segmenter(args.spec)
    described = segmenter.describe()
    result = {"spec": args.spec, **described, "input": _input_spec(segmenter), "test": None,
              "needs_truth": described["kind"] == "truth"}
    if result["needs_truth"]:  # it copies the simulator's masks: nothing to run
        return result
    cine = simulate([args.seed, 0], height=SIZE, width=SIZE, n_frames=TEST_FRAMES)
    start = time.perf_counter()
    probabilities = np.asarray(segmenter.probabilities(cine.frames))
    seconds = time.perf_counter() - start
    where = f"{args.spec}: on a synthetic {TEST_FRAMES}x{SIZE}x{SIZE} test cine,"
    if probabilities.shape != cine.frames.shape:
        raise ValueError(f"{where} the output has shape {probabilities.shape}, expected {cine.frames.shape}; "
                         "check the model's output and its sidecar")
    if not np.isfinite(probabilities).all():
        raise ValueError(f"{where} the output holds NaN or infinite values; the weights may be damaged")
    if probabilities.min() < 0 or probabilities.max() > 1:
        raise ValueError(f"{where} the output leaves [0, 1] ({probabilities.min():.3g} to "
                         f"{probabilities.max():.3g}); check the sidecar's output activation")
    found = probabilities > 0.5
    if not found.any():
        raise ValueError(f"{args.spec}: the teacher found no left ventricle in a synthetic test frame; check "
                         "that it segments the LV of apical 4-chamber cines (and its sidecar's size, mean "
                         "and std) or choose another teacher")
    result["test"] = {"frames": TEST_FRAMES, "output_shape": list(probabilities.shape),
                      "seconds": round(seconds, 4), "mask_fraction": round(float(found.mean()), 4),
                      "dice_vs_simulator": round(float(dice_per_frame(found, cine.masks).mean()), 4)}
    return result


# --- data ----------------------------------------------------------------------------------------

def _has_truth(folder: EchoNetFolder) -> bool:
    """Whether every video has the simulator's ``Masks/<name>.npz`` (the first one is also read)."""
    return (all(truth_path(folder.root, record.name).is_file() for record in folder.records)
            and folder.truth(folder.records[0].name) is not None)


def probe_data(args: argparse.Namespace) -> dict[str, Any]:
    """Videos, splits, truth and size of a dataset folder; ValueError if training could not use it."""
    root: Path = args.root
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder; choose an EchoNet-Dynamic or EchoNet-Synthetic folder "
                         "or a folder of AVI files")
    try:
        folder = EchoNetFolder(root)
    except FileNotFoundError as exc:
        if find_root(root)[1] == "echonet":  # a FileList whose videos are absent: its own message
            raise ValueError(str(exc)) from None
        raise ValueError(f"{root} holds no .avi videos; choose an EchoNet-Dynamic or EchoNet-Synthetic "
                         "folder or a folder of AVI files") from None
    counts = Counter(record.split for record in folder.records)
    for split in SPLITS:
        if not counts[split]:
            raise ValueError(f"{root}: the {split} split has no videos ({len(folder.records)} in all); training "
                             "needs TRAIN, VAL and TEST videos, so use a folder of at least ~10 videos")
    examples = sorted(folder.records, key=lambda record: record.split != "TEST")[:4]
    return {"root": str(folder.root.resolve()), "layout": folder.layout, "videos": len(folder.records),
            "splits": {split: counts[split] for split in (*SPLITS, *sorted(set(counts) - set(SPLITS)))},
            "truth": _has_truth(folder),
            "bytes": sum(record.path.stat().st_size for record in folder.records),
            "examples": [str(record.path.resolve()) for record in examples], "missing": len(folder.missing)}


# --- generate ------------------------------------------------------------------------------------

def _free_bytes(out: Path) -> tuple[Path, int]:
    """The nearest existing folder at or above ``out`` and its free bytes."""
    existing = out.absolute()
    while not existing.exists():
        existing = existing.parent
    return existing, shutil.disk_usage(existing).free


def _thumbnail(video: Path, target: Path) -> str:
    frame = first_frame(video)
    if frame is None:
        raise ValueError(f"{video}: the simulated video cannot be read back; OpenCV's MJPEG support is broken")
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    if not cv2.imwrite(str(target), cv2.resize(grey, (SIZE, SIZE), interpolation=cv2.INTER_AREA)):
        raise OSError(f"cannot write {target}; choose a writable --thumbnails folder")
    return str(target.resolve())


def _frame_count(truth: Path) -> int:
    with np.load(truth, allow_pickle=False) as arrays:  # lazy: the masks stay unread
        return int(arrays["shape"][0])


def probe_generate(args: argparse.Namespace) -> dict[str, Any]:
    """Write case 0 (and 1, 2 with --thumbnails) exactly as 'distill generate' would, into a temporary
    folder; extrapolate time and disk space to ``--n`` cines. ValueError if the disk is too small."""
    if args.n < 1 or args.workers < 1:
        raise ValueError("--n and --workers must be at least 1")
    if not 32 <= args.size <= 1024:
        raise ValueError("--size must lie in 32-1024 pixels")
    if not 0 < args.generator_share <= 1:
        raise ValueError("--generator-share must lie in (0, 1]")
    settings = settings_from(argparse.Namespace(**vars(args), format="echonet", compression="jpeg"))
    shown = range(THUMBNAILS if args.thumbnails else 1)
    # Each kind of cine the run makes is timed on its first case: the simulator's and the generator's.
    share = args.generator_share if args.generator is not None else 0.0
    kinds = {kind: next(i for i in range(10_000) if drawn_by_generator(settings, i) == kind)
             for kind, weight in ((False, 1 - share), (True, share)) if weight > 0}
    thumbnails: list[str] = []
    if args.thumbnails:
        args.thumbnails.mkdir(parents=True, exist_ok=True)
    cost: dict[bool, list[float]] = {kind: [0.0, 0.0, 0.0] for kind in kinds}  # seconds, bytes, frames
    with tempfile.TemporaryDirectory(prefix="distill-probe-") as temporary:
        out = Path(temporary)
        prepare_folder(out, settings, resume=False)
        for index in sorted(set(shown) | set(kinds.values())):
            start = time.perf_counter()
            name = make_case(out, index, settings)
            seconds = time.perf_counter() - start
            video, truth = video_path(out, name, "echonet"), truth_path(out, name)
            tally = cost[drawn_by_generator(settings, index)]
            for i, value in enumerate((seconds, video.stat().st_size + truth.stat().st_size, _frame_count(truth))):
                tally[i] += value
            if args.thumbnails and index in shown:
                thumbnails.append(_thumbnail(video, args.thumbnails / f"{name}.png"))
    # A range of frame counts: scale the probed cases' cost per frame to the range's mean count,
    # each kind weighed by its share.
    mean_frames = float(np.mean(args.frames))
    weights = {False: 1 - share, True: share}
    seconds_per_cine = sum(weights[k] * c[0] / c[2] for k, c in cost.items()) * mean_frames
    bytes_per_cine = round(sum(weights[k] * c[1] / c[2] for k, c in cost.items()) * mean_frames)
    result = {"n": args.n, "frames_per_cine": mean_frames, "size": args.size,
              "seconds_per_cine": round(seconds_per_cine, 4), "bytes_per_cine": bytes_per_cine,
              "estimated_bytes": round(bytes_per_cine * args.n * BYTES_MARGIN),
              "estimated_seconds": round(seconds_per_cine * args.n / args.workers, 1),
              "workers": args.workers, "free_bytes": None, "thumbnails": thumbnails}
    if args.out is not None:
        where, result["free_bytes"] = _free_bytes(args.out)
        if result["estimated_bytes"] > result["free_bytes"]:
            raise ValueError(f"not enough disk space at {where}: the data needs about "
                             f"{result['estimated_bytes'] / 1e9:.2f} GB and {result['free_bytes'] / 1e9:.2f} GB "
                             "are free; free some space or choose fewer cines")
    return result


# --- student -------------------------------------------------------------------------------------

def probe_student(args: argparse.Namespace) -> dict[str, Any]:
    """Parameters of network ``args.model`` and the median time of a training step as train.py takes it."""
    import torch

    from distill.augment import augment
    from distill.networks import build, parameter_count
    from distill.train import loss_terms

    if min(args.clip, args.batch, args.steps) < 1 or not 32 <= args.size <= 1024:
        raise ValueError("--clip, --batch and --steps must be at least 1 and --size lie in 32-1024")
    model = build(args.model).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    shape = (args.batch, args.clip, 1, args.size, args.size)  # train.stack_windows: (B, T, 1, H, W)
    x = torch.rand(shape, generator=generator) * 255.0  # grey levels 0-255
    y = (torch.rand(shape, generator=generator) > 0.7).float()  # targets in [0, 1]
    times = []
    for _ in range(1 + args.steps):  # as train._Run._step
        start = time.perf_counter()
        xa, ya = augment(x, y, args.augment, generator)
        optimizer.zero_grad(set_to_none=True)
        loss_terms(model(xa), ya, 0.0).backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    return {"model": args.model, "parameters": parameter_count(model),
            "temporal": getattr(model, "temporal", "frame"), "step_seconds": round(statistics.median(times[1:]), 4),
            "threads": torch.get_num_threads()}
