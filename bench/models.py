"""Benchmark the bundled models in onnxruntime: frames per second at 112×112 on this CPU.

Runs the default student and its chain's teacher (``student-camus.onnx``, ``teacher-camus.onnx``; or the files given) on the bundled
sample cine's model view, repeated to ``--frames`` frames, as the viewer will: the student sees the
whole clip at once (a temporal model), the teacher batches of 32 frames. onnxruntime uses
``--threads`` intra-op threads (default 2). Prints the best of ``--repeat`` runs.
Goal: the default student at ≥ 1,000 frames/s on 2 CPU cores.

Usage: ``python bench/models.py [--frames 128] [--threads 2] [--repeat 5] [MODEL.onnx ...]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from echoviewer.analysis.preprocess import model_view
from distill.segmenters.onnx import OnnxSegmenter
from echoviewer.io import load_cine
from echoviewer.resources import BUNDLED_MODELS, DEFAULT_MODEL, PARTNER, SAMPLE_CINE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path,
                        default=[BUNDLED_MODELS[DEFAULT_MODEL], BUNDLED_MODELS[PARTNER[DEFAULT_MODEL]]])
    parser.add_argument("--frames", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    view, _, _ = model_view(load_cine(SAMPLE_CINE))
    frames = np.resize(view, (args.frames, *view.shape[1:]))
    print(f"{args.frames} frames of {frames.shape[1]}×{frames.shape[2]}, onnxruntime, {args.threads} threads")
    for path in args.models:
        model = OnnxSegmenter(path, threads=args.threads)
        model.probabilities(frames[:8])  # warm-up: graph optimisation, allocations
        best = float("inf")
        for _ in range(args.repeat):
            start = time.perf_counter()
            model.probabilities(frames)
            best = min(best, time.perf_counter() - start)
        print(f"{path.name:14s} {model.parameters or 0:>11,} parameters  {args.frames / best:8.0f} frames/s  "
              f"({1000 * best / args.frames:.2f} ms/frame, {model.spec['temporal']})")


if __name__ == "__main__":
    main()
