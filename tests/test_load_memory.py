"""Issue 20 (4): videos and NumPy arrays are held to a memory budget. Their declared size is checked
before anything is allocated, loading peaks near the grey frames the cine keeps (a 3.7 MB AVI took
4.4 GB, about 7x its frames), and ``echoviewer info`` describes them from their headers and a few
frames."""

from __future__ import annotations

import io
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from echoviewer.io import CorruptDataError, UnsupportedImageError, load_cine
from echoviewer.io.loader import describe_cine
from tests.helpers import moving_frames

N_FRAMES, ROWS, COLS = 160, 240, 320
GREY_BYTES = N_FRAMES * ROWS * COLS


def _peak(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _avi(path: Path, frames: np.ndarray) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 50.0, frames.shape[1:3][::-1])
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR) if frame.ndim == 2 else frame[..., ::-1])
    writer.release()
    return path


def _npy_member(shape: tuple[int, ...], dtype: str, data: bytes = b"") -> bytes:
    """A .npy file whose header declares ``shape`` whatever ``data`` holds."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                  "shape": shape})
    return buffer.getvalue() + data


@pytest.fixture(scope="module")
def long_frames() -> np.ndarray:
    return moving_frames(n_frames=N_FRAMES, rows=ROWS, cols=COLS)


def test_a_long_video_loads_within_twice_its_grey_frames(tmp_path, long_frames) -> None:
    path = _avi(tmp_path / "long.avi", long_frames)
    load_cine(path)  # warm-up: codec initialisation is not the cine's memory
    peak = _peak(lambda: load_cine(path))
    assert peak < 2 * GREY_BYTES, f"peak {peak / GREY_BYTES:.2f}x the grey frames"
    cine = load_cine(path)
    assert cine.frames.shape == (N_FRAMES, ROWS, COLS) and cine.colour is None


def test_a_compressed_float_array_loads_within_twice_its_grey_frames(tmp_path, long_frames) -> None:
    path = tmp_path / "long.npz"
    np.savez_compressed(path, frames=long_frames.astype(np.float32) / 255, fps=np.float64(40))
    peak = _peak(lambda: load_cine(path))
    assert peak < 2 * GREY_BYTES, f"peak {peak / GREY_BYTES:.2f}x the grey frames (float32 alone is 4x)"
    cine = load_cine(path)
    assert np.abs(cine.frames.astype(int) - long_frames).max() <= 1 and cine.timing.fps == pytest.approx(40)


def test_a_npy_is_read_through_a_memory_map(tmp_path, long_frames) -> None:
    path = tmp_path / "long.npy"
    np.save(path, long_frames.astype(np.float64))
    peak = _peak(lambda: load_cine(path))
    assert peak < 2 * GREY_BYTES, f"peak {peak / GREY_BYTES:.2f}x the grey frames (float64 alone is 8x)"


def test_info_describes_without_holding_the_frames(tmp_path, long_frames) -> None:
    files = [_avi(tmp_path / "long.avi", long_frames), tmp_path / "long.npz"]
    np.savez_compressed(files[1], frames=long_frames)
    peaks = {}
    for path in files:
        assert describe_cine(path) == load_cine(path).describe()
        peaks[path.name] = _peak(lambda: describe_cine(path))  # noqa: B023 - called at once
    assert peaks["long.npz"] < 0.4 * GREY_BYTES, f"info peaked at {peaks['long.npz'] / GREY_BYTES:.2f}x the grey frames"
    # A video's description holds a few sampled frames, however long the video is.
    longer = _avi(tmp_path / "longer.avi", np.concatenate([long_frames] * 4))
    assert describe_cine(longer)["frames"] == 4 * N_FRAMES
    assert _peak(lambda: describe_cine(longer)) < 1.3 * peaks["long.avi"]


@pytest.mark.parametrize("colour", [False, True])
def test_described_as_loaded_for_short_and_colour_cines(tmp_path, colour) -> None:
    frames = moving_frames(n_frames=7, colour=colour)
    files = [_avi(tmp_path / "clip_4CH.avi", frames), tmp_path / "clip.npz", tmp_path / "clip.npy"]
    np.savez(files[1], arr_0=frames, fps=np.float64(25), cm_per_px=np.float64(0.05))
    np.save(files[2], frames)
    for path in files:
        described = describe_cine(path)
        assert described == load_cine(path).describe() and described["colour"] == colour
    assert describe_cine(files[0])["view"] == "A4C"  # the name names the view, as when loaded


def test_an_array_declaring_an_absurd_size_is_refused_before_any_allocation(tmp_path) -> None:
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("frames.npy", _npy_member((200_000, 480, 640), "<f4", bytes(4096)))
    peak = _peak(lambda: pytest.raises(CorruptDataError, load_cine, path))
    assert peak < 10 * 1024**2
    with pytest.raises(CorruptDataError, match=r"the array declares 200000 frames of 640×480, 57\.2 GB decoded"):
        load_cine(path)


def test_a_truncated_array_member_is_damage_not_a_traceback(tmp_path) -> None:
    path = tmp_path / "cut.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("frames.npy", _npy_member((40, 64, 80), "|u1", bytes(64 * 80 * 10)))
    with pytest.raises(CorruptDataError, match="ends after 10 of 40 frames"):
        load_cine(path)


def test_metadata_that_is_not_small_is_refused_unread(tmp_path) -> None:
    path = tmp_path / "odd.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("frames.npy", _npy_member((2, 8, 8), "|u1", bytes(128)))
        archive.writestr("fps.npy", _npy_member((1_000_000_000,), "<f8"))
    with pytest.raises(UnsupportedImageError, match="fps: an array of shape"):
        load_cine(path)


def test_an_object_array_member_is_never_unpickled(tmp_path) -> None:
    path = tmp_path / "objects.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("frames.npy", _npy_member((2,), "|O", b"\x80\x04N."))
    with pytest.raises(UnsupportedImageError, match="Python objects"):
        load_cine(path)
