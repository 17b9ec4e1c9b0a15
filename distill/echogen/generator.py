"""A trained label-to-echo generator folder, and one synthetic cine from it.

The folder (written by ``python -m distill train-generator``) holds ``generator.pt`` (weights only,
loaded with ``weights_only=True``), ``generator.json`` (the network's config, the grain, the data it
learned from and that data's licence) and ``shapes.npz`` (the ED/ES label maps of the training
patients, the shape sources of :mod:`distill.echogen.shapes`). A cine drawn from it is a
:class:`GeneratedCine` that :mod:`distill.synth.writers` writes like a simulated one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from distill.echogen import CARD, SHAPES, WEIGHTS
from distill.echogen.network import LabelToEcho
from distill.echogen.render import Grain, render
from distill.echogen.shapes import CAVITY, ShapeSource, label_cine
from distill.errors import UsageError
from echoviewer.analysis.geometry import disk_volume, long_axis


@dataclass(frozen=True)
class Generator:
    network: LabelToEcho
    grain: Grain
    sources: tuple[ShapeSource, ...]
    card: dict[str, Any]


@dataclass(frozen=True)
class GeneratedCine:
    """Frames and truth in the form :func:`distill.synth.writers.write_case` writes."""

    frames: np.ndarray  # (T, H, W) uint8
    masks: np.ndarray  # (T, H, W) bool LV cavity, the source labels' convention
    fps: float
    ed_frames: tuple[int, ...]
    es_frames: tuple[int, ...]
    ef: float
    edv_ml: float
    esv_ml: float
    volumes_ml: np.ndarray
    landmarks: np.ndarray  # (T, 3, 2) apex, two hinges (x, y)
    contours: list[np.ndarray]  # per frame (N, 2) outline of the cavity
    cm_per_px: float
    sector: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)


def save_generator(folder: Path, network: LabelToEcho, grain: Grain, sources: list[ShapeSource],
                   card: dict[str, Any]) -> None:
    from echoviewer.io.atomic import atomic_output, write_json

    folder.mkdir(parents=True, exist_ok=True)
    with atomic_output(folder / WEIGHTS, suffix=".pt") as temporary:
        torch.save(network.state_dict(), temporary)
    with atomic_output(folder / SHAPES, suffix=".npz") as temporary:
        np.savez_compressed(temporary, names=np.asarray([s.name for s in sources]),
                            views=np.asarray([s.view for s in sources]),
                            ed=np.stack([s.ed for s in sources]), es=np.stack([s.es for s in sources]))
    write_json(folder / CARD, {**card, "network": network.config(), "grain": grain.as_dict()})


@lru_cache(maxsize=2)
def load_generator(folder: str) -> Generator:
    """The generator in ``folder``; UsageError naming what is missing or wrong."""
    root = Path(folder)
    missing = [name for name in (WEIGHTS, CARD, SHAPES) if not (root / name).is_file()]
    if missing:
        raise UsageError(f"{root} is not a generator folder (no {', '.join(missing)}); "
                         "make one with 'python -m distill train-generator'")
    try:
        card = json.loads((root / CARD).read_text(encoding="utf-8"))
        network = LabelToEcho.from_config(card["network"])
        network.load_state_dict(torch.load(root / WEIGHTS, map_location="cpu", weights_only=True))
        grain = Grain(**card["grain"])
        with np.load(root / SHAPES, allow_pickle=False) as shapes:
            sources = tuple(ShapeSource(str(n), str(v), ed, es) for n, v, ed, es
                            in zip(shapes["names"], shapes["views"], shapes["ed"], shapes["es"]))
    except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
        raise UsageError(f"{root}: the generator cannot be read ({str(exc).splitlines()[0]}); "
                         "train it again with 'python -m distill train-generator'") from None
    if not sources:
        raise UsageError(f"{root / SHAPES} holds no shapes; train the generator again")
    network.eval()
    return Generator(network, grain, sources, card)


def _sector(frames: np.ndarray) -> np.ndarray:
    """Where any frame has signal, closed and filled: the imaging sector as the network drew it."""
    lit = (frames.max(axis=0) > 8).astype(np.uint8)
    lit = cv2.morphologyEx(lit, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    contours, _ = cv2.findContours(lit, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    sector = np.zeros_like(lit)
    if contours:
        cv2.drawContours(sector, [max(contours, key=cv2.contourArea)], -1, 1, thickness=-1)
    return sector.astype(bool)


def _outline(mask: np.ndarray) -> np.ndarray:
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    return max(contours, key=len).reshape(-1, 2).astype(np.float32) if contours else np.zeros((0, 2), np.float32)


def generate_cine(generator: Generator, rng: np.random.Generator, *, n_frames: int, fps: float) -> GeneratedCine:
    """One cine: a shape source, a beating label-map cine from it, frames rendered from that."""
    source = generator.sources[int(rng.integers(len(generator.sources)))]
    heart_rate = float(rng.uniform(50.0, 110.0))
    labels = label_cine(source, rng, n_frames=n_frames, fps=fps, heart_rate_bpm=heart_rate)
    frames = render(generator.network, labels.labels, generator.grain, rng)
    sector = _sector(frames)
    masks = (labels.labels == CAVITY) & sector
    cm_per_px = float(rng.uniform(0.11, 0.16))  # the CAMUS frames' scale is unknown: a typical 15 cm field
    spacing = (cm_per_px, cm_per_px)
    landmarks = np.zeros((n_frames, 3, 2), np.float32)
    volumes = np.zeros(n_frames, np.float32)
    for index, mask in enumerate(masks):
        axis = long_axis(mask, spacing)
        if axis is not None:
            landmarks[index] = (axis.apex, *axis.annulus)
            volumes[index] = disk_volume(mask, axis, spacing)
    ed = [i for i in labels.ed_frames if volumes[i] > 0]
    es = [i for i in labels.es_frames if volumes[i] > 0]
    edv = float(np.mean(volumes[ed])) if ed else float(volumes.max())
    esv = float(np.mean(volumes[es])) if es else float(volumes.min())
    return GeneratedCine(frames=frames, masks=masks, fps=fps, ed_frames=tuple(ed), es_frames=tuple(es),
                         ef=100.0 * (edv - esv) / max(edv, 1e-6), edv_ml=edv, esv_ml=esv, volumes_ml=volumes,
                         landmarks=landmarks, contours=[_outline(mask) for mask in masks], cm_per_px=cm_per_px,
                         sector=sector, params={"generator": "label-to-echo", "source": source.name,
                                                "view": source.view, "heart_rate_bpm": heart_rate})
