"""Property-based fuzzing of ``load_cine``: damaged and random files never crash or hang it.

For any bytes on disk, ``load_cine`` either returns a consistent :class:`Cine` or raises a
:class:`CineLoadError` with a non-empty one-line message; any other exception fails the test.
Inputs are mutated copies of real DICOM files (pydicom-data and the bundled sample), a small
MJPG AVI and NumPy files, plus random bytes behind each format's magic number. A native decoder
crash would kill the run; the last input tried is then still on disk under pytest's tmp folder.
"""

from __future__ import annotations

import functools
import signal
import struct
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echoviewer.io import Cine, CineLoadError, load_cine
from tests.conftest import pydicom_data_dir

SAMPLES = Path(__file__).resolve().parents[1] / "echoviewer" / "resources" / "samples"
BUNDLED_SAMPLE = "sample_a4c.dcm"
HEADER_BYTES = 4096  # where a DICOM keeps its file meta and first elements
# Transfer syntax, frame timing, ultrasound regions, image geometry and pixel format, pixel data
# and its first item (the basic offset table): mutations aim at these.
IMAGE_TAGS = [(0x0002, 0x0010), (0x0018, 0x1063), (0x0018, 0x1065), (0x0018, 0x6011),
              (0x0028, 0x0002), (0x0028, 0x0004), (0x0028, 0x0008), (0x0028, 0x0010),
              (0x0028, 0x0011), (0x0028, 0x0100), (0x0028, 0x0101), (0x0028, 0x1201),
              (0x7FE0, 0x0010), (0xFFFE, 0xE000)]

COLOUR_CINE = "color3d_jpeg_baseline.dcm"
PYDICOM_DATA_SEEDS = ["OBXXXX1A_rle.dcm", "US1_J2KR.dcm", "JPGLosslessP14SV1_1s_1f_8b.dcm",
                      "OBXXXX1A_expb_2frame.dcm", "gdcm-US-ALOKA-16.dcm"]
# Inputs this fuzzing found that killed the interpreter inside gdcm, which pydicom falls back on
# when OpenCV cannot decode a JPEG frame (and which alone decodes JPEG Lossless here); the loader
# now refuses them by their headers or decodes them in its worker process.
NATIVE_CRASHERS = {
    "sof-precision-segv": (BUNDLED_SAMPLE, [("flip", 14918, 71)]),  # 2nd frame's SOF: 8 → 79 bits
    "app0-abort": (BUNDLED_SAMPLE, [("overwrite", 1360, b"j\x9e<\x00\xff\xff|\xff")]),
    "dqt-abort": (BUNDLED_SAMPLE, [("overwrite", 123751, b"\xff\xff\xff\xff\x00")]),
    "lossless-shifted-abort": ("JPGLosslessP14SV1_1s_1f_8b.dcm", [("delete", 2463, 1)]),
}
CHILD = ("import sys\nfrom echoviewer.io import CineLoadError, load_cine\n"
         "try:\n    load_cine(sys.argv[1])\nexcept CineLoadError:\n    pass\n")
GENERATED_SEEDS = ["mjpg.avi", "frames.npy", "cine.npz"]
SUFFIXES = [".dcm", ".avi", ".npy", ".npz", ""]
MAGICS = {  # what goes before the random bytes; "dicm" means a 128-byte preamble then b"DICM"
    "none": b"", "dicm": b"", "riff-avi": b"RIFF\x00\x10\x00\x00AVI LIST",
    "numpy": b"\x93NUMPY\x01\x00", "zip": b"PK\x03\x04", "mp4": b"\x00\x00\x00\x18ftypmp42",
}

FUZZ = settings(deadline=timedelta(seconds=20), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

Mutation = tuple[str, int, int | bytes]


def dicom_seed(name: str) -> Path:
    return SAMPLES / name if name == BUNDLED_SAMPLE else pydicom_data_dir() / name


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


@functools.cache
def hot_spots(data: bytes) -> list[int]:
    """Where the elements that describe the image start (first match, either byte order)."""
    found = (data.find(struct.pack(order, group, element))
             for group, element in IMAGE_TAGS for order in ("<HH", ">HH"))
    return sorted({offset for offset in found if offset >= 0})


def spread(start: int, end: int) -> st.SearchStrategy[int]:
    """Offsets spread evenly over [start, end) (Hypothesis draws small integers far more often)."""
    fractions = st.floats(0, 1, exclude_max=True)
    return fractions.map(lambda fraction: start + int(fraction * (end - start)))


def anywhere(data: bytes) -> st.SearchStrategy[int]:
    """Offsets near an image-describing element, in the first 4 KB, or anywhere in the file."""
    size = len(data)
    near = st.builds(lambda spot, delta: min(spot + delta, size - 1),
                     st.sampled_from(hot_spots(data) or [0]), st.integers(0, 11))
    return st.one_of(near, st.integers(0, min(HEADER_BYTES, size) - 1), spread(0, size))


@st.composite
def mutations(draw: st.DrawFn, size: int, offset: st.SearchStrategy[int],
              resize: bool = True) -> list[Mutation]:
    """Byte flips and overwrites, insertions and deletions when ``resize``; then, one time in
    four, a truncation."""
    operations = [st.tuples(st.just("flip"), offset, st.integers(1, 255)),
                  st.tuples(st.just("overwrite"), offset, st.binary(min_size=1, max_size=8))]
    if resize:
        operations += [st.tuples(st.just("insert"), offset, st.binary(min_size=1, max_size=16)),
                       st.tuples(st.just("delete"), offset, st.integers(1, 16))]
    changes = draw(st.lists(st.one_of(operations), min_size=1, max_size=4))
    if draw(st.integers(0, 3)) == 3:
        changes.append(("truncate", draw(spread(1, size)), 0))
    return changes


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


def fuzz_seed(seed: Path, out: Path, data: st.DataObject,
              offset: st.SearchStrategy[int] | None = None, resize: bool = True) -> None:
    """Write a mutated copy of ``seed`` to ``out`` (same suffix) and check the property on it."""
    original = read_seed(seed)
    offset = anywhere(original) if offset is None else offset
    changes = data.draw(mutations(len(original), offset, resize), label="mutations")
    out.write_bytes(mutate(original, changes))
    assert_cine_or_clean_error(out)


@pytest.mark.slow
@settings(FUZZ, max_examples=60)
@given(data=st.data())
def test_mutated_jpeg_baseline_cine(workdir: Path, data: st.DataObject) -> None:
    """The 6 MB, 120-frame JPEG Baseline colour cine that takes the OpenCV fast path."""
    fuzz_seed(pydicom_data_dir() / COLOUR_CINE, workdir / f"mutant-{COLOUR_CINE}", data)


@pytest.mark.slow
@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_mutated_jpeg_baseline_cine_pixel_data(workdir: Path, data: st.DataObject) -> None:
    """A few bytes changed inside its encapsulated frames (from the first item on: the basic
    offset table, the fragments and their item tags), so damaged JPEG streams get decoded."""
    seed = pydicom_data_dir() / COLOUR_CINE
    original = read_seed(seed)
    first_item = original.index(struct.pack("<HH", 0x7FE0, 0x0010)) + 12  # tag, VR, 0, length
    fuzz_seed(seed, workdir / f"mutant-pixels-{COLOUR_CINE}", data,
              spread(first_item, len(original)), resize=False)


@pytest.mark.parametrize("name", [*PYDICOM_DATA_SEEDS, BUNDLED_SAMPLE])
@settings(FUZZ, max_examples=40)
@given(data=st.data())
def test_mutated_dicom(workdir: Path, name: str, data: st.DataObject) -> None:
    fuzz_seed(dicom_seed(name), workdir / f"mutant-{name}", data)


@pytest.mark.parametrize("name", GENERATED_SEEDS)
@settings(FUZZ, max_examples=50)
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


@pytest.mark.parametrize("case", sorted(NATIVE_CRASHERS))
def test_native_decoder_crashers(workdir: Path, case: str) -> None:
    """Known inputs that crashed a native decoder: loaded in a child process first, so a crash
    fails this test instead of killing the test run."""
    name, changes = NATIVE_CRASHERS[case]
    path = workdir / f"crasher-{case}{Path(name).suffix}"
    path.write_bytes(mutate(read_seed(dicom_seed(name)), changes))
    child = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True,
                           text=True, timeout=60)
    status = (signal.Signals(-child.returncode).name if child.returncode < 0
              else f"exit status {child.returncode}")
    assert child.returncode == 0, f"load_cine died ({status}): {child.stderr.strip()[-200:]!r}"
    assert_cine_or_clean_error(path)
