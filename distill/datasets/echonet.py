"""Read (and write the index files of) EchoNet-style video folders.

Four layouts are accepted, told apart by what is on disk:

* EchoNet-Dynamic: ``FileList.csv``, ``Videos/<FileName>.avi``, optional ``VolumeTracings.csv``;
* EchoNet-Synthetic: the same under ``dynamic/`` (the root may be ``dynamic/`` or its parent);
  its FileList holds an integer EF, ESV = EDV = 0 (read as unknown) and FPS = 32 although the
  containers say 30;
* our simulator's folders: EchoNet-Dynamic plus ``Masks/<FileName>.npz`` ground truth;
* a plain folder of ``.avi`` files (in the root or in ``Videos/``), split by a hash of the name,
  with an optional ``VolumeTracings.csv`` in the root.

Frame size and count always come from the video file: real FileLists carry wrong geometry
(768×1024 rows; EchoNet-Synthetic's FrameHeight = 192 and NumberOfFrames = batch size). Files are
parsed with the csv module and NumPy without pickles; nothing in them is ever executed.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from distill.datasets.npz import load_npz
from distill.datasets.tracings import tracing_area
from echoviewer.io import load_cine
from echoviewer.io.atomic import atomic_output
from echoviewer.io.errors import CineLoadError
from echoviewer.run_contract import HASH_BUCKETS, SPLITS as SPLITS  # SPLITS: distill.datasets' name too

FILELIST_COLUMNS = ("FileName", "EF", "ESV", "EDV", "FrameHeight", "FrameWidth", "FPS",
                    "NumberOfFrames", "Split")
TRACING_COLUMNS = ("FileName", "X1", "Y1", "X2", "Y2", "Frame")
ROWS_PER_TRACE = 21  # the long axis and 20 chords
_MASK_KEYS = ("masks", "ed_frames", "es_frames", "ef", "cm_per_px", "fps", "params_json")


@dataclass(frozen=True)
class VideoRecord:
    """One video of the folder. Numbers the FileList lacks or garbles are None."""

    name: str  # FileName without ".avi"
    path: Path
    split: str  # upper case: TRAIN, VAL, TEST (EchoNet-Synthetic also has EXTRA)
    ef: float | None  # %
    esv: float | None  # mL
    edv: float | None  # mL
    fps: float | None  # the FileList's rate, not the container's


@dataclass(frozen=True)
class TracedFrames:
    """The two traced frames of a video; ED is the one with the larger traced area."""

    ed_frame: int
    ed_rows: np.ndarray  # (K, 4) X1, Y1, X2, Y2; K = 21 for a complete trace
    es_frame: int
    es_rows: np.ndarray


@dataclass(frozen=True)
class TruthMasks:
    """Our simulator's ground truth for one video (``Masks/<name>.npz``)."""

    masks: np.ndarray  # (T, H, W) bool
    ed_frames: np.ndarray  # int
    es_frames: np.ndarray  # int
    ef: float
    cm_per_px: float
    fps: float
    params: dict
    landmarks: np.ndarray | None = None  # (T, 3, 2) pixel (x, y): apex, septal and lateral mitral hinge


def _stem(file_name: str) -> str:
    """A FileName without surrounding blanks and without a trailing ``.avi`` (any case)."""
    name = file_name.strip()
    return name[:-4] if name.lower().endswith(".avi") else name


# A traced coordinate beyond this many pixels is no image's: its row is unreadable (an area of
# such points overflows to infinity).
MAX_COORDINATE = 1e5


def _number(text: str | None) -> float | None:
    try:
        value = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _positive(text: str | None) -> float | None:
    value = _number(text)
    return value if value is not None and value > 0 else None


def hash_split(name: str) -> str:
    """A stable TRAIN / VAL / TEST split from a hash of the video name (``run_contract.HASH_BUCKETS``)."""
    return HASH_BUCKETS[hashlib.sha256(name.encode()).digest()[0] % len(HASH_BUCKETS)]


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV file as dicts; ValueError naming the file when a required column is absent."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = [column.strip() for column in reader.fieldnames or ()]
            lacking = [column for column in required if column not in header]
            if lacking:
                raise ValueError(f"{path}: no {', '.join(lacking)} column (header: "
                                 f"{','.join(header) or 'empty'}); expected {','.join(required)}")
            reader.fieldnames = header
            return list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: not a readable CSV file ({exc})") from exc


def find_root(root: Path) -> tuple[Path, str]:
    """The folder holding FileList.csv (EchoNet layouts) or the videos (plain), and the layout."""
    for candidate in (root, root / "dynamic"):
        if (candidate / "FileList.csv").is_file():
            return candidate, "echonet"
    return root, "plain"


def _videos_in(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {path.stem: path for path in sorted(folder.iterdir())  # hidden: an unfinished write
            if path.suffix.lower() == ".avi" and not path.name.startswith(".") and path.is_file()}


class EchoNetFolder:
    """An EchoNet-style folder: its videos in FileList order, their splits and their labels."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        """Index the folder. FileNotFoundError or ValueError with a one-line message if unusable."""
        given = Path(root)
        if not given.is_dir():
            raise FileNotFoundError(f"{given}: no such folder; give the dataset folder (the one "
                                    "holding FileList.csv and Videos/, or the .avi files)")
        self.root, self.layout = find_root(given)
        self.videos_dir = self.root / "Videos"
        on_disk = _videos_in(self.videos_dir)
        if not on_disk and (beside := _videos_in(self.root)):
            self.videos_dir, on_disk = self.root, beside
        self.missing: list[str] = []
        self.records: list[VideoRecord]
        if self.layout == "echonet":
            self.records = self._listed(on_disk)
        else:
            self.records = [VideoRecord(name, path, hash_split(name), None, None, None, None)
                            for name, path in on_disk.items()]
        if not self.records:
            raise FileNotFoundError(self._nothing_found())

    def _listed(self, on_disk: dict[str, Path]) -> list[VideoRecord]:
        records, seen = [], set()
        for row in _read_csv(self.root / "FileList.csv", ("FileName",)):
            name = _stem(row.get("FileName") or "")
            if not name or name in seen:
                continue
            seen.add(name)
            if name not in on_disk:
                self.missing.append(name)
                continue
            split = (row.get("Split") or "").strip().upper() or hash_split(name)
            records.append(VideoRecord(name, on_disk[name], split, _number(row.get("EF")),
                                       _positive(row.get("ESV")), _positive(row.get("EDV")),
                                       _positive(row.get("FPS"))))
        return records

    def _nothing_found(self) -> str:
        if self.layout == "plain":
            return (f"no videos found in {self.root}: expected Videos/*.avi and FileList.csv "
                    "(EchoNet-Dynamic layout) or .avi files")
        if self.missing:
            return (f"none of the {len(self.missing)} videos listed in {self.root / 'FileList.csv'} "
                    f"is in {self.videos_dir}; copy the .avi files there")
        return f"{self.root / 'FileList.csv'} lists no videos; add rows or remove the file"

    def split(self, name: str) -> list[VideoRecord]:
        """The records of one split (TRAIN, VAL, TEST, ...; any case), of several (``TRAIN,VAL``),
        or every record for ``all``."""
        wanted = {part.strip().upper() for part in name.split(",")}
        return [record for record in self.records if "ALL" in wanted or record.split in wanted]

    @cached_property
    def _tracings(self) -> dict[str, dict[int, list[list[float]]]]:
        """VolumeTracings.csv grouped by video then frame, rows in file order (read once)."""
        path = self.root / "VolumeTracings.csv"  # also beside a plain folder's videos
        if not path.is_file():
            return {}
        traces: dict[str, dict[int, list[list[float]]]] = {}
        for row in _read_csv(path, TRACING_COLUMNS):
            frame = _number(row.get("Frame"))
            if frame is None or frame < 0 or frame != int(frame):
                continue
            point = [math.nan if (value := _number(row.get(column))) is None or abs(value) > MAX_COORDINATE
                     else value for column in TRACING_COLUMNS[1:5]]
            by_frame = traces.setdefault(_stem(row.get("FileName") or ""), {})
            by_frame.setdefault(int(frame), []).append(point)
        return traces

    def traced(self, name: str) -> TracedFrames | None:
        """The ED and ES tracings of a video, or None without two usable traced frames.

        ED is the frame with the larger traced area and ES the one with the smaller, whatever
        their order in the file. A frame with more than 21 rows (several annotators) keeps its
        first 21, the first annotator's; frames with fewer than 3 rows or unreadable numbers in
        the rows kept are ignored. With more than two traced frames the largest and the smallest
        are used.
        """
        usable = {}
        for frame, points in sorted(self._tracings.get(_stem(name), {}).items()):
            rows = np.array(points[:ROWS_PER_TRACE], dtype=np.float64)
            if len(rows) >= 3 and np.isfinite(rows).all():
                usable[frame] = rows
        if len(usable) < 2:
            return None
        areas = {frame: tracing_area(rows) for frame, rows in usable.items()}
        ed, es = max(areas, key=areas.__getitem__), min(areas, key=areas.__getitem__)
        if ed == es:  # equal areas: the earlier frame is taken as ED
            es = next(frame for frame in usable if frame != ed)
        return TracedFrames(ed, usable[ed], es, usable[es])

    def truth(self, name: str) -> TruthMasks | None:
        """Our simulator's ground truth ``Masks/<name>.npz``, or None when the file is absent."""
        path = self.root / "Masks" / f"{_stem(name)}.npz"
        if not path.is_file():
            return None
        data = load_npz(path)
        lacking = [key for key in _MASK_KEYS if key not in data]
        if lacking:
            raise ValueError(f"{path}: no {', '.join(lacking)} array; rewrite it with the simulator")
        if data["masks"].ndim != 3:
            raise ValueError(f"{path}: masks has shape {data['masks'].shape}; expected (T, H, W)")
        try:
            params = json.loads(str(data["params_json"]))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: params_json is not JSON ({exc})") from exc
        return TruthMasks(data["masks"].astype(bool), data["ed_frames"].astype(np.int64),
                          data["es_frames"].astype(np.int64), float(data["ef"]),
                          float(data["cm_per_px"]), float(data["fps"]), params,
                          data["landmarks"].astype(np.float64) if "landmarks" in data else None)

    def read_video(self, record: VideoRecord) -> tuple[np.ndarray, float]:
        """Grey uint8 frames (T, H, W) and the frame rate; raises :class:`CineLoadError`.

        The FileList's FPS wins over the container's when present: EchoNet-Synthetic's clips are
        generated at 32 fps but their containers say 30.
        """
        cine = load_cine(record.path)
        return cine.frames, record.fps if record.fps is not None else cine.timing.fps

    def read_videos(self, records: Iterable[VideoRecord], failed: dict[str, str],
                    after_each: Callable[[], None] | None = None) -> Iterator[tuple[VideoRecord, np.ndarray, float]]:
        """Each readable video's record, frames and rate, in order. One that cannot be read is put in
        ``failed`` (name → one-line reason) and skipped; ``after_each`` runs once per record, after
        the caller has handled it (a progress bar)."""
        for record in records:
            try:
                frames, fps = self.read_video(record)
            except CineLoadError as exc:
                failed[record.name] = str(exc)
            else:
                yield record, frames, fps
            if after_each is not None:
                after_each()


def _cell(value: object) -> str:
    """A CSV cell: '' for None, integers (and booleans) as integers, floats in at most 12 significant
    digits without trailing zeros (50.0 → '50', 59.2 → '59.2')."""
    if value is None:
        return ""
    if isinstance(value, (int, np.integer, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.12g}"
    return str(value)


def _write_csv(path: str | os.PathLike[str], columns: tuple[str, ...],
               rows: Iterable[Iterable[object]]) -> None:
    with atomic_output(path) as temporary, open(temporary, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_cell(value) for value in row] for row in rows)


def write_filelist(path: str | os.PathLike[str], rows: Iterable[Mapping[str, object]]) -> None:
    """Write an EchoNet ``FileList.csv`` atomically; missing columns are left empty.

    ValueError for a key outside :data:`FILELIST_COLUMNS`. FileName is written without ``.avi``.
    """
    def cells(row: Mapping[str, object]) -> list[object]:
        unknown = set(row) - set(FILELIST_COLUMNS)
        if unknown:
            raise ValueError(f"unknown FileList column(s) {sorted(unknown)}; "
                             f"expected some of {','.join(FILELIST_COLUMNS)}")
        values = [row.get(column) for column in FILELIST_COLUMNS]
        values[0] = _stem(str(values[0] or ""))
        return values

    _write_csv(path, FILELIST_COLUMNS, (cells(row) for row in rows))


def write_volume_tracings(path: str | os.PathLike[str],
                          items: Iterable[tuple[str, int, np.ndarray]]) -> None:
    """Write an EchoNet ``VolumeTracings.csv`` atomically from (FileName, frame, rows (K, 4)).

    FileName is written with ``.avi``, as EchoNet does.
    """
    _write_csv(path, TRACING_COLUMNS,
               ([f"{_stem(name)}.avi", *point, int(frame)]
                for name, frame, rows in items
                for point in np.asarray(rows, dtype=np.float64).reshape(-1, 4)))
