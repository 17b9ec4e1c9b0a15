"""The models the viewer offers: the bundled ones, the user's own folder and any extra files.

Listing reads only the JSON sidecars' names; no ONNX session is loaded.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from echoviewer.analysis.models import BUNDLED
from echoviewer.analysis.onnx_model import sidecar_path
from echoviewer.io.atomic import read_json
from echoviewer.user_data import user_models_dir

LABEL_LENGTH = 80


@dataclass(frozen=True)
class ModelEntry:
    """One menu entry: ``spec`` is what :func:`echoviewer.analysis.models.load_model` takes."""

    spec: str
    label: str
    path: Path
    bundled: bool


def _label(model: Path) -> str:
    """The sidecar's ``name`` as one printable line, else the file's stem."""
    card = read_json(sidecar_path(model))
    name = card.get("name") if isinstance(card, dict) else None
    label = " ".join(name.split())[:LABEL_LENGTH] if isinstance(name, str) else ""
    return label if label and label.isprintable() else model.stem


def available_models(extra: Iterable[str | os.PathLike[str]] = (), user_dir: Path | None = None) -> list[ModelEntry]:
    """Bundled student and teacher, then the user folder's ``*.onnx`` with a sidecar (by name),
    then the ``extra`` files (specs or paths) that exist; each file once."""
    folder = user_models_dir() if user_dir is None else user_dir
    own = sorted((p for p in folder.glob("*.onnx") if sidecar_path(p).is_file()), key=lambda p: p.name)
    others = own + [BUNDLED.get(str(item)) or Path(item) for item in extra]
    entries = [ModelEntry(spec, f"{spec.capitalize()} (bundled)", path.resolve(), True)
               for spec, path in BUNDLED.items() if path.is_file()]
    entries += [ModelEntry(str(p.resolve()), _label(p), p.resolve(), False) for p in others if p.is_file()]
    unique: dict[Path, ModelEntry] = {}
    for entry in entries:
        unique.setdefault(entry.path, entry)
    return list(unique.values())
