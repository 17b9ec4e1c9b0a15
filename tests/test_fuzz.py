"""Property-based fuzzing of ``load_cine``: damaged and random files never crash or hang it.

For any bytes on disk, ``load_cine`` either returns a consistent :class:`Cine` or raises a
:class:`CineLoadError` with a non-empty one-line message; any other exception fails the test.
Inputs are mutated copies of real DICOM files (pydicom-data and the bundled sample), a small
MJPG AVI and NumPy files, plus random bytes behind each format's magic number. A native decoder
crash would kill the run; the last input tried is then still on disk under pytest's tmp folder.
"""

from __future__ import annotations

import functools
import importlib.util
import struct
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echoviewer.io import Cine, CineLoadError, load_cine

REPO = Path(__file__).resolve().parents[1]
HEADER_BYTES = 4096  # where a DICOM keeps its file meta and first elements
# Transfer syntax, frame timing, ultrasound regions, image geometry and pixel format, pixel data
# and its first item (the basic offset table): mutations aim at these.
IMAGE_TAGS = [(0x0002, 0x0010), (0x0018, 0x1063), (0x0018, 0x1065), (0x0018, 0x6011),
              (0x0028, 0x0002), (0x0028, 0x0004), (0x0028, 0x0008), (0x0028, 0x0010),
              (0x0028, 0x0011), (0x0028, 0x0100), (0x0028, 0x0101), (0x0028, 0x1201),
              (0x7FE0, 0x0010), (0xFFFE, 0xE000)]

PYDICOM_DATA_SEEDS = ["OBXXXX1A_rle.dcm", "US1_J2KR.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
                      "OBXXXX1A_expb_2frame.dcm", "gdcm-US-ALOKA-16.dcm"]
GENERATED_SEEDS = ["mjpg.avi", "frames.npy", "cine.npz"]
SUFFIXES = [".dcm", ".avi", ".npy", ".npz", ""]
MAGICS = {  # what goes before the random bytes; "dicm" means a 128-byte preamble then b"DICM"
    "none": b"", "dicm": b"", "riff-avi": b"RIFF\x00\x10\x00\x00AVI LIST",
    "numpy": b"\x93NUMPY\x01\x00", "zip": b"PK\x03\x04", "mp4": b"\x00\x00\x00\x18ftypmp42",
}

FUZZ = settings(deadline=timedelta(seconds=20), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

Mutation = tuple[str, int, int | bytes]


def pydicom_data_dir() -> Path:
    """The folder of test DICOM files installed by the ``pydicom-data`` package."""
    spec = importlib.util.find_spec("data_store")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pydicom-data is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "data"


@functools.cache
def read_seed(path: Path) -> bytes:
    return path.read_bytes()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def generated_seeds(workdir: Path) -> dict[str, Path]:
    """A 6-frame MJPG AVI, a .npy and a .npz (with timing and calibration) to mutate."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (6, 48, 64, 3), dtype=np.uint8)
    frames[..., 1] = frames[..., 0]  # some colour, some grey
    avi = workdir / "seed-mjpg.avi"
    writer = cv2.VideoWriter(str(avi), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    assert writer.isOpened(), "OpenCV cannot write MJPG AVI files"
    for frame in frames:
        writer.write(frame)
    writer.release()
    npy, npz = workdir / "seed-frames.npy", workdir / "seed-cine.npz"
    np.save(npy, frames[..., 0])
    np.savez(npz, frames=frames, frame_times_ms=np.arange(6) * 40.0, fps=np.float64(25.0),
             cm_per_px=np.array([0.03, 0.03]))
    return {"mjpg.avi": avi, "frames.npy": npy, "cine.npz": npz}


def hot_spots(data: bytes) -> list[int]:
    """Where the elements that describe the image start (first match, either byte order)."""
    found = (data.find(struct.pack(order, group, element))
             for group, element in IMAGE_TAGS for order in ("<HH", ">HH"))
    return sorted({offset for offset in found if offset >= 0})


def offsets(size: int, spots: list[int]) -> st.SearchStrategy[int]:
    """Offsets near an image-describing element, in the first 4 KB, or anywhere in the file
    (floats spread evenly over a large file; Hypothesis draws small integers far more often)."""
    anywhere = st.floats(0, 1, exclude_max=True).map(lambda f: int(f * size))
    header = st.integers(0, min(HEADER_BYTES, size) - 1)
    if not spots:
        return st.one_of(header, anywhere)
    near = st.builds(lambda spot, delta: min(spot + delta, size - 1),
                     st.sampled_from(spots), st.integers(0, 11))
    return st.one_of(near, header, anywhere)


@st.composite
def mutations(draw: st.DrawFn, size: int, spots: list[int]) -> list[Mutation]:
    """Byte flips, overwrites, insertions, deletions and truncations."""
    offset = offsets(size, spots)
    operation = st.one_of(
        st.tuples(st.just("flip"), offset, st.integers(1, 255)),
        st.tuples(st.just("overwrite"), offset, st.binary(min_size=1, max_size=8)),
        st.tuples(st.just("insert"), offset, st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("delete"), offset, st.integers(1, 16)),
        st.tuples(st.just("truncate"), offset, st.just(0)),
    )
    return draw(st.lists(operation, min_size=1, max_size=4))


def mutate(data: bytes, operations: list[Mutation]) -> bytes:
    buffer = bytearray(data)
    for kind, offset, argument in operations:
        offset = min(offset, len(buffer))
        if kind == "flip" and offset < len(buffer):
            buffer[offset] ^= argument
        elif kind == "overwrite":
            buffer[offset:offset + len(argument)] = argument
        elif kind == "insert":
            buffer[offset:offset] = argument
        elif kind == "delete":
            del buffer[offset:offset + argument]
        elif kind == "truncate":
            del buffer[offset:]
    return bytes(buffer)


def assert_cine_or_clean_error(path: Path) -> None:
    """The property: a consistent Cine, or a CineLoadError with a one-line message."""
    try:
        cine = load_cine(path)
    except CineLoadError as exc:
        message = str(exc)
        assert message.strip(), f"{type(exc).__name__} with an empty message"
        assert "\n" not in message and "\r" not in message, f"multi-line message: {message!r}"
        return
    assert isinstance(cine, Cine)
    frames, rgb, times = cine.frames, cine.rgb, cine.timing.times_ms
    assert frames.dtype == np.uint8 and frames.ndim == 3 and min(frames.shape) >= 1, frames.shape
    assert frames.shape[0] == len(times), (frames.shape, len(times))
    assert np.all(np.isfinite(times)) and np.isfinite(cine.timing.fps) and cine.timing.fps > 0
    if rgb is not None:
        assert rgb.dtype == np.uint8 and rgb.shape == frames.shape + (3,), (rgb.shape, frames.shape)


def fuzz_seed(seed: Path, out: Path, data: st.DataObject) -> None:
    original = read_seed(seed)
    operations = data.draw(mutations(len(original), hot_spots(original)), label="mutations")
    out.write_bytes(mutate(original, operations))
    assert_cine_or_clean_error(out)


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_mutated_jpeg_baseline_colour_cine(workdir: Path, data: st.DataObject) -> None:
    """The 6 MB, 120-frame JPEG Baseline cine that takes the OpenCV fast path."""
    fuzz_seed(pydicom_data_dir() / "color3d_jpeg_baseline.dcm",
              workdir / "mutant-color3d_jpeg_baseline.dcm", data)


@pytest.mark.parametrize("name", [*PYDICOM_DATA_SEEDS, "sample_a4c.dcm"])
@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_mutated_dicom(workdir: Path, name: str, data: st.DataObject) -> None:
    seed = (REPO / "resources" / "samples" / name if name == "sample_a4c.dcm"
            else pydicom_data_dir() / name)
    fuzz_seed(seed, workdir / f"mutant-{name}", data)


@pytest.mark.parametrize("name", GENERATED_SEEDS)
@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_mutated_video_and_numpy(workdir: Path, generated_seeds: dict[str, Path], name: str,
                                 data: st.DataObject) -> None:
    fuzz_seed(generated_seeds[name], workdir / f"mutant-{name}", data)


@settings(FUZZ, max_examples=60)
@given(body=st.binary(max_size=4096), magic=st.sampled_from(sorted(MAGICS)),
       suffix=st.sampled_from(SUFFIXES))
def test_random_bytes(workdir: Path, body: bytes, magic: str, suffix: str) -> None:
    if magic == "dicm":
        content = body[:128].ljust(128, b"\x00") + b"DICM" + body[128:]
    else:
        content = MAGICS[magic] + body
    path = workdir / f"random{suffix}"
    path.write_bytes(content)
    assert_cine_or_clean_error(path)
