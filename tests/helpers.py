"""Small cines written to disk in every layout the loader must read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from echoviewer.io.dicom_writer import write_ultrasound_cine


def moving_frames(n_frames: int = 8, rows: int = 64, cols: int = 80, colour: bool = False,
                  seed: int = 0) -> np.ndarray:
    """A bright disc that moves over a textured background: real content, compressible."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[:rows, :cols]
    background = (60 + 40 * np.sin(xs / 7.0) * np.cos(ys / 5.0)).astype(np.float32)
    frames = np.empty((n_frames, rows, cols), np.uint8)
    for t in range(n_frames):
        disc = ((xs - 20 - 4 * t) ** 2 + (ys - rows / 2) ** 2) < 100
        frames[t] = np.clip(background + 150 * disc + rng.normal(0, 3, (rows, cols)), 0, 255)
    if not colour:
        return frames
    rgb = np.repeat(frames[..., None], 3, axis=-1)
    rgb[:, -6:, :, 1] = 220  # a green trace strip, as scanners draw the ECG
    rgb[:, -6:, :, 0] = rgb[:, -6:, :, 2] = 0
    return rgb


def write_dicom(path: Path, frames: np.ndarray, **kwargs) -> Path:
    kwargs.setdefault("fps", 50.0)
    return write_ultrasound_cine(path, frames, **kwargs)


def recompress(source: Path, target: Path, syntax: pydicom.uid.UID, **changes) -> Path:
    """Re-encode an uncompressed file with pydicom's encoders, applying attribute changes."""
    ds = pydicom.dcmread(source)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    ds.compress(syntax, generate_instance_uid=False)
    ds.save_as(target, enforce_file_format=True)
    return target
