"""EchoNet-style dataset folders, VolumeTracings geometry and reproducible .npz files."""

from __future__ import annotations

import csv
import json
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from distill.datasets import (EchoNetFolder, hash_split, load_npz, mask_from_tracing, save_npz,
                              tracing_area, tracing_from_contour, write_filelist,
                              write_volume_tracings)

SHAPE = (112, 112)


# --- helpers -----------------------------------------------------------------------------------

def write_avi(path: Path, n_frames: int = 5, fps: float = 50) -> Path:
    """A tiny MJPEG AVI, grey content in 3 channels like EchoNet's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, SHAPE[::-1])
    for t in range(n_frames):
        frame = np.full((*SHAPE, 3), 30, np.uint8)
        cv2.circle(frame, (40 + 4 * t, 56), 14, (200, 200, 200), -1)
        writer.write(frame)
    writer.release()
    return path


def write_rows(path: Path, header: list[str], rows: list[list[object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def rect_tracing(left: float, right: float, top: float, bottom: float, n: int = 20) -> np.ndarray:
    """A vertical-axis tracing of a rectangle: long axis then n horizontal chords."""
    rows = np.empty((n + 1, 4))
    rows[0] = ((left + right) / 2, top, (left + right) / 2, bottom)
    ys = np.linspace(top, bottom, n)
    rows[1:] = np.stack([np.full(n, left), ys, np.full(n, right), ys], axis=1)
    return rows


def bullet(width: float, length: float, angle_deg: float):
    """An LV-like contour (round apex, slightly flaring walls), rotated about the image centre.

    Returns (contour, apex, (annulus left, annulus right)).
    """
    half, cap = width / 2, 0.55 * length
    wall_y = np.linspace(length, cap, 24)
    flare = 1 + 0.1 * (wall_y - cap) / (length - cap)
    arc = np.linspace(np.pi, 0, 40)[1:-1]
    contour = np.concatenate([np.stack([-half * flare, wall_y], 1),
                              np.stack([half * np.cos(arc), cap * (1 - np.sin(arc))], 1),
                              np.stack([half * flare, wall_y], 1)[::-1]])
    theta = np.deg2rad(angle_deg)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    place = lambda points: points @ rotation.T + (56.0, 56.0 - length / 2)  # noqa: E731
    return place(contour), place(np.zeros(2)), (place(contour[0]), place(contour[-1]))


def filled(contour: np.ndarray) -> np.ndarray:
    """Reference mask: pixel centres inside or on the exact (unrounded) contour."""
    contour = contour.astype(np.float32)
    return np.array([[cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0
                      for x in range(SHAPE[1])] for y in range(SHAPE[0])])


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


# --- npz ---------------------------------------------------------------------------------------

ARRAYS = {"masks": (np.arange(2 * 8 * 8).reshape(2, 8, 8) % 2).astype(np.uint8),
          "ef": np.float64(57.5), "ed_frames": np.array([0, 9], np.int32),
          "params_json": np.array(json.dumps({"seed": 3}))}


def test_npz_is_byte_identical_across_writes_and_loads_back(tmp_path, monkeypatch) -> None:
    first = save_npz(tmp_path / "a.npz", ARRAYS)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 86_400 * 400)  # a later day
    second = save_npz(tmp_path / "b.npz", ARRAYS)
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
    for path in (first, save_npz(tmp_path / "c.npz", ARRAYS, compress=False)):
        loaded = load_npz(path)
        assert loaded.keys() == ARRAYS.keys()
        for key, value in ARRAYS.items():
            np.testing.assert_array_equal(loaded[key], value)
            assert loaded[key].dtype == np.asarray(value).dtype
    assert (tmp_path / "c.npz").stat().st_size > first.stat().st_size


@pytest.mark.parametrize("failure", ["object array", "interrupt"])
def test_npz_write_is_atomic(tmp_path, monkeypatch, failure) -> None:
    target = save_npz(tmp_path / "keep.npz", {"a": np.ones(3)})
    before = target.read_bytes()
    if failure == "interrupt":
        def interrupted(*args, **kwargs):
            raise KeyboardInterrupt
        monkeypatch.setattr(np.lib.format, "write_array", interrupted)
        with pytest.raises(KeyboardInterrupt):
            save_npz(target, {"a": np.zeros(3)})
    else:
        with pytest.raises(ValueError):
            save_npz(target, {"a": np.zeros(3), "b": np.array([{"x": 1}], dtype=object)})
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.npz"]


def test_load_npz_refuses_what_is_not_a_plain_npz(tmp_path) -> None:
    np.save(tmp_path / "array.npy", np.ones(3))
    (tmp_path / "array.npy").rename(tmp_path / "npy_inside.npz")
    (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.savez(tmp_path / "pickled.npz", a=np.array([{"x": 1}], dtype=object))
    for name in ("npy_inside.npz", "garbage.npz", "pickled.npz"):
        with pytest.raises(ValueError, match=name) as caught:
            load_npz(tmp_path / name)
        assert "\n" not in str(caught.value)
    with pytest.raises(FileNotFoundError):
        load_npz(tmp_path / "absent.npz")


# --- tracings ----------------------------------------------------------------------------------

@pytest.mark.parametrize("width, length", [(36, 80), (24, 56)])
@pytest.mark.parametrize("angle", [-20, 0, 20])
def test_tracing_round_trip_reproduces_the_contour(width, length, angle) -> None:
    contour, apex, annulus = bullet(width, length, angle)
    rows = tracing_from_contour(contour, apex, annulus)
    assert rows.shape == (21, 4) and rows.dtype == np.float64
    np.testing.assert_allclose(rows[0], [*apex, *np.mean(annulus, axis=0)])
    np.testing.assert_allclose(rows[-1], [*annulus[0], *annulus[1]], atol=1e-6)  # on the annulus
    assert dice(mask_from_tracing(rows, SHAPE), filled(contour)) >= 0.93
    x, y = contour.T
    polygon_area = abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2
    assert 0.93 * polygon_area < tracing_area(rows) <= polygon_area


def test_chords_run_left_to_right_and_reach_the_outermost_wall() -> None:
    # The left wall folds back on itself: the chord at y = 54 crosses it at x = 40, 44 and 50.
    contour = np.array([(40, 90), (40, 50), (50, 60), (50, 40), (48, 20), (55, 10), (62, 20),
                        (70, 40), (70, 90)], float)
    rows = tracing_from_contour(contour, (55, 10), ((40, 90), (70, 90)))
    chords = rows[1:]
    np.testing.assert_allclose(chords[:, 1], 10 + 4 * np.arange(1, 21))  # k/20 of the long axis
    np.testing.assert_allclose(chords[:, 3], chords[:, 1])  # perpendicular to the vertical axis
    assert np.all(chords[:, 0] < chords[:, 2])
    np.testing.assert_allclose(chords[10], (40, 54, 70, 54))
    # A side the contour never reaches ends on the long axis.
    right_only = np.array([(60, 20), (70, 20), (70, 90), (60, 90)], float)
    rows = tracing_from_contour(right_only, (55, 10), ((50, 90), (60, 90)))
    np.testing.assert_allclose(rows[3:, 0], 55)
    np.testing.assert_allclose(rows[3:, 2], 70)


def test_mask_follows_echonets_rule_exactly() -> None:
    """Rounded vertices, pixel centres inside or on the polygon; the long-axis row is ignored."""
    rng = np.random.default_rng(0)
    rows = rng.uniform(10, 100, (21, 4))
    rows[0] = (0, 0, 111, 111)  # a long axis that would matter if it were included
    outline = np.rint(np.concatenate([rows[1:, :2], rows[:0:-1, 2:]])).astype(np.float32)
    expected = np.array([[cv2.pointPolygonTest(outline, (float(x), float(y)), False) >= 0
                          for x in range(SHAPE[1])] for y in range(SHAPE[0])])
    np.testing.assert_array_equal(mask_from_tracing(rows, SHAPE), expected)
    square = rect_tracing(10, 20, 30, 40)
    assert tracing_area(square) == pytest.approx(100)
    assert mask_from_tracing(square, SHAPE).sum() == 11 * 11  # border pixel centres count
    assert not mask_from_tracing(square[:2], SHAPE).any()


# --- folders -----------------------------------------------------------------------------------

HEADER = ["FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS", "NumberOfFrames",
          "Split"]
TRACING_HEADER = ["FileName", "X1", "Y1", "X2", "Y2", "Frame"]


def tracing_rows(name: str, frame: int, rows: np.ndarray) -> list[list[object]]:
    return [[f"{name}.avi", *row, frame] for row in rows]


@pytest.fixture
def dynamic_folder(tmp_path) -> Path:
    """A real-EchoNet-Dynamic-like folder: no .avi in FileName, bad geometry, a missing video."""
    root = tmp_path / "EchoNet-Dynamic"
    write_avi(root / "Videos" / "0X1A.avi", 6, fps=50)
    write_avi(root / "Videos" / "0X2B.avi", 4, fps=50)
    write_avi(root / "Videos" / "0X3C.avi", 3, fps=50)
    write_rows(root / "FileList.csv", HEADER, [
        ["0X1A", "61.5", "30.1", "78.2", "112", "112", "50", "6", "TRAIN"],
        ["0X9Z", "55", "40", "89", "112", "112", "50", "120", "VAL"],  # not on disk
        ["0X2B", "n/a", "", "abc", "768", "1024", "50", "4", "val"],
        ["0X3C.avi", "40", "50", "83", "112", "112", "50", "3", "Test"],
    ])
    small, large = rect_tracing(50, 60, 40, 60), rect_tracing(40, 70, 30, 80)
    other_annotator = rect_tracing(0, 111, 0, 111)
    write_rows(root / "VolumeTracings.csv", TRACING_HEADER,
               tracing_rows("0X1A", 12, small) + tracing_rows("0X1A", 31, large)  # ES listed first
               + tracing_rows("0X1A", 31, other_annotator)  # a second annotator on ED
               + tracing_rows("0X2B", 40, large) + tracing_rows("0X2B", 9, small)  # ED first, later frame
               + tracing_rows("0X3C", 5, large)  # only one traced frame
               + [["0X3C.avi", "x", "1", "2", "3", "7"], ["0X3C.avi", "1", "2", "3", "4", "?"]])
    return root


def test_echonet_dynamic_folder(dynamic_folder) -> None:
    folder = EchoNetFolder(dynamic_folder)
    assert folder.layout == "echonet" and folder.root == dynamic_folder
    assert folder.videos_dir == dynamic_folder / "Videos"
    assert [r.name for r in folder.records] == ["0X1A", "0X2B", "0X3C"]  # FileList order
    assert folder.missing == ["0X9Z"]
    first, second, third = folder.records
    assert (first.split, first.ef, first.esv, first.edv, first.fps) == ("TRAIN", 61.5, 30.1, 78.2, 50)
    assert (second.ef, second.esv, second.edv) == (None, None, None)  # unparsable, not a crash
    assert [r.name for r in folder.split("VAL")] == ["0X2B"]
    assert [r.name for r in folder.split("test")] == ["0X3C"]
    assert third.path == dynamic_folder / "Videos" / "0X3C.avi"
    frames, fps = folder.read_video(second)  # FileList says 768×1024: the file says 112×112
    assert frames.shape == (4, *SHAPE) and frames.dtype == np.uint8 and fps == 50


def test_larger_traced_area_is_ed_whatever_the_row_order(dynamic_folder) -> None:
    folder = EchoNetFolder(dynamic_folder)
    for name, ed, es in (("0X1A", 31, 12), ("0X2B.avi", 40, 9)):
        traced = folder.traced(name)
        assert (traced.ed_frame, traced.es_frame) == (ed, es)
        assert traced.ed_rows.shape == traced.es_rows.shape == (21, 4)
        assert tracing_area(traced.ed_rows) > tracing_area(traced.es_rows)
    np.testing.assert_array_equal(folder.traced("0X1A").ed_rows, rect_tracing(40, 70, 30, 80))
    assert folder.traced("0X3C") is None  # one traced frame (plus rows that cannot be used)
    assert folder.traced("unknown") is None
    assert folder.truth("0X1A") is None


def write_synthetic(parent: Path, n_videos: int = 3) -> Path:
    """EchoNet-Synthetic: dynamic/ subfolder, integer EF, ESV=EDV=0, FPS 32 (container 30) and the
    geometry bug (FrameHeight 192, NumberOfFrames = batch size)."""
    dynamic = parent / "dynamic"
    rows = []
    for i in range(n_videos):
        name = f"sample_{i:06d}"
        write_avi(dynamic / "Videos" / f"{name}.avi", 6 + i, fps=30)
        rows.append([name, str(20 + 30 * i), "0", "0", "192", "112", "32", "4", ["TRAIN", "VAL", "TEST"][i]])
    write_rows(dynamic / "FileList.csv", HEADER, rows)
    return dynamic


def test_echonet_synthetic_folder_from_parent_or_dynamic(tmp_path) -> None:
    dynamic = write_synthetic(tmp_path / "EchoNet-Synthetic")
    for given in (dynamic.parent, dynamic):
        folder = EchoNetFolder(given)
        assert folder.root == dynamic and folder.layout == "echonet" and folder.missing == []
        record = folder.records[1]
        assert (record.name, record.split, record.ef, record.esv, record.edv, record.fps) == \
            ("sample_000001", "VAL", 50.0, None, None, 32.0)
        frames, fps = folder.read_video(record)
        assert frames.shape == (7, *SHAPE)  # not 4 frames of 192×112
        assert fps == 32.0  # the generation rate, not the container's 30
        assert folder.traced(record.name) is None


def test_simulator_folder_written_with_our_writers(tmp_path) -> None:
    root = tmp_path / "sim"
    write_avi(root / "Videos" / "sim_0001.avi", 6, fps=40)
    write_avi(root / "Videos" / "sim_0002.avi", 6, fps=40)
    write_filelist(root / "FileList.csv", [
        {"FileName": "sim_0001.avi", "EF": 62.123456789012345, "ESV": 30.0, "EDV": 79.25, "FPS": 40.0,
         "FrameHeight": 112, "FrameWidth": 112, "NumberOfFrames": np.int64(6), "Split": "TRAIN"},
        {"FileName": "sim_0002", "EF": None, "Split": "TEST"},
    ])
    assert (root / "FileList.csv").read_text().splitlines() == [
        ",".join(HEADER), "sim_0001,62.123456789,30,79.25,112,112,40,6,TRAIN", "sim_0002,,,,,,,,TEST"]
    with pytest.raises(ValueError, match="Age"):
        write_filelist(root / "FileList.csv", [{"FileName": "x", "Age": 50}])
    ed, es = rect_tracing(40, 70, 30, 80), rect_tracing(50, 60, 40, 60)
    write_volume_tracings(root / "VolumeTracings.csv", [("sim_0001", 4, es), ("sim_0001", 0, ed)])
    assert (root / "VolumeTracings.csv").read_text().splitlines()[1].startswith("sim_0001.avi,55,40,55,60,4")
    masks = np.zeros((6, *SHAPE), np.uint8)
    masks[:, 40:60, 50:70] = 1
    (root / "Masks").mkdir()
    save_npz(root / "Masks" / "sim_0001.npz", {
        "masks": masks, "ed_frames": np.array([0], np.int32), "es_frames": np.array([4], np.int32),
        "ef": np.float64(62.1), "cm_per_px": np.float64(0.08), "fps": np.float64(40),
        "params_json": np.array(json.dumps({"seed": 7, "hr_bpm": 70}))})
    assert [p.name for p in root.rglob("*partial*")] == []

    folder = EchoNetFolder(root)
    assert [(r.name, r.split, r.ef) for r in folder.records] == \
        [("sim_0001", "TRAIN", 62.123456789), ("sim_0002", "TEST", None)]
    traced = folder.traced("sim_0001")
    assert (traced.ed_frame, traced.es_frame) == (0, 4)
    np.testing.assert_allclose(traced.ed_rows, ed)
    truth = folder.truth("sim_0001")
    assert truth.masks.dtype == bool and truth.masks.shape == (6, *SHAPE) and truth.masks.sum() == 6 * 400
    assert truth.ed_frames.tolist() == [0] and truth.es_frames.tolist() == [4]
    assert (truth.ef, truth.cm_per_px, truth.fps, truth.params) == (62.1, 0.08, 40.0, {"seed": 7, "hr_bpm": 70})
    assert folder.truth("sim_0002") is None
    (root / "Masks" / "sim_0002.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="sim_0002.npz"):
        folder.truth("sim_0002")


@pytest.mark.parametrize("subfolder", ["", "Videos"])
def test_plain_folder_of_avi_files(tmp_path, subfolder) -> None:
    for name in ("b_clip", "a_clip", "c_clip"):
        write_avi(tmp_path / subfolder / f"{name}.avi", 3, fps=25)
    (tmp_path / "notes.txt").write_text("not a video")
    folder = EchoNetFolder(tmp_path)
    assert folder.layout == "plain" and folder.videos_dir == tmp_path / subfolder
    assert [r.name for r in folder.records] == ["a_clip", "b_clip", "c_clip"]
    assert all(r.split == hash_split(r.name) and r.ef is None for r in folder.records)
    frames, fps = folder.read_video(folder.records[0])
    assert frames.shape == (3, *SHAPE) and fps == pytest.approx(25)


def test_hash_split_is_stable_and_about_75_12_12() -> None:
    splits = [hash_split(f"video_{i}") for i in range(4000)]
    assert splits == [hash_split(f"video_{i}") for i in range(4000)]
    shares = {name: splits.count(name) / len(splits) for name in ("TRAIN", "VAL", "TEST")}
    assert abs(shares["TRAIN"] - 0.75) < 0.03
    assert abs(shares["VAL"] - 0.125) < 0.02 and abs(shares["TEST"] - 0.125) < 0.02


def test_unusable_folders_give_one_line_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no such folder"):
        EchoNetFolder(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match="no videos found in .*FileList.csv"):
        EchoNetFolder(tmp_path)
    write_avi(tmp_path / "Videos" / "0X1A.avi", 2)
    write_rows(tmp_path / "FileList.csv", ["Name", "EF", "Split"], [["0X1A", "50", "TRAIN"]])
    with pytest.raises(ValueError, match="no FileName column") as caught:
        EchoNetFolder(tmp_path)
    assert "\n" not in str(caught.value)
    write_rows(tmp_path / "FileList.csv", HEADER, [["0X7Q", "50", "", "", "", "", "", "", "TRAIN"]])
    with pytest.raises(FileNotFoundError, match="none of the 1 videos"):
        EchoNetFolder(tmp_path)
    (tmp_path / "FileList.csv").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ValueError, match="FileList.csv"):
        EchoNetFolder(tmp_path)


def test_an_unfinished_hidden_video_is_not_a_record(tmp_path) -> None:
    videos = tmp_path / "Videos"
    videos.mkdir()
    for name in ("a.avi", ".a.avi.123.partial.avi"):
        write_avi(videos / name, 3)
    assert [record.name for record in EchoNetFolder(tmp_path).records] == ["a"]


def test_a_coordinate_no_image_has_makes_its_frame_unusable_not_infinite(tmp_path, recwarn) -> None:
    """bench/mutate.py: a coordinate of 1e308 overflowed the traced area to inf, with a NumPy
    warning on stderr, and that frame was taken as ED."""
    root = tmp_path / "EchoNet-Dynamic"
    write_avi(root / "Videos" / "0X1A.avi", 6, fps=50)
    write_rows(root / "FileList.csv", HEADER, [["0X1A", "61.5", "30.1", "78.2", "112", "112", "50", "6", "TRAIN"]])
    absurd = rect_tracing(40, 70, 30, 80)
    absurd[3, 0] = 1e308
    write_rows(root / "VolumeTracings.csv", TRACING_HEADER,
               tracing_rows("0X1A", 12, rect_tracing(50, 60, 40, 60)) + tracing_rows("0X1A", 31, absurd)
               + tracing_rows("0X1A", 20, rect_tracing(45, 65, 35, 70)))
    traced = EchoNetFolder(root).traced("0X1A")
    assert (traced.ed_frame, traced.es_frame) == (20, 12)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
