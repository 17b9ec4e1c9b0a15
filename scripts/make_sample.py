"""Write the bundled demo cine ``resources/samples/sample_a4c.dcm`` (seeded, byte-stable pixels).

A simple beating-ventricle phantom: a sector fan with speckle, a dark elliptical LV cavity whose
size follows a cardiac cycle, a bright wall and a green ECG trace below the sector, exported as a
JPEG Baseline Ultrasound Multi-frame DICOM with FrameTime and a calibrated ultrasound region.
It stands in until the synthetic-echo simulator writes the demo sample.

    python scripts/make_sample.py [--seed 0] [--out resources/samples/sample_a4c.dcm]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from echoviewer.io.cine import ImagingRegion
from echoviewer.io.dicom_writer import write_ultrasound_cine

ROWS, COLS, FRAMES, FPS, HEART_RATE_BPM = 300, 400, 60, 30.0, 72.0
DEPTH_CM = 16.0


def sector_mask(rows: int, cols: int, apex: tuple[int, int], radius: int, half_angle: float) -> np.ndarray:
    ys, xs = np.mgrid[:rows, :cols]
    dx, dy = xs - apex[0], ys - apex[1]
    angle = np.arctan2(dx, dy)
    return (np.hypot(dx, dy) <= radius) & (np.abs(angle) <= half_angle) & (dy >= 0)


def render(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    apex, radius = (COLS // 2, 20), ROWS - 40
    fan = sector_mask(ROWS, COLS, apex, radius, np.deg2rad(38))
    phase = 2 * np.pi * HEART_RATE_BPM / 60.0 * np.arange(FRAMES) / FPS
    volume = 0.5 + 0.5 * np.cos(phase)  # 1 at end-diastole, 0 at end-systole
    frames = np.zeros((FRAMES, ROWS, COLS, 3), np.uint8)
    scatter = rng.rayleigh(1.0, size=(ROWS, COLS)).astype(np.float32)
    for t in range(FRAMES):
        tissue = np.full((ROWS, COLS), 0.55, np.float32)
        centre = (int(COLS * 0.58), int(ROWS * 0.45))
        axes = (int(38 + 10 * volume[t]), int(85 + 12 * volume[t]))
        cv2.ellipse(tissue, centre, (axes[0] + 14, axes[1] + 14), -8, 0, 360, 0.95, -1)
        cv2.ellipse(tissue, centre, axes, -8, 0, 360, 0.08, -1)
        drift = rng.rayleigh(1.0, size=(ROWS, COLS)).astype(np.float32)
        speckle = cv2.GaussianBlur(0.8 * scatter + 0.2 * drift, (0, 0), sigmaX=1.0, sigmaY=2.0)
        depth_gain = np.linspace(1.0, 0.6, ROWS, dtype=np.float32)[:, None]
        image = np.clip(tissue * speckle * depth_gain * 170, 0, 255).astype(np.uint8)
        image[~fan] = 0
        frames[t] = image[..., None]
        ecg_x = np.arange(40, COLS - 40)
        ecg_y = (ROWS - 18 - 12 * np.exp(-((ecg_x / (COLS - 80) * 4 - t / FRAMES * 4) % 1 - 0.1) ** 2 / 0.001)).astype(np.int32)
        cv2.polylines(frames[t], [np.stack([ecg_x, ecg_y], 1)], False, (0, 200, 0), 1)
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path,
                        default=Path(__file__).resolve().parents[1] / "resources/samples/sample_a4c.dcm")
    args = parser.parse_args()
    frames = render(args.seed)
    cm_per_px = DEPTH_CM / (ROWS - 40)
    region = ImagingRegion(0, 0, COLS - 1, ROWS - 30, "sector")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_ultrasound_cine(args.out, frames, fps=FPS, cm_per_px=(cm_per_px, cm_per_px),
                          region=region, compression="jpeg", quality=85,
                          manufacturer="echoviewer phantom")
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
