"""Write simulated cines as an EchoNet-Dynamic style folder or as ultrasound DICOM files.

Per case: the video (``Videos/<name>.avi`` at the simulated size, or ``<name>.dcm`` at native
resolution) and its truth ``Masks/<name>.npz``. Both are written atomically, truth first, so a
case is complete exactly when its video exists. ``FileList.csv`` and ``VolumeTracings.csv`` are
assembled from the truth files at the end (:func:`write_tables`), which is what makes a resumed
run produce the same tables as an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Union

import cv2
import numpy as np

from distill.datasets.echonet import hash_split, write_filelist, write_volume_tracings
from distill.datasets.npz import save_npz
from distill.datasets.tracings import tracing_from_contour
from distill.synth.simulator import SyntheticCine
from echoviewer.io.atomic import atomic_output
from echoviewer.io.dicom_writer import write_ultrasound_cine
from echoviewer.io.sector import ImagingRegion

if TYPE_CHECKING:
    from distill.echogen.generator import GeneratedCine

FORMATS = ("echonet", "dicom")
MJPEG_QUALITY = 90
Case = Union[SyntheticCine, "GeneratedCine"]  # simulated, or drawn by the learned generator
_TABLE_KEYS = ("ef", "edv_ml", "esv_ml", "fps", "tracing_frames", "tracings", "shape")


def case_name(index: int) -> str:
    return f"synth_{index:06d}"


def video_path(out: Path, name: str, fmt: str) -> Path:
    return out / "Videos" / f"{name}.avi" if fmt == "echonet" else out / f"{name}.dcm"


def truth_path(out: Path, name: str) -> Path:
    return out / "Masks" / f"{name}.npz"


def _traced_frames(cine: Case) -> tuple[int, int]:
    """The ED and ES frames EchoNet would trace: the clip's first of each, else the extremes."""
    ed = cine.ed_frames[0] if cine.ed_frames else int(np.argmax(cine.volumes_ml))
    es = cine.es_frames[0] if cine.es_frames else int(np.argmin(cine.volumes_ml))
    return ed, es


def _truth_arrays(cine: Case) -> dict[str, np.ndarray | np.float64]:
    frames = _traced_frames(cine)
    tracings = np.stack([tracing_from_contour(cine.contours[i], cine.landmarks[i, 0],
                                              (cine.landmarks[i, 1], cine.landmarks[i, 2]))
                         for i in frames])
    return {"masks": cine.masks.astype(np.uint8), "ed_frames": np.asarray(cine.ed_frames, np.int32),
            "es_frames": np.asarray(cine.es_frames, np.int32), "ef": np.float64(cine.ef),
            "edv_ml": np.float64(cine.edv_ml), "esv_ml": np.float64(cine.esv_ml),
            "cm_per_px": np.float64(cine.cm_per_px), "fps": np.float64(cine.fps),
            "volumes_ml": cine.volumes_ml, "landmarks": cine.landmarks,
            "tracing_frames": np.asarray(frames, np.int32), "tracings": tracings,
            "shape": np.asarray(cine.frames.shape, np.int32),
            "params_json": np.asarray(json.dumps(cine.params_dict(), sort_keys=True))}


def _write_avi(path: Path, frames: np.ndarray, fps: float) -> None:
    # OpenCV picks the container from the suffix, so the temporary keeps ".avi".
    with atomic_output(path, suffix=".avi") as temporary:
        writer = cv2.VideoWriter(str(temporary), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter.fourcc(*"MJPG"),
                                 fps, (frames.shape[2], frames.shape[1]), True)
        if not writer.isOpened():
            raise OSError(f"OpenCV cannot write MJPEG AVI files here ({path})")
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, MJPEG_QUALITY)
        for frame in frames:
            writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
        writer.release()


def _sector_region(sector: np.ndarray) -> ImagingRegion:
    ys, xs = np.nonzero(sector)
    return ImagingRegion(int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()), "sector")


def write_case(out: Path, name: str, cine: Case, fmt: str, *, compression: str = "jpeg") -> None:
    """Write one case's truth, then its video (the video's presence marks the case complete)."""
    save_npz(truth_path(out, name), _truth_arrays(cine))
    video = video_path(out, name, fmt)
    if fmt == "echonet":
        _write_avi(video, cine.frames, cine.fps)
    else:
        write_dicom(video, cine, compression=compression)


def write_dicom(path: Path, cine: Case, *, compression: str = "jpeg", quality: int = 90) -> None:
    """An Ultrasound Multi-frame DICOM with FrameTime and the sector as a calibrated US region."""
    write_ultrasound_cine(path, cine.frames, fps=cine.fps, cm_per_px=(cine.cm_per_px, cine.cm_per_px),
                          region=_sector_region(cine.sector), compression=compression, quality=quality,
                          manufacturer="echoviewer simulator", uid_seed=path.stem)


def is_complete(out: Path, name: str, fmt: str) -> bool:
    return video_path(out, name, fmt).is_file() and truth_path(out, name).is_file()


def write_tables(out: Path, names: list[str], fmt: str) -> None:
    """``FileList.csv`` (and, for EchoNet folders, ``VolumeTracings.csv``) from the truth files."""
    rows, tracings = [], []
    for name in names:
        path = truth_path(out, name)
        with np.load(path, allow_pickle=False) as truth:  # lazy: the masks stay unread
            missing = [key for key in _TABLE_KEYS if key not in truth.files]
            if missing:
                raise ValueError(f"{path} lacks {', '.join(missing)}: delete it and run again with --resume")
            frames, height, width = (int(x) for x in truth["shape"])
            rows.append({"FileName": name, "EF": round(float(truth["ef"]), 2),
                         "ESV": round(float(truth["esv_ml"]), 2), "EDV": round(float(truth["edv_ml"]), 2),
                         "FrameHeight": height, "FrameWidth": width, "FPS": float(truth["fps"]),
                         "NumberOfFrames": frames, "Split": hash_split(name)})
            for frame, trace in zip(truth["tracing_frames"], truth["tracings"]):
                tracings.append((name, int(frame), np.round(trace, 3)))
    write_filelist(out / "FileList.csv", rows)
    if fmt == "echonet":
        write_volume_tracings(out / "VolumeTracings.csv", tracings)
