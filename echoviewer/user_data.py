"""The viewer's per-user state in the user's data folder: saved ED/ES picks and LV contours, recent
files, preferences (the reader's name) and the salt of anonymised study keys.

Every file appears whole or not at all (:func:`echoviewer.io.atomic.write_json`); a damaged or
foreign file reads as absent, never as an error. File names never hold patient identifiers.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import secrets
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from echoviewer.io.atomic import atomic_output, read_json, write_json
from echoviewer.io.cine import Cine
from echoviewer.io.loader import stated_instance
from echoviewer.resources import BUNDLED_MODELS, BUNDLED_STUDENTS, DEFAULT_MODEL

# echoviewer.analysis (and with it onnxruntime) is imported only where edits or file hashes are
# handled: data_dir(), the preferences and the other folders stay cheap for `echoviewer pacs`.
if TYPE_CHECKING:
    from echoviewer.analysis.contour import Contour

VERSION = 1
BUNDLED_SPECS = tuple(BUNDLED_MODELS)
_IDENTITY = re.compile(r"[a-z0-9-]{1,100}")
READER_LENGTH = 80


def data_dir() -> Path:
    """``$ECHOVIEWER_DATA_DIR`` if set, else the platform's user data folder (not created here)."""
    return Path(os.environ.get("ECHOVIEWER_DATA_DIR") or platformdirs.user_data_dir("echoviewer", appauthor=False))


def user_models_dir() -> Path:
    """Where the user's own models (ONNX + JSON sidecar) live."""
    return data_dir() / "models"


def file_identity(cine: Cine) -> str:
    """A key for the cine's file that survives renaming and moving, safe as a file name.

    A DICOM with a SOP Instance UID: ``sop-`` and the UID's hashed hex (the UID itself is an
    identifier); anything else: ``sha256-`` and the hash of the file's bytes.
    """
    uid = cine.identifiers.sop_instance_uid if cine.metadata.format == "dicom" else ""
    return _identity(uid, cine.path)


def path_identity(path: str | os.PathLike[str]) -> str:
    """:func:`file_identity` of the file at ``path`` without decoding it (its header or its bytes);
    raises OSError when it cannot be read."""
    return _identity(stated_instance(Path(path)), Path(path))


def _identity(sop_instance_uid: str, path: Path) -> str:
    if sop_instance_uid:
        return "sop-" + hashlib.sha256(sop_instance_uid.encode("utf-8")).hexdigest()[:32]
    from echoviewer.analysis.onnx_model import file_sha256

    return "sha256-" + file_sha256(path)


def _frames_ok(frames: Any, n_frames: int) -> bool:
    return isinstance(frames, tuple) and all(type(f) is int and 0 <= f < n_frames for f in frames)


@dataclass(frozen=True)
class SavedEdits:
    """The user's ED/ES picks, LV contours and model choice for one cine; ``None`` picks = the
    automatic ones.

    ``edited_ed`` / ``edited_es`` are the picks the user placed or moved (a subset of the picks);
    ``contours`` the (frame, contour) pairs the user drew; ``n_frames`` is the cine's length when
    saved; ``reviewed`` the user's tick; ``pairing`` the biplane partner the user chose. Raises
    ValueError when inconsistent.
    """

    ed_frames: tuple[int, ...] | None
    es_frames: tuple[int, ...] | None
    model: str | None
    edited_ed: tuple[int, ...]
    edited_es: tuple[int, ...]
    n_frames: int
    contours: tuple[tuple[int, Contour], ...] = ()
    reviewed: bool = False  # the user ticked the cine as reviewed
    pairing: tuple[str, str] | None = None  # (this cine's view, the other view's file): a biplane pair by hand

    def __post_init__(self) -> None:
        from echoviewer.analysis.contour import Contour

        n = self.n_frames
        if type(n) is not int or n < 1:
            raise ValueError(f"n_frames must be a positive int; got {n!r}")
        for picks, edited in ((self.ed_frames, self.edited_ed), (self.es_frames, self.edited_es)):
            if not (picks is None or _frames_ok(picks, n)) or not _frames_ok(edited, n) \
                    or not set(edited) <= set(picks or ()):
                raise ValueError(f"picks must be tuples of frames in 0-{n - 1}, edited ones among them; "
                                 f"got {picks!r} with edited {edited!r}")
        if not (isinstance(self.contours, tuple) and _frames_ok(tuple(f for f, _ in self.contours), n)
                and all(isinstance(c, Contour) for _, c in self.contours)):
            raise ValueError(f"contours must be (frame, Contour) pairs with frames in 0-{n - 1}")
        if type(self.reviewed) is not bool:
            raise ValueError(f"reviewed must be true or false; got {self.reviewed!r}")
        pairing = self.pairing
        if pairing is not None and not (isinstance(pairing, tuple) and len(pairing) == 2
                                        and pairing[0] in ("A4C", "A2C") and isinstance(pairing[1], str)
                                        and Path(pairing[1]).is_absolute()):
            raise ValueError(f"pairing must be (A4C or A2C, an absolute path); got {pairing!r}")
        model = self.model
        if not (model is None or isinstance(model, str) and (model in BUNDLED_SPECS or Path(model).is_absolute())):
            raise ValueError(f"model must be {' or '.join(BUNDLED_SPECS)} or an absolute path; got {model!r}")

    def matches(self, n_frames: int) -> bool:
        """True when saved for a cine of this many frames (else the caller ignores the record)."""
        return self.n_frames == n_frames


def _checked_identity(identity: str) -> str:
    if not isinstance(identity, str) or not _IDENTITY.fullmatch(identity):
        raise ValueError(f"{identity!r} is not a file identity; use file_identity(cine)")
    return identity


def _as_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _frame_key(key: str) -> int:
    if not key.isdigit():
        raise ValueError(f"a contour's frame must be a number; got {key!r}")
    return int(key)


class EditStore:
    """Saved edits, one ``edits/<identity>.json`` per cine under ``root`` (default: data_dir())."""

    def __init__(self, root: Path | None = None) -> None:
        self.folder = (root if root is not None else data_dir()) / "edits"

    def _path(self, identity: str) -> Path:
        return self.folder / f"{_checked_identity(identity)}.json"

    def load(self, identity: str) -> SavedEdits | None:
        """The saved edits, or None when there are none or the file is damaged or foreign."""
        record = read_json(self._path(identity))
        if not isinstance(record, dict) or record.get("version") != VERSION:
            return None
        from echoviewer.analysis.contour import Contour

        try:
            contours = record.get("contours", {})
            if not isinstance(contours, dict):
                raise ValueError("contours must be an object")
            return SavedEdits(
                ed_frames=_as_tuple(record["ed_frames"]), es_frames=_as_tuple(record["es_frames"]),
                model=record["model"], edited_ed=_as_tuple(record["edited_ed"]),
                edited_es=_as_tuple(record["edited_es"]), n_frames=record["n_frames"],
                contours=tuple((_frame_key(frame), Contour.from_dict(c)) for frame, c in contours.items()),
                reviewed=record.get("reviewed", False),
                pairing=None if record.get("pairing") is None else tuple(record["pairing"]))
        except (KeyError, ValueError, TypeError):
            return None

    def save(self, identity: str, edits: SavedEdits) -> None:
        record = {"version": VERSION, **{k: v for k, v in asdict(edits).items() if k != "contours"},
                  "contours": {str(frame): contour.as_dict() for frame, contour in edits.contours}}
        write_json(self._path(identity), record)

    def forget(self, identity: str) -> None:
        """Drop the saved edits (nothing happens when there are none)."""
        self._path(identity).unlink(missing_ok=True)


class RecentFiles:
    """Recently opened cines, most recent first, in ``recent.json`` under ``root`` (default: data_dir())."""

    def __init__(self, root: Path | None = None, limit: int = 12) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1; got {limit}")
        self.file = (root if root is not None else data_dir()) / "recent.json"
        self.limit = limit

    def paths(self) -> list[Path]:
        """The files that still exist, most recent first; a damaged list reads as empty."""
        record = read_json(self.file)
        entries = record.get("paths") if isinstance(record, dict) and record.get("version") == VERSION else None
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            return []
        existing = [p for p in map(Path, dict.fromkeys(entries)) if p.is_absolute() and p.exists()]
        return existing[:self.limit]

    def add(self, path: str | os.PathLike[str]) -> None:
        """Put ``path`` (resolved) first, dropping its older entry and what exceeds the limit."""
        first = Path(path).resolve()
        kept = [first] + [p for p in self.paths() if p != first]
        write_json(self.file, {"version": VERSION, "paths": [str(p) for p in kept[:self.limit]]})

    def clear(self) -> None:
        self.file.unlink(missing_ok=True)


class ActiveStudent:
    """The student the viewer runs by default and the one it replaced, in ``active_student.json``
    under ``root`` (default: data_dir()). A spec is a bundled model's name or a model file's path."""

    def __init__(self, root: Path | None = None) -> None:
        self.file = (root if root is not None else data_dir()) / "active_student.json"

    @staticmethod
    def _usable(spec: Any) -> bool:
        return isinstance(spec, str) and (spec in BUNDLED_STUDENTS or Path(spec).is_absolute() and Path(spec).is_file())

    def _record(self) -> dict:
        record = read_json(self.file)
        return record if isinstance(record, dict) and record.get("version") == VERSION else {}

    def get(self) -> str:
        """The active student; the bundled one when none was chosen or its file has gone."""
        spec = self._record().get("spec")
        return spec if isinstance(spec, str) and self._usable(spec) else DEFAULT_MODEL

    def previous(self) -> str | None:
        """The student that was active before, if its file still exists."""
        spec = self._record().get("previous")
        return spec if self._usable(spec) and spec != self.get() else None

    def set(self, spec: str) -> None:
        """Make ``spec`` active; the current one becomes the previous one."""
        if not self._usable(spec):
            raise ValueError(f"{spec!r} is not a student: give {' or '.join(BUNDLED_STUDENTS)} or an existing "
                             "model file's absolute path")
        current = self.get()
        if spec != current:
            write_json(self.file, {"version": VERSION, "spec": spec, "previous": current})


class Preferences:
    """What the user sets once, for the viewer and the CLI alike: the reader's name written into
    exports (``preferences.json``), and the local salt of the anonymised study keys (``salt``,
    made on first use, never exported: without it a key cannot be traced back to its UID)."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else data_dir()

    def _record(self) -> dict:
        record = read_json(self.root / "preferences.json")
        return record if isinstance(record, dict) and record.get("version") == VERSION else {}

    def _write(self, **changes: object) -> None:
        write_json(self.root / "preferences.json", {**self._record(), "version": VERSION, **changes})

    @property
    def reader(self) -> str:
        reader = self._record().get("reader")
        return reader if isinstance(reader, str) else ""

    @reader.setter
    def reader(self, name: str) -> None:
        self._write(reader=" ".join(str(name).split())[:READER_LENGTH])  # one line, no control characters

    @property
    def pseudonymise(self) -> bool:
        """Exports name cines by their salted key (:class:`Pseudonyms`), not their file names."""
        return self._record().get("pseudonymise") is True

    @pseudonymise.setter
    def pseudonymise(self, on: bool) -> None:
        self._write(pseudonymise=bool(on))

    def salt(self) -> str:
        path = self.root / "salt"
        try:
            salt = path.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            salt = ""
        if not re.fullmatch(r"[0-9a-f]{64}", salt):
            salt = secrets.token_hex(32)
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                with atomic_output(path) as temporary:
                    temporary.write_text(salt, encoding="ascii")
                    temporary.chmod(0o600)
            except OSError:  # a read-only data folder: keys hold for this run only
                pass
        return salt


class Pseudonyms:
    """Cines named by a stable salted key (``cine-<12 hex>``, from the file's resolved path and the
    local salt) in place of their file names, which are often a patient's; the key → path map is
    appended to ``pseudonyms.csv`` in the data folder, so it never leaves this machine."""

    def __init__(self, salt: str, root: Path | None = None) -> None:
        self.salt, self.root = salt, root if root is not None else data_dir()
        self.used: dict[str, str] = {}

    def key(self, path: str | os.PathLike[str]) -> str:
        from echoviewer.analysis.provenance import pseudonym  # the project's one salted key; late, so this module loads no analysis

        resolved = str(Path(path).resolve())
        key = f"cine-{(pseudonym(resolved, self.salt) or '')[:12]}"
        self.used[key] = resolved
        return key

    def _replaced(self, text: str, path: str) -> str:
        key = self.key(path)
        return text.replace(str(path), key).replace(Path(path).name, key)

    def results(self, results: list[dict]) -> list[dict]:
        return [{**result, "file": self.key(result["file"])} for result in results]

    def failures(self, failed: list[dict]) -> list[dict]:
        """Each failure's file, and its name in the one-line reason, replaced."""
        return [{"file": self.key(f["file"]), "error": self._replaced(f["error"], f["file"])} for f in failed]

    def pairs(self, biplane: list[dict]) -> list[dict]:
        return [{**pair, "four_chamber": self.key(pair["four_chamber"]),
                 "two_chamber": self.key(pair["two_chamber"])} for pair in biplane]

    def save(self) -> None:
        """Append the keys used to the local map (one ``key,path`` line each, new ones only)."""
        path = self.root / "pseudonyms.csv"
        with open(path, encoding="utf-8", newline="") if path.is_file() else nullcontext(None) as old:
            known = {tuple(row) for row in csv.reader(old)} if old is not None else set()
        rows = [(key, source) for key, source in sorted(self.used.items()) if (key, source) not in known]
        if rows:
            self.root.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8", newline="") as handle:
                csv.writer(handle).writerows(rows)
