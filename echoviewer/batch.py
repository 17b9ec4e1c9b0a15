"""Analyses of many cines, in this process or on Dask workers, into a resumable output folder.

A :class:`Job` names one cine (a path the worker can read) and the model SPEC, never pixels;
:func:`run_job` loads the cine on the worker (the model once per worker process, cached by
:func:`load_model`), analyses it and returns a small :class:`Done` (the result dict with its
provenance, the biplane :class:`ViewDisks`, where its masks went) or :class:`Failed`.
:func:`outcomes` runs jobs in process (``client=None``) or on a ``dask.distributed`` client, as
they finish; :func:`open_client` makes that client (``--workers N``: a local cluster of N worker
processes; ``--cluster local`` or an address).

:class:`OutputFolder` (``--out DIR``) keeps the batch resumable and its outputs streaming:

- ``results/<key>.json``: one cine's result and disks, written atomically (fsync'd), then
- ``manifest.jsonl``: one line per finished cine (file, content and model sha256, its files),
  appended and fsync'd after its result; the last entry of a file wins and a damaged line is
  ignored, so an interrupted run never leaves a result that counts as done;
- ``results.jsonl``, ``frames.csv``, ``beats.csv``, ``failed.jsonl``: this run's tables, rewritten
  on every run and appended one cine at a time (the skipped cines' first, from their result files);
- ``masks/<key>.npz``: native boolean masks (``masks``), written by the worker;
- ``.analyze.lock``: held while a run writes the folder (a second run on it is refused); the
  temporaries a killed run left are removed when the next one starts.

The ``study`` of a stored or returned :class:`ViewDisks` is its salted key (it holds the
StudyInstanceUID otherwise): pairs by study still match, and no UID leaves the worker.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from echoviewer.analysis import CineAnalysis, ModelLoadError, analyze, load_model
from echoviewer.analysis.biplane import Biplane, PhaseDisks, ViewDisks, view_disks
from echoviewer.analysis.measurements import CM_UNITS, PX_UNITS
from echoviewer.analysis.onnx_model import OnnxModel, file_sha256
from echoviewer.analysis.provenance import provenance, pseudonym
from echoviewer.analysis.report import FRAME_COLUMNS, beat_columns, beat_rows, csv_writer, frame_rows
from echoviewer.io import CineLoadError, load_cine
from echoviewer.io.atomic import atomic_output, remove_temporaries
from echoviewer.io.folder_lock import folder_lock
from echoviewer.io.errors import one_line

if TYPE_CHECKING:
    from distributed import Client

LOCK = ".analyze.lock"  # held by the run writing an --out folder
MASKS_MEMBER = "masks.npy"  # the one array of a per-cine masks .npz (np.savez's name for masks=)
# Every unit set's per-beat columns: the streamed beats.csv's header is written before any result.
STREAM_BEAT_COLUMNS = tuple(dict.fromkeys(c for units in (CM_UNITS, PX_UNITS) for c in beat_columns(units)))


@dataclass(frozen=True)
class Job:
    """One cine to analyse, as a worker receives it."""

    path: str
    model: str  # a bundled name or an .onnx path the worker can read
    compare: str | None
    view: str | None  # the view --pair names, else the file's
    salt: str
    reader: str
    threads: int  # onnxruntime's intra-op threads (0: its default, every core)
    masks: str | None = None  # a folder for <key>.npz
    dicom_out: str | None = None  # a folder for the SEG and SR
    dicom_stem: str = ""

    @property
    def key(self) -> str:
        return cine_key(self.path)


@dataclass(frozen=True)
class Done:
    file: str
    sha256: str  # of the cine's file
    result: dict  # CineAnalysis.as_dict() + provenance
    views: ViewDisks | None  # a named view's disks, for biplane pairs
    masks: str | None  # the masks' .npz
    notes: tuple[str, ...] = ()  # one line each (a SEG/SR that could not be written)


@dataclass(frozen=True)
class Failed:
    file: str
    error: str  # one line


Outcome = Done | Failed


def cine_key(path: str | os.PathLike[str]) -> str:
    """The name of a cine's files in an output folder: its stem and a hash of its full path."""
    path = Path(path)
    return f"{path.stem}-{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"


def analysed(path: Path, view: str | None, model: OnnxModel, compare: OnnxModel | None) -> CineAnalysis:
    """The analysis of one cine; ``view``, the user's word for it, wins over the file's."""
    cine = load_cine(path)
    if view and cine.metadata.view != view:
        cine.metadata = replace(cine.metadata, view=view, view_source="--pair")
    return analyze(cine, model, compare=compare)


def write_dicom(analysis: CineAnalysis, out_dir: Path, stem: str, reader: str,
                biplane: Biplane | None = None) -> str | None:
    """SEG and SR of one cine; None, or the line saying why it cannot have them (not DICOM, no beat)."""
    from echoviewer.dicom_results import DicomResultsError, write_results  # highdicom only when asked

    try:
        write_results(analysis.cine.path, analysis, out_dir, stem=stem, biplane=biplane, reader=reader)
    except (DicomResultsError, OSError) as exc:
        return one_line(exc)
    return None


def run_job(job: Job) -> Outcome:
    """Analyse one cine (on a worker): the result, never the pixels. Whatever goes wrong with one
    cine (its file, the model at run time, a value no check foresaw) is that cine's failure, one
    line, and the batch goes on."""
    path = Path(job.path)
    try:
        return _run_job(job, path)
    except (CineLoadError, ModelLoadError) as exc:
        return Failed(job.path, str(exc))
    except OSError as exc:
        return Failed(job.path, one_line(f"{path}: {exc.strerror or exc}"))
    except Exception as exc:  # noqa: BLE001 - one cine's fault never ends the batch
        return Failed(job.path, one_line(f"{path}: could not be analysed ({type(exc).__name__}: {exc}); "
                                         "the other cines go on"))


def _run_job(job: Job, path: Path) -> Done:
    sha256 = file_sha256(path)
    analysis = analysed(path, job.view, load_model(job.model, job.threads),
                        load_model(job.compare, job.threads) if job.compare else None)
    result = {**analysis.as_dict(), "provenance": provenance(analysis, job.salt, job.reader)}
    views = None
    if analysis.cine.metadata.view:  # only a named view (the file's or --pair's) can pair
        disks = view_disks(analysis)
        views = replace(disks, study=pseudonym(disks.study, job.salt) or "")
    masks = None
    if job.masks is not None:
        masks = str(Path(job.masks) / f"{job.key}.npz")
        with atomic_output(masks, suffix=".npz") as temporary:
            np.savez_compressed(temporary, masks=analysis.native_masks())
    notes: tuple[str, ...] = ()
    if job.dicom_out is not None:
        note = write_dicom(analysis, Path(job.dicom_out), job.dicom_stem, job.reader)
        notes = (note,) if note else ()
    return Done(job.path, sha256, result, views, masks, notes)


def outcomes(jobs: Sequence[Job], client: Client | None) -> Iterator[Outcome]:
    """Each job's outcome as it finishes: in this process (``client`` None, in order) or on the
    client's workers; a worker lost or a task that raised is that cine's failure."""
    if client is None:
        for job in jobs:
            yield run_job(job)
        return
    from distributed import as_completed

    futures = client.map(run_job, jobs, pure=False)
    job_of = {future.key: job for future, job in zip(futures, jobs)}
    for future in as_completed(futures):
        job = job_of.pop(future.key)
        try:
            outcome = future.result()
        except Exception as exc:  # KilledWorker, a worker's crash: that cine's failure, not the batch's
            outcome = Failed(job.path, one_line(f"{job.path}: the worker failed: {type(exc).__name__}: {exc}"))
        future.release()  # the cluster forgets each result once it is here
        yield outcome


def intra_op_threads(workers: int) -> int:
    """onnxruntime's threads per worker when ``workers`` share this machine's cores."""
    return max(1, (os.cpu_count() or 1) // workers)


@contextmanager
def open_client(workers: int | None = None, cluster: str | None = None) -> Iterator[Client]:
    """A Dask client: ``workers`` local worker processes (one task each at a time), or ``cluster``
    (``local``: a local cluster as Dask sizes it; else a scheduler's address, e.g.
    ``tcp://host:8786``). Closed, with the local cluster, when the block ends."""
    import logging

    from distributed import Client, LocalCluster

    if cluster is not None and cluster != "local":
        with Client(cluster) as client:
            yield client
        return
    sizing: dict[str, Any] = {} if workers is None else {"n_workers": workers, "threads_per_worker": 1}
    with LocalCluster(processes=True, dashboard_address=None, silence_logs=logging.ERROR, **sizing) as local, \
            Client(local) as client:
        yield client


def _disks_record(views: ViewDisks) -> dict:
    def phase(disks: PhaseDisks | None) -> dict | None:
        return None if disks is None else {"frame": disks.frame, "diameters": disks.diameters.tolist(),
                                           "length": disks.length}
    return {"file": views.file, "view": views.view, "study": views.study, "calibrated": views.calibrated,
            "beats": [[phase(ed), phase(es)] for ed, es in views.beats], "heart_rates": list(views.heart_rates)}


def _disks(record: dict) -> ViewDisks:
    def phase(item: dict | None) -> PhaseDisks | None:
        return None if item is None else PhaseDisks(item["frame"], np.asarray(item["diameters"], float),
                                                    item["length"])
    return ViewDisks(record["file"], record["view"], record["study"], record["calibrated"],
                     tuple((phase(ed), phase(es)) for ed, es in record["beats"]), tuple(record["heart_rates"]))


def _append_line(out: IO[str], record: dict, durable: bool = False) -> None:
    out.write(json.dumps(record) + "\n")
    out.flush()
    if durable:
        os.fsync(out.fileno())


class OutputFolder:
    """``--out DIR``: the manifest of finished cines, their result files and this run's tables.

    Open it as a context manager; :meth:`valid` says whether a cine's last entry still holds
    (same file content and models, its files there and readable); :meth:`add` records a result
    (its files, then the manifest line) and appends it to the tables; :meth:`add_failure` lists
    a failure (not in the manifest: the next run retries it).
    """

    def __init__(self, root: Path, models: dict[str, str | None]) -> None:
        self.root = root
        self.models = models  # {"model_sha256", "compare_sha256"}: what a valid entry was made with
        self.masks = root / "masks"
        self._entries: dict[str, dict] = {}
        self._open: list[IO[str]] = []

    def __enter__(self) -> OutputFolder:
        """Lock the folder (raises :class:`~echoviewer.io.folder_lock.FolderBusy` while another
        run writes it), clear what a killed run was writing, read the manifest, open the tables."""
        (self.root / "results").mkdir(parents=True, exist_ok=True)
        self.masks.mkdir(exist_ok=True)
        self._stack = ExitStack()
        try:
            self._stack.enter_context(folder_lock(self.root, LOCK))
            self._open_tables()
        except BaseException:
            self._stack.close()
            raise
        return self

    def _open_tables(self) -> None:
        for folder in (self.root, self.root / "results", self.masks):
            remove_temporaries(folder)
        manifest = self.root / "manifest.jsonl"
        for line in manifest.read_text(encoding="utf-8", errors="replace").splitlines() if manifest.exists() else ():
            try:
                entry = json.loads(line)
                self._entries[entry["key"]] = entry
            except (ValueError, TypeError, KeyError):  # a line cut short by a kill, or damaged
                continue
        self._manifest = self._text("manifest.jsonl", "a")
        if manifest.stat().st_size and not manifest.read_bytes().endswith(b"\n"):
            self._manifest.write("\n")  # end the cut line, so the next entry starts a line of its own
        self._results, self._failed = self._text("results.jsonl", "w"), self._text("failed.jsonl", "w")
        self._frames = csv_writer(self._text("frames.csv", "w"), FRAME_COLUMNS)
        self._beats = csv_writer(self._text("beats.csv", "w"), STREAM_BEAT_COLUMNS)
        self._frames.writeheader()
        self._beats.writeheader()

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _text(self, name: str, mode: str) -> IO[str]:
        out = self._stack.enter_context(open(self.root / name, mode, newline="", encoding="utf-8"))
        self._open.append(out)
        return out

    def valid(self, path: Path, masks: bool) -> Done | None:
        """The stored result of ``path`` when its entry still holds, else None (to analyse again)."""
        entry = self._entries.get(cine_key(path))
        if entry is None or any(entry.get(name) != sha for name, sha in self.models.items()):
            return None
        if masks and not (entry.get("masks") and (self.root / entry["masks"]).is_file()):
            return None
        try:
            if file_sha256(path) != entry["sha256"]:
                return None
            record = json.loads((self.root / entry["result"]).read_text(encoding="utf-8"))
            views = None if record["views"] is None else _disks(record["views"])
            result = record["result"]
            if not isinstance(result, dict) or not isinstance(result.get("file"), str):
                return None
        except (OSError, ValueError, TypeError, KeyError):
            return None
        return Done(result["file"], entry["sha256"], result, views,
                    str(self.root / entry["masks"]) if entry.get("masks") else None)

    def add(self, done: Done, stored: bool = False) -> None:
        """Record ``done`` (unless ``stored``: a valid result of an earlier run) and stream it out."""
        if not stored:
            key = cine_key(done.file)
            result_file = Path("results") / f"{key}.json"
            record = {"result": done.result, "views": None if done.views is None else _disks_record(done.views)}
            with atomic_output(self.root / result_file) as temporary, open(temporary, "w", encoding="utf-8") as stored_file:
                json.dump(record, stored_file)
                stored_file.flush()
                os.fsync(stored_file.fileno())
            masks = None if done.masks is None else os.path.relpath(done.masks, self.root)
            _append_line(self._manifest, {"key": key, "file": str(Path(done.file).resolve()), "sha256": done.sha256,
                                          **self.models, "result": str(result_file), "masks": masks}, durable=True)
        _append_line(self._results, done.result)
        self._frames.writerows(frame_rows(done.result))
        self._beats.writerows(beat_rows(done.result))
        for out in self._open:
            out.flush()

    def add_failure(self, failure: Failed) -> None:
        _append_line(self._failed, {"file": failure.file, "error": failure.error})
