"""Benchmark the analysis pipeline: load + segment + area curve + ED/ES + measurements + flags.

Times, in one run and on the same cine (best and median of N runs, models already loaded):

* the pipeline with the default student and its chain's teacher, and their ratio
  (goals: student ≤ 0.5 s on 2 cores, and ≥ 20× faster than the teacher);
* the student's stages: load, model view, inference, native area curve, the view gate, events + measurements +
  flags;
* with ``--deeplab``, the pipeline with the paper's teacher architecture (EchoNet-Dynamic's
  DeepLabV3-ResNet50, random weights: its speed does not depend on them) exported to a temporary
  ONNX file; this needs torch and takes a minute.

Process start and model loading are excluded (model loading is printed apart).

Usage: ``python bench/analyze.py [FILE] [--runs N] [--threads T] [--deeplab]``; FILE defaults to
``color3d_jpeg_baseline.dcm`` (120 frames of 640×480, 30 fps) from ``pydicom-data``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from common import default_file, timings, verdict  # bench/ is on sys.path when a script runs
from echoviewer.analysis import analyze
from echoviewer.analysis.view_gate import score_view
from echoviewer.analysis.onnx_model import OnnxModel, quantize_probabilities
from echoviewer.analysis.phases import find_events
from echoviewer.analysis.preprocess import model_view
from echoviewer.analysis.segmentation import segment
from echoviewer.io import load_cine
from echoviewer.resources import BUNDLED_MODELS, DEFAULT_MODEL, PARTNER

STUDENT_GOAL_S = 0.5
RATIO_GOAL = 20.0


def timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    """(best, median) wall time in seconds."""
    seconds = timings(action, runs)
    return min(seconds), statistics.median(seconds)


def pipeline(path: Path, model: OnnxModel) -> Callable[[], object]:
    return lambda: analyze(load_cine(path), model).as_dict()


def stages(path: Path, model: OnnxModel, runs: int) -> dict[str, float]:
    """Best time of each stage of the student pipeline."""
    cine = load_cine(path)
    frames, _, _ = model_view(cine, model.input_size)
    segmentation = segment(cine, model)
    out = {
        "load_cine": timed(lambda: load_cine(path), runs)[0],
        "sector + model view": timed(lambda: model_view(load_cine(path), model.input_size), runs)[0]
        - timed(lambda: load_cine(path), runs)[0],
        "inference": timed(lambda: quantize_probabilities(model.probabilities(frames)), runs)[0],
        "native area curve": timed(lambda: segment(cine, model).native_area_px, runs)[0]
        - timed(lambda: segment(cine, model), runs)[0],
    }
    area = segmentation.native_area_px
    out["ED/ES peaks"] = timed(lambda: find_events(area, cine.timing.fps), runs)[0]
    # A new Cine object each time: the gate keeps each cine's verdict, and a first verdict is what costs.
    out["view gate"] = timed(lambda: score_view(copy.copy(cine)), runs)[0]
    return out


def deeplab_onnx(folder: Path) -> Path:
    """The EchoNet-Dynamic teacher architecture with random weights, exported like a bundled model."""
    import json

    import torch

    from distill.networks.deeplab import ECHONET_MEAN, ECHONET_STD, DeepLabV3ResNet50

    net = DeepLabV3ResNet50().eval()
    path = folder / "deeplab.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(net, torch.zeros(1, 3, 112, 112), str(path), input_names=["frames"],
                          output_names=["logits"], dynamic_axes={"frames": {0: "n"}, "logits": {0: "n"}},
                          opset_version=17, dynamo=False)
    mean, std = list(ECHONET_MEAN), list(ECHONET_STD)
    path.with_suffix(".json").write_text(json.dumps({
        "name": "DeepLabV3-ResNet50 (random weights)",
        "input": {"layout": "NCHW", "channels": 3, "height": 112, "width": 112, "mean": mean, "std": std},
        "output": {"activation": "sigmoid"}, "temporal": "frame"}))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", nargs="?", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="onnxruntime threads (0: all cores)")
    parser.add_argument("--deeplab", action="store_true", help="also time the paper's teacher architecture")
    args = parser.parse_args()
    path = args.file or default_file()
    cine = load_cine(path)
    print(f"file: {path.name}: {cine.n_frames} frames of {cine.width}x{cine.height}, "
          f"{cine.timing.fps:.1f} fps; onnxruntime threads: {args.threads or 'all cores'}")
    models = {}
    for name, spec in (("student", DEFAULT_MODEL), ("teacher", PARTNER[DEFAULT_MODEL])):
        start = time.perf_counter()
        models[name] = OnnxModel(BUNDLED_MODELS[spec], threads=args.threads)
        print(f"{name} ({spec}) model load: {time.perf_counter() - start:.3f} s "
              f"({models[name].parameters:,} parameters)")
    for model in models.values():
        pipeline(path, model)()  # warm-up: first-run allocations
    results = {name: timed(pipeline(path, model), args.runs) for name, model in models.items()}
    for name, (best, median) in results.items():
        print(f"{name} pipeline: {best:.3f} s best, {median:.3f} s median of {args.runs}")
    for stage, seconds in stages(path, models["student"], args.runs).items():
        print(f"  student stage {stage}: {seconds * 1000:.1f} ms")
    student, teacher = results["student"][0], results["teacher"][0]
    print(f"student pipeline {student:.3f} s (goal <= {STUDENT_GOAL_S} s): "
          f"{verdict(student <= STUDENT_GOAL_S)}")
    print(f"bundled teacher / student: {teacher / student:.1f}x (goal >= {RATIO_GOAL:g}x): "
          f"{verdict(teacher / student >= RATIO_GOAL)}")
    if args.deeplab:
        with tempfile.TemporaryDirectory() as folder:
            deeplab = OnnxModel(deeplab_onnx(Path(folder)), threads=args.threads)
            best, median = timed(pipeline(path, deeplab), max(1, min(args.runs, 2)))
        print(f"DeepLabV3-ResNet50 pipeline: {best:.3f} s best, {median:.3f} s median; "
              f"/ student: {best / student:.1f}x (goal >= {RATIO_GOAL:g}x): "
              f"{verdict(best / student >= RATIO_GOAL)}")


if __name__ == "__main__":
    main()
