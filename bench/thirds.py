"""Where along the LV a model's area goes wrong on human-labelled frames: apex, middle or base.

Each labelled frame goes through ``realeval``'s path (``load_cine`` → ``analyze`` → the native mask).
The expert's cavity is cut across its long axis into thirds by image rows (apex at the top, as
CAMUS is stored); in each third the model's area minus the expert's is taken in % of the expert's
whole cavity, and so is the model's area beyond the expert's basal row. Printed per view and phase,
mean over the frames, for each model given. A too-small ED cavity that is mostly a missing apex
points at the apex's picture; one at the base at the mitral plane.

Usage: ``python bench/thirds.py [--camus NPZ|FOLDER] [--models M...] [--max-cases N]``; by default
``../shared/real/camus/camus_val.npz`` and the default student with its chain's teacher. A yardstick
only: nothing here trains on it.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from distill.datasets.labelled import open_labelled
from distill.realeval import aligned, one_frame_cine
from echoviewer.analysis import DEFAULT_MODEL, analyze, load_model
from echoviewer.io import load_cine
from echoviewer.resources import PARTNER

SHARED_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real"
PARTS = ("apex", "middle", "base", "beyond base")


def by_thirds(predicted: np.ndarray, reference: np.ndarray) -> list[float]:
    """(predicted − reference) area in each third of the reference's rows, and predicted area below
    its last row, each in % of the reference's area."""
    rows = np.flatnonzero(reference.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    cuts = np.linspace(top, bottom, 4).round().astype(int)
    total = float(reference.sum())
    parts = [(int(predicted[a:b].sum()) - int(reference[a:b].sum())) / total * 100 for a, b in zip(cuts[:-1], cuts[1:])]
    return [*parts, float(predicted[bottom:].sum()) / total * 100]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = SHARED_REAL / "camus" / "camus_val.npz"
    parser.add_argument("--camus", type=Path, default=default, help=f"labelled frames (default {default})")
    parser.add_argument("--models", nargs="+", default=[DEFAULT_MODEL, PARTNER[DEFAULT_MODEL]])
    parser.add_argument("--max-cases", type=int, default=0, help="score only the first N cases (0: all)")
    args = parser.parse_args()
    if not args.camus.exists():
        raise SystemExit(f"no labelled data at {args.camus}: pass --camus PATH; see ../shared/real/README.md")
    labelled = open_labelled(args.camus)
    models = {name: load_model(name) for name in args.models}
    parts: dict[tuple[str, str, str], list[list[float]]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="thirds-") as scratch:
        for index, case in enumerate(labelled.cases()):
            if args.max_cases and index >= args.max_cases:
                break
            cine = load_cine(case.path) if case.path is not None else one_frame_cine(case, Path(scratch))
            for name, model in models.items():
                segmentation = analyze(cine, model).segmentation
                for label in case.labels:
                    predicted = segmentation.native_mask(label.frame)
                    parts[(name, case.view, label.phase)].append(by_thirds(predicted, label.reference(predicted.shape)))
    rows = [["model", "view", "phase", "n", *(f"{part} %" for part in PARTS)]]
    for (name, view, phase), values in sorted(parts.items(), key=lambda item: (args.models.index(item[0][0]), *item[0][1:])):
        means = np.mean(values, axis=0)
        rows.append([name, view, phase, str(len(values)), *(f"{m:+.1f}" for m in means)])
    print(f"{labelled.root}: the model's area minus the expert's, by thirds of the expert's cavity "
          "(% of the expert's area; mean over frames)")
    print("\n".join(aligned(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
