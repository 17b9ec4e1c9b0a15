"""Video cines (AVI, MP4, ...) through OpenCV; EchoNet-Dynamic AVIs are 112×112 grey in 3 channels."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from echoviewer.io.cine import Cine, CineMetadata, FrameTiming
from echoviewer.io.errors import VideoOpenError
from echoviewer.io.pixels import split_grey_and_colour
from echoviewer.io.sector import content_region
from echoviewer.io.timing import assumed_timing, plausible_fps

VIDEO_SUFFIXES = {".avi", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".wmv", ".mpg", ".mpeg"}
# FFmpeg prints container warnings straight to stderr; a bad file is reported by the loader.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")


def open_capture(path: Path) -> cv2.VideoCapture:
    """FFmpeg only: OpenCV's fallback readers print to stderr and read nothing FFmpeg cannot."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    finally:
        cv2.utils.logging.setLogLevel(previous)


def load_video(path: Path) -> Cine:
    capture = open_capture(path)
    try:
        if not capture.isOpened():
            raise VideoOpenError(f"{path.name}: OpenCV cannot open this video (unknown container "
                                 "or codec); convert it to MP4 (H.264) or AVI (MJPEG)")
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        codec = int(capture.get(cv2.CAP_PROP_FOURCC) or 0)
        frames: list[np.ndarray] = []
        while True:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            if frame.ndim == 3:
                frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if frames and frame.shape != frames[0].shape:
                break  # a broken tail; keep the consistent frames
            frames.append(frame)
    finally:
        capture.release()
    if not frames:
        raise VideoOpenError(f"{path.name}: the video holds no decodable frame; "
                             "it may be empty, truncated or use an unsupported codec")
    grey, colour = split_grey_and_colour(np.stack(frames))
    if plausible_fps(fps):
        timing = FrameTiming.uniform(len(frames), 1000.0 / fps, "container")
    else:
        timing = assumed_timing(len(frames), "the container gives no frame rate")
    fourcc = "".join(chr((codec >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
    metadata = CineMetadata(format="video", transfer_syntax_name=f"video ({fourcc or 'unknown codec'})",
                            decoder="opencv")
    return Cine(path=path, frames=grey, colour=colour, timing=timing, calibration=None,
                calibration_note="videos carry no physical calibration", region=content_region(grey),
                metadata=metadata)
