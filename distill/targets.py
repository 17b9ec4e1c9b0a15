"""``python -m distill targets``: a teacher's soft LV masks for every video of a dataset.

One compressed ``<name>.npz`` per video holds ``soft``, uint8 (T, H, W), sigmoid × 255 as the paper
stores it. ``targets.json`` records the teacher and the data; a rerun skips the videos whose file
is present and valid (same frame count and size as the video), so an interrupted run resumes, and
refuses to mix two teachers in one folder. A video that cannot be read is reported and skipped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from distill.datasets.echonet import EchoNetFolder, VideoRecord
from distill.datasets.npz import load_npz, save_npz
from distill.progress import Progress
from distill.segmenters.base import Segmenter
from distill.segmenters.registry import load_segmenter
from echoviewer.io.atomic import write_json

MANIFEST = "targets.json"
KEY = "soft"


def target_path(folder: Path, name: str) -> Path:
    return folder / f"{name}.npz"


def read_target(folder: Path, name: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
    """The stored soft masks of one video, or None when absent, damaged or of another shape."""
    path = target_path(folder, name)
    if not path.is_file():
        return None
    try:
        soft = load_npz(path).get(KEY)
    except (OSError, ValueError):
        return None
    if soft is None or soft.dtype != np.uint8 or soft.ndim != 3 or (shape is not None and soft.shape != shape):
        return None
    return soft


def _check_manifest(out: Path, manifest: dict) -> None:
    path = out / MANIFEST
    if path.is_file():
        previous = json.loads(path.read_text(encoding="utf-8"))
        if previous.get("teacher") != manifest["teacher"]:
            raise ValueError(f"{out} holds targets of another teacher ({previous.get('teacher', {}).get('name')}); "
                             "choose an empty --out folder")
    write_json(path, manifest)


def produce_targets(teacher: Segmenter, folder: EchoNetFolder, records: list[VideoRecord], out: Path,
                    *, progress: str = "bar") -> dict:
    """Write the missing targets; returns counts {written, skipped, failed: {name: reason}}."""
    _check_manifest(out, {"teacher": teacher.describe(), "data": str(folder.root)})
    bar = Progress("targets", total=len(records), mode=progress, unit="video")
    written, skipped = 0, 0
    failed: dict[str, str] = {}
    try:
        for record, frames, _ in folder.read_videos(records, failed, bar.advance):
            if read_target(out, record.name, frames.shape) is not None:
                skipped += 1
            else:
                save_npz(target_path(out, record.name), {KEY: teacher.soft_masks(frames, folder, record)})
                written += 1
    finally:
        bar.close()
    for name, reason in failed.items():
        print(f"skipped {name}: {reason}", file=sys.stderr)
    return {"written": written, "skipped": skipped, "failed": failed}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", required=True,
                        help="truth, teacher (bundled), FILE.onnx (+ FILE.json sidecar) or FILE.pt")
    parser.add_argument("--data", type=Path, required=True, help="an EchoNet-style dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="folder for the soft masks (resumable)")
    parser.add_argument("--split", default="all",
                        help="TRAIN, VAL, TEST, several joined by commas (TRAIN,VAL) or all (default all)")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")


def run(args: argparse.Namespace) -> int:
    folder = EchoNetFolder(args.data)
    records = folder.split(args.split)
    if not records:
        raise ValueError(f"{folder.root}: no videos in split {args.split!r}")
    teacher = load_segmenter(args.teacher)
    result = produce_targets(teacher, folder, records, args.out, progress=args.progress)
    print(f"{result['written']} written, {result['skipped']} already done, {len(result['failed'])} failed "
          f"-> {args.out}", file=sys.stderr)
    return 1 if result["failed"] else 0
