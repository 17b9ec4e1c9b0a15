"""EchoNet-style AVIs, MP4s and NumPy arrays."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from echoviewer.io import UnsupportedImageError, load_cine
from tests.helpers import moving_frames


def _write_video(path, frames: np.ndarray, fps: float, fourcc: str) -> None:
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (width, height))
    assert writer.isOpened()
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame[..., ::-1])
    writer.release()


def test_echonet_style_avi_is_grey_112_with_container_fps(tmp_path) -> None:
    frames = moving_frames(n_frames=20, rows=112, cols=112)
    path = tmp_path / "0X1A2B3C.avi"
    _write_video(path, frames, 50.0, "MJPG")
    cine = load_cine(path)
    assert cine.frames.shape == (20, 112, 112) and cine.rgb is None
    assert cine.timing.source == "container" and cine.timing.fps == pytest.approx(50.0)
    assert cine.calibration is None and "calibration" in cine.calibration_note
    assert np.abs(cine.frames.astype(int) - frames).mean() < 4  # MJPEG is lossy
    assert cine.metadata.format == "video"


def test_mp4_with_colour(tmp_path) -> None:
    frames = moving_frames(n_frames=12, rows=96, cols=128, colour=True)
    path = tmp_path / "clip.mp4"
    _write_video(path, frames, 30.0, "mp4v")
    cine = load_cine(path)
    assert cine.n_frames == 12 and cine.rgb is not None
    assert cine.timing.fps == pytest.approx(30.0)


def test_npy_grey_cine(tmp_path) -> None:
    frames = moving_frames()
    np.save(tmp_path / "cine.npy", frames)
    cine = load_cine(tmp_path / "cine.npy")
    assert np.array_equal(cine.frames, frames) and cine.timing.assumed


def test_npz_with_times_and_calibration(tmp_path) -> None:
    frames = moving_frames(n_frames=4).astype(np.float32) / 255.0
    np.savez_compressed(tmp_path / "cine.npz", frames=frames,
                        frame_times_ms=np.array([0.0, 20.0, 40.0, 61.0]), cm_per_px=np.array([0.03, 0.04]))
    cine = load_cine(tmp_path / "cine.npz")
    assert cine.timing.source == "file" and cine.times_ms[-1] == pytest.approx(61.0)
    assert (cine.calibration.cm_per_px_x, cine.calibration.cm_per_px_y) == (0.03, 0.04)
    assert np.abs(cine.frames.astype(int) - moving_frames(n_frames=4)).max() <= 1  # [0, 1] floats


def test_npz_with_fps_and_rgb_frames(tmp_path) -> None:
    np.savez(tmp_path / "cine.npz", arr_0=moving_frames(colour=True), fps=np.float64(25))
    cine = load_cine(tmp_path / "cine.npz")
    assert cine.rgb is not None and cine.timing.fps == pytest.approx(25.0)


def test_single_frame_array(tmp_path) -> None:
    np.save(tmp_path / "frame.npy", moving_frames(n_frames=1)[0])
    assert load_cine(tmp_path / "frame.npy").n_frames == 1


def test_object_arrays_are_never_unpickled(tmp_path) -> None:
    np.save(tmp_path / "evil.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UnsupportedImageError, match="Python objects"):
        load_cine(tmp_path / "evil.npy")


def test_wrong_dimensionality_is_refused(tmp_path) -> None:
    np.save(tmp_path / "vol.npy", np.zeros((2, 3, 4, 5, 6), np.uint8))
    with pytest.raises(UnsupportedImageError, match="shape"):
        load_cine(tmp_path / "vol.npy")
