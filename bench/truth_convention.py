"""Where does the LV border lie against the image's own edge: the experts' (CAMUS) and the simulator's?

An expert traces the cavity where blood meets tissue; the simulator's truth is its LV polygon. This
script compares the two conventions on the picture itself: in the 112×112 model view, it averages the
grey level of the pixels at each signed distance from the border (inside negative, 1 px steps; the
basal fifth of the cavity left out, where the valve and the atrium are) and finds where that profile
crosses halfway between the cavity's depth and the wall's peak. A border drawn at the visible edge
would cross at 0; one drawn outside it crosses at a negative distance.

    python bench/truth_convention.py [--camus ../shared/real/camus/camus_train.npz] [--cines 40]

CAMUS ``train`` only (``val`` is for scoring models); the simulator's cines from seeds 0..N-1.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np

from distill.echogen.fit import model_view_pairs
from distill.synth import simulate
from echoviewer.analysis.preprocess import model_view
from echoviewer.io import load_cine

DISTANCES = np.array([d for d in range(-8, 9) if d != 0])  # px from the border; no pixel lies on it
BASAL_SHARE = 0.2  # the cavity's rows nearest the valve, left out


def profile(image: np.ndarray, cavity: np.ndarray) -> np.ndarray:
    """Mean grey at each of DISTANCES from the border of ``cavity`` (NaN where no pixel is)."""
    inside = cv2.distanceTransform(cavity.astype(np.uint8), cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - cavity.astype(np.uint8), cv2.DIST_L2, 3)
    signed = np.where(cavity, -np.ceil(inside - 0.5), np.ceil(outside - 0.5))
    rows = np.nonzero(cavity)[0]
    top, bottom = rows.min(), rows.min() + (1 - BASAL_SHARE) * (rows.max() - rows.min())
    band = (np.arange(cavity.shape[0]) >= top) & (np.arange(cavity.shape[0]) <= bottom)
    grey, band = image.astype(float), band[:, None]
    picked = [grey[band & (signed == d)] for d in DISTANCES]
    return np.array([values.mean() if values.size else np.nan for values in picked])


def crossing(mean_profile: np.ndarray) -> float:
    """The distance (px, interpolated) where the profile first rises halfway from the cavity's depth
    (its three innermost steps) to the wall's peak."""
    depth, peak = float(np.nanmean(mean_profile[:3])), float(np.nanmax(mean_profile))
    half = 0.5 * (depth + peak)
    k = int(np.argmax(mean_profile >= half))
    if k == 0:
        return float("nan")
    before, after = mean_profile[k - 1], mean_profile[k]
    return float(DISTANCES[k - 1] + (half - before) / (after - before) * (DISTANCES[k] - DISTANCES[k - 1]))


def camus_profiles(path: Path) -> dict[str, list[np.ndarray]]:
    names, images, labels = model_view_pairs(path)
    found: dict[str, list[np.ndarray]] = {"ED": [], "ES": []}
    for name, image, label in zip(names, images, labels):
        cavity = label == 1
        if cavity.sum() >= 50:
            found["ES" if name.endswith("_ES") else "ED"].append(profile(image, cavity))
    return found


def simulator_profiles(cines: int) -> dict[str, list[np.ndarray]]:
    found: dict[str, list[np.ndarray]] = {"ED": [], "ES": []}
    with tempfile.TemporaryDirectory() as scratch:
        for seed in range(cines):
            cine = simulate(seed, n_frames=(32, 48))
            path = Path(scratch) / f"{seed}.npz"
            np.savez(path, frames=cine.frames, fps=np.float64(cine.fps))
            frames, _, crop = model_view(load_cine(path))
            for phase, events in (("ED", cine.ed_frames), ("ES", cine.es_frames)):
                for index in events[:1]:
                    cavity = crop.to_model(cine.masks[index][None].astype(np.uint8),
                                           interpolation=cv2.INTER_NEAREST)[0] > 0
                    found[phase].append(profile(frames[index], cavity))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camus", type=Path, default=Path("../shared/real/camus/camus_train.npz"))
    parser.add_argument("--cines", type=int, default=40, help="simulated cines (default 40)")
    args = parser.parse_args()
    print("distance from the border (px, model view):", " ".join(f"{d:>4}" for d in DISTANCES))
    for source, profiles in (("CAMUS experts", camus_profiles(args.camus)), ("simulator truth",
                                                                            simulator_profiles(args.cines))):
        for phase, rows in profiles.items():
            mean = np.nanmean(rows, axis=0)
            per_frame = np.nanmedian([crossing(row) for row in rows])
            print(f"{source:>15} {phase} (n={len(rows):4d}) grey:", " ".join(f"{g:4.0f}" for g in mean),
                  f"| half-way at {crossing(mean):+.2f} px (median per frame {per_frame:+.2f})")


if __name__ == "__main__":
    main()
