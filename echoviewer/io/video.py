"""Video cines (AVI, MP4, ...) through OpenCV; EchoNet-Dynamic AVIs are 112×112 grey in 3 channels."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from echoviewer.io.cine import Cine, CineMetadata, FrameTiming, description
from echoviewer.io.errors import VideoOpenError
from echoviewer.io.pixels import FrameCollector
from echoviewer.io.sector import content_region, look_samples, sampled_look
from echoviewer.io.timing import assumed_timing, plausible_fps

VIDEO_SUFFIXES = {".avi", ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".wmv", ".mpg", ".mpeg"}
# FFmpeg prints container warnings straight to stderr; a bad file is reported by the loader.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
_NO_CALIBRATION = "videos carry no physical calibration"


def open_capture(path: Path) -> cv2.VideoCapture:
    """FFmpeg only: OpenCV's fallback readers print to stderr and read nothing FFmpeg cannot.
    Silent while opening: a damaged stream makes OpenCV log "Could not open codec" at error
    level, where the loader's one line says what is wrong."""
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    finally:
        cv2.utils.logging.setLogLevel(previous)


def _frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    while True:
        ok, frame = capture.read()
        if not ok or frame is None:
            return
        yield frame


def _replay(path: Path) -> Iterator[np.ndarray]:
    capture = open_capture(path)
    try:
        yield from _frames(capture)
    finally:
        capture.release()


def _opened(path: Path) -> cv2.VideoCapture:
    capture = open_capture(path)
    if not capture.isOpened():
        capture.release()
        raise VideoOpenError(f"{path.name}: OpenCV cannot open this video (unknown container "
                             "or codec); convert it to MP4 (H.264) or AVI (MJPEG)")
    return capture


def _declared_frames(capture: cv2.VideoCapture) -> int:
    """The frame count the container declares (0 when it says none; an estimate for some)."""
    count = float(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
    return int(count) if math.isfinite(count) and count > 0 else 0


def _timing(capture: cv2.VideoCapture, n_frames: int) -> FrameTiming:
    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    if plausible_fps(fps):
        return FrameTiming.uniform(n_frames, 1000.0 / fps, "container")
    return assumed_timing(n_frames, "the container gives no frame rate")


def _metadata(capture: cv2.VideoCapture) -> CineMetadata:
    codec = int(capture.get(cv2.CAP_PROP_FOURCC) or 0)
    fourcc = "".join(chr((codec >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00 ")
    return CineMetadata(format="video", transfer_syntax_name=f"video ({fourcc or 'unknown codec'})",
                        decoder="opencv")


def load_video(path: Path) -> Cine:
    """Every frame into one grey array (and one RGB array when the content has colour), decoded
    one at a time: the declared length is checked against the memory budget first, and no list
    of frames is held (a 2,000-frame video took 7x its grey frames that way)."""
    capture = _opened(path)
    try:
        collector = FrameCollector(path.name, _declared_frames(capture), claim="the container declares", bgr=True)
        for frame in _frames(capture):
            if not collector.add(frame):
                break  # a broken tail; keep the consistent frames
        if collector.count == 0:
            raise VideoOpenError(f"{path.name}: the video holds no decodable frame; "
                                 "it may be empty, truncated or use an unsupported codec")
        grey, colour = collector.finish(lambda: _replay(path))
        timing, metadata = _timing(capture, grey.shape[0]), _metadata(capture)
    finally:
        capture.release()
    return Cine(path=path, frames=grey, colour=colour, timing=timing, calibration=None,
                calibration_note=_NO_CALIBRATION, region=content_region(grey), metadata=metadata)


class _Unseekable(Exception):
    """A sampled frame could not be reached or read."""


def _seeked(capture: cv2.VideoCapture, indices: list[int]) -> Iterator[tuple[int, np.ndarray]]:
    shape: tuple[int, ...] | None = None
    for index in indices:
        if index and not capture.set(cv2.CAP_PROP_POS_FRAMES, index):
            raise _Unseekable
        ok, frame = capture.read()
        if not ok or frame is None or shape not in (None, frame.shape):
            raise _Unseekable
        shape = frame.shape
        yield index, frame


def describe_video(path: Path) -> dict[str, Any] | None:
    """What :meth:`Cine.describe` says of this video, from its container and the frames the colour
    and region checks sample (seeked to, not decoded in turn); None when the container declares no
    frame count or a sampled frame cannot be read (then only loading it all can tell)."""
    capture = _opened(path)
    try:
        n_frames = _declared_frames(capture)
        if n_frames == 0:
            return None
        try:
            colour, region = sampled_look(_seeked(capture, look_samples(n_frames)), n_frames, bgr=True)
        except _Unseekable:
            return None
        width, height = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return description(path=path, n_frames=n_frames, height=height, width=width, colour=colour,
                           timing=_timing(capture, n_frames), calibration=None,
                           calibration_note=_NO_CALIBRATION, region=region, metadata=_metadata(capture))
    finally:
        capture.release()
