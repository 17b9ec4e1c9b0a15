"""``python -m distill targets``: a teacher's soft LV masks for every video of a dataset.

One compressed ``<name>.npz`` per video holds ``soft``, uint8 (T, H, W), sigmoid × 255 as the paper
stores it. ``targets.json`` records the teacher and the data; a rerun skips the videos whose file
is present and valid (same frame count and size as the video), so an interrupted run resumes, and
refuses to mix two teachers in one folder. A video that cannot be read is reported and skipped.

``--close-at-hinges`` draws the teacher's masks by the clinical convention before they are stored:
the LV contour closes straight across the mitral annulus at the leaflet hinge points in every frame,
whatever the leaflets do, so whatever the teacher puts beyond that line (through the open valve into
the atrium) is removed. The hinge points are the synthetic data's own (``Masks/<name>.npz``
``landmarks``, which the simulator and the learned generator both write); no image is involved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from distill.datasets.echonet import EchoNetFolder, VideoRecord
from distill.datasets.npz import load_npz, save_npz
from distill.progress import Progress
from distill.segmenters.base import Segmenter
from distill.segmenters.registry import load_segmenter
from echoviewer.io.atomic import read_json, write_json

MANIFEST = "targets.json"
KEY = "soft"
HINGE_MARGIN_PX = 1.0  # kept beyond the hinge line: the hinge points are exact only to a pixel
BASAL_BAND = 0.3  # --fill-to-hinges works in this share of the LV's length next to the hinge line


def close_at_hinges(soft: np.ndarray, landmarks: np.ndarray, margin_px: float = HINGE_MARGIN_PX) -> np.ndarray:
    """``soft`` (T, H, W) with every pixel more than ``margin_px`` beyond the line through frame t's
    two hinge points (on the side away from its apex) set to 0; ``landmarks`` (T, 3, 2) holds the
    apex and the two hinge points (x, y) per frame."""
    height, width = soft.shape[1:]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    closed = soft.copy()
    for frame, (apex, septal, lateral) in enumerate(np.asarray(landmarks, np.float64)):
        normal = np.array([septal[1] - lateral[1], lateral[0] - septal[0]])
        length = float(np.hypot(*normal))
        if length < 1e-6:
            continue  # no annulus to close across
        normal /= length
        if np.dot(apex - septal, normal) < 0:
            normal = -normal  # pointing to the apex
        beyond = (xs - septal[0]) * normal[0] + (ys - septal[1]) * normal[1] < -margin_px
        closed[frame][beyond] = 0
    return closed


def fill_to_hinges(soft: np.ndarray, landmarks: np.ndarray, band: float = BASAL_BAND) -> np.ndarray:
    """``soft`` (uint8 T, H, W) with the gap between the teacher's basal edge and the hinge line
    filled: in the basal ``band`` of the LV's length, every pixel inside the convex hull of the
    teacher's mask there and the two hinge points is set to certain LV. While the valve is open a
    teacher that learned from closed valves stops at the leaflet tips; the clinical contour runs
    across the hinges. ``landmarks`` as for :func:`close_at_hinges`."""
    import cv2

    height, width = soft.shape[1:]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    filled = soft.copy()
    for frame, (apex, septal, lateral) in enumerate(np.asarray(landmarks, np.float64)):
        mid = 0.5 * (septal + lateral)
        length = float(np.hypot(*(apex - mid)))
        if length < 1e-6 or np.hypot(*(lateral - septal)) < 1e-6:
            continue
        axis = (apex - mid) / length  # towards the apex
        height_above = (xs - mid[0]) * axis[0] + (ys - mid[1]) * axis[1]
        in_band = (height_above >= 0) & (height_above <= band * length)
        inside = np.argwhere((soft[frame] >= 128) & in_band)[:, ::-1]  # (x, y)
        if len(inside) == 0:
            continue
        points = np.concatenate([inside, np.rint([septal, lateral])]).astype(np.int32)
        hull = np.zeros((height, width), np.uint8)
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
        filled[frame][(hull > 0) & in_band] = 255
    return filled


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
        previous = read_json(path)
        if not isinstance(previous, dict):
            raise ValueError(f"{path} is damaged (not a JSON object); delete it to check the targets again, or "
                             "choose an empty --out folder")
        if previous.get("teacher") != manifest["teacher"]:
            raise ValueError(f"{out} holds targets of another teacher ({previous.get('teacher', {}).get('name')}); "
                             "choose an empty --out folder")
        if bool(previous.get("close_at_hinges")) != manifest["close_at_hinges"]:
            raise ValueError(f"{out} holds targets {'with' if previous.get('close_at_hinges') else 'without'} "
                             "--close-at-hinges; repeat the original command, or choose an empty --out folder")
        if bool(previous.get("fill_to_hinges")) != manifest["fill_to_hinges"]:
            raise ValueError(f"{out} holds targets {'with' if previous.get('fill_to_hinges') else 'without'} "
                             "--fill-to-hinges; repeat the original command, or choose an empty --out folder")
    write_json(path, manifest)


def _hinges(folder: EchoNetFolder, record: VideoRecord, shape: tuple[int, ...]) -> np.ndarray:
    """The video's per-frame apex and hinge points; ValueError when its truth has none that fit."""
    truth = folder.truth(record.name)
    if truth is None or truth.landmarks is None:
        raise ValueError(f"{record.name}: --close-at-hinges needs synthetic data whose Masks/{record.name}.npz "
                         "holds landmarks (made by 'distill generate')")
    if truth.masks.shape != shape or truth.landmarks.shape != (shape[0], 3, 2):
        raise ValueError(f"{record.name}: its landmarks do not match the video's {shape[0]} frames of "
                         f"{shape[2]}x{shape[1]}")
    return truth.landmarks


def produce_targets(teacher: Segmenter, folder: EchoNetFolder, records: list[VideoRecord], out: Path,
                    *, progress: str = "bar", closed_at_hinges: bool = False, filled_to_hinges: bool = False) -> dict:
    """Write the missing targets (closed across the hinge points, filled up to them, if asked);
    returns counts {written, skipped, failed: {name: reason}}."""
    _check_manifest(out, {"teacher": teacher.describe(), "data": str(folder.root),
                          "close_at_hinges": closed_at_hinges, "fill_to_hinges": filled_to_hinges})
    bar = Progress("targets", total=len(records), mode=progress, unit="video")
    written, skipped = 0, 0
    failed: dict[str, str] = {}
    try:
        for record, frames, _ in folder.read_videos(records, failed, bar.advance):
            if read_target(out, record.name, frames.shape) is not None:
                skipped += 1
            else:
                soft = teacher.soft_masks(frames, folder, record)
                if closed_at_hinges or filled_to_hinges:
                    hinges = _hinges(folder, record, frames.shape)
                    soft = close_at_hinges(soft, hinges) if closed_at_hinges else soft
                    soft = fill_to_hinges(soft, hinges) if filled_to_hinges else soft
                save_npz(target_path(out, record.name), {KEY: soft})
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
    parser.add_argument("--close-at-hinges", action="store_true",
                        help="remove what the teacher draws beyond the mitral hinge line (the clinical "
                             "contour closes across it in every frame); needs synthetic data with landmarks")
    parser.add_argument("--fill-to-hinges", action="store_true",
                        help="fill what the teacher leaves between the LV's basal edge and the hinge line "
                             "(open leaflets); needs synthetic data with landmarks")
    parser.add_argument("--progress", choices=("bar", "json", "none"), default="bar")


def run(args: argparse.Namespace) -> int:
    folder = EchoNetFolder(args.data)
    records = folder.split(args.split)
    if not records:
        raise ValueError(f"{folder.root}: no videos in split {args.split!r}")
    teacher = load_segmenter(args.teacher)
    result = produce_targets(teacher, folder, records, args.out, progress=args.progress,
                             closed_at_hinges=args.close_at_hinges, filled_to_hinges=args.fill_to_hinges)
    print(f"{result['written']} written, {result['skipped']} already done, {len(result['failed'])} failed "
          f"-> {args.out}", file=sys.stderr)
    return 1 if result["failed"] else 0
