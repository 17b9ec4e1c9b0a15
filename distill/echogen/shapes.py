"""Label-map cines: a moving heart drawn as CAMUS labels, frame by frame.

A shape source is one patient's view with its end-diastolic and end-systolic label maps. Between
them each structure (LV cavity, LV with its myocardium, left atrium) moves by interpolating signed
distance maps, so the cavity shrinks and the wall thickens smoothly, and the timing comes from the
simulator's cardiac cycle (ejection, isovolumic relaxation, E wave, diastasis, atrial kick). Each
cine then gets its own smooth warp (scale, rotation about the apex, shift and an elastic field),
so no two cines share a shape, and its own depth of contraction (a lower or higher EF than the
source). The LV cavity of every frame is the truth, drawn by the human convention the source
labels follow (CAMUS/ASE: trabeculae inside, closed across the mitral hinge points).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from distill.synth.cycle import CardiacCycle, beat_at, event_frames, filling_state, make_beats
from echoviewer.analysis.geometry import largest_component

BACKGROUND, CAVITY, MYOCARDIUM, ATRIUM = 0, 1, 2, 3


@dataclass(frozen=True)
class ShapeSource:
    """One view's end-diastolic and end-systolic label maps (H, W) uint8, CAMUS values."""

    name: str
    view: str  # A4C or A2C
    ed: np.ndarray
    es: np.ndarray


@dataclass(frozen=True)
class LabelCine:
    """Label maps of a cine and its timing."""

    labels: np.ndarray  # (T, H, W) uint8
    fps: float
    ed_frames: tuple[int, ...]
    es_frames: tuple[int, ...]
    heart_rate_bpm: float
    source: str


def _signed_distance(mask: np.ndarray) -> np.ndarray:
    """Negative inside, positive outside, in pixels."""
    inside = mask.astype(np.uint8)
    return (cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
            - cv2.distanceTransform(inside, cv2.DIST_L2, 5)).astype(np.float32)


def _regions(label: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cavity, cavity with myocardium, atrium: each the largest connected piece."""
    cavity = largest_component(label == CAVITY)
    heart = largest_component(cv2.morphologyEx(((label == CAVITY) | (label == MYOCARDIUM)).astype(np.uint8),
                                            cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0) | cavity
    return cavity, heart, largest_component(label == ATRIUM)


def compose(cavity: np.ndarray, heart: np.ndarray, atrium: np.ndarray) -> np.ndarray:
    label = np.zeros(cavity.shape, np.uint8)
    label[atrium] = ATRIUM
    label[heart] = MYOCARDIUM
    label[cavity] = CAVITY
    return label


class _Morph:
    """Signed-distance interpolation from ED (w = 0) to ES (w = 1), extrapolated a little past both."""

    def __init__(self, source: ShapeSource) -> None:
        self.ed = [_signed_distance(region) for region in _regions(source.ed)]
        self.es = [_signed_distance(region) for region in _regions(source.es)]

    def at(self, w: float) -> np.ndarray:
        return compose(*((1.0 - w) * a + w * b < 0 for a, b in zip(self.ed, self.es)))


def _warp_maps(rng: np.random.Generator, shape: tuple[int, int], source: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cv2.remap maps of one random smooth warp: scale and rotation about the apex, a shift, an
    elastic field of a few pixels."""
    height, width = shape
    ys, xs = np.nonzero(source == CAVITY)
    pivot = (float(xs.mean()) if xs.size else width / 2, float(ys.min()) if ys.size else 0.0)
    scale = rng.uniform(0.85, 1.15)
    matrix = np.asarray(cv2.getRotationMatrix2D(pivot, rng.uniform(-10.0, 10.0), scale), np.float64)
    matrix[:, 2] = matrix[:, 2] + rng.uniform(-0.06, 0.06, 2) * (width, height)
    inverse = cv2.invertAffineTransform(matrix)
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x = (inverse[0, 0] * grid_x + inverse[0, 1] * grid_y + inverse[0, 2]).astype(np.float32)
    map_y = (inverse[1, 0] * grid_x + inverse[1, 1] * grid_y + inverse[1, 2]).astype(np.float32)
    amplitude, scale_px = rng.uniform(0.0, 0.035) * width, rng.uniform(0.15, 0.3) * width
    for grid in (map_x, map_y):
        field = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), scale_px)
        grid += amplitude * field / max(float(np.abs(field).max()), 1e-6)
    return map_x, map_y


def label_cine(source: ShapeSource, rng: np.random.Generator, *, n_frames: int, fps: float,
               heart_rate_bpm: float) -> LabelCine:
    """A beating label-map cine from ``source``; see the module docstring."""
    duration = (n_frames - 1) / fps
    beats: list[CardiacCycle] = make_beats(rng, heart_rate_bpm=heart_rate_bpm, ef=0.6, hrv=0.04,
                                           ef_variation=0.05, start_phase=rng.uniform(0, 1), duration_s=duration)
    depth = rng.uniform(0.55, 1.25)  # how far towards (or past) the source's ES each beat contracts
    morph = _Morph(source)
    map_x, map_y = _warp_maps(rng, source.ed.shape, source.ed)
    labels = np.empty((n_frames, *source.ed.shape), np.uint8)
    for index in range(n_frames):
        t = index / fps
        beat = beat_at(beats, t)
        v, _ = filling_state(beat, t)
        drawn = morph.at(depth * (beat.ef / 0.6) * (1.0 - v))
        labels[index] = cv2.remap(drawn, map_x, map_y, cv2.INTER_NEAREST, borderValue=BACKGROUND)
    ed, es = event_frames(beats, fps, n_frames)
    return LabelCine(labels, fps, tuple(ed), tuple(es), heart_rate_bpm, source.name)
