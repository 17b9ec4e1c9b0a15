"""Simulate one apical four-chamber B-mode cine with its exact ground truth.

    cine = simulate(seed=7, height=112, width=112)

The same seed (and size arguments) gives byte-identical frames and masks: every random draw comes
from one generator seeded by ``seed``, in a fixed order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import cv2
import numpy as np

from distill.synth.anatomy import LEVELS, N_LEVELS, Heart, HeartState, Shape
from distill.synth.cycle import event_frames, make_beats
from distill.synth.params import CaseParams, sample_case
from distill.synth.ultrasound import SHIFT, Transducer, densify, log_compress, psf_blur, smooth_field

_DENSIFY_CM = 0.2
_MATERIAL_DECAY_CM = 1.0
_TABLE = 256


@dataclass(frozen=True)
class SyntheticCine:
    """Frames, truth and the parameters that made them."""

    frames: np.ndarray  # (T, H, W) uint8
    masks: np.ndarray  # (T, H, W) bool, LV cavity closed across the mitral annulus
    fps: float
    ed_frames: tuple[int, ...]
    es_frames: tuple[int, ...]
    ef: float  # percent, mean over the beats the clip overlaps (method of disks on the truth contour)
    edv_ml: float
    esv_ml: float
    volumes_ml: np.ndarray  # (T,) LV volume per frame
    landmarks: np.ndarray  # (T, 3, 2) pixel (x, y) of the apex, septal and lateral mitral hinge
    contours: np.ndarray  # (T, N, 2) pixel (x, y) of the LV contour, septal hinge → apex → lateral hinge
    cm_per_px: float
    sector: np.ndarray  # (H, W) bool
    params: CaseParams

    def params_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.params)


def _background(p: CaseParams, transducer: Transducer, rng: np.random.Generator) -> np.ndarray:
    """Echogenicity outside the heart: dim textured tissue under a layered chest wall."""
    depth_cells, r = 1.0 / transducer.dr, transducer.r[:, None]
    tissue = p.background_gain * np.exp(0.8 * smooth_field(rng, transducer.shape,
                                                            (2.0 * depth_cells, 0.08 / transducer.dtheta)))
    chest = np.clip((p.chest_wall_cm - (r - transducer.r0)) / 0.5 + 0.5, 0.0, 1.0)  # soft lower edge
    layers = np.exp(0.6 * smooth_field(rng, transducer.shape, (0.15 * depth_cells, 0.3 / transducer.dtheta)))
    return (tissue * (1.0 - chest) + p.chest_wall_gain * layers * chest).astype(np.float32)


def _gain(p: CaseParams, transducer: Transducer, rng: np.random.Generator, texture: np.ndarray) -> np.ndarray:
    """Net power gain per beam-grid cell: attenuation, imperfect TGC, a rib shadow, beam ripple."""
    r = transducer.r[:, None]
    gain_db = -p.attenuation_db * (r - transducer.r0) / (transducer.depth - transducer.r0)
    for _ in range(3):  # imperfect time-gain compensation
        centre, width = rng.uniform(transducer.r0, transducer.depth), rng.uniform(1.5, 4.0)
        gain_db = gain_db + rng.uniform(-3.0, 3.0) * np.exp(-((r - centre) / width) ** 2)
    theta = -transducer.alpha + transducer.dtheta * np.arange(transducer.shape[1])[None, :]
    edge = rng.choice([-1.0, 1.0]) * transducer.alpha * rng.uniform(0.6, 1.0)
    shadow = (np.exp(-((theta - edge) / rng.uniform(0.08, 0.25)) ** 2)
              * np.clip((r - rng.uniform(2.0, 6.0)) / 2.0, 0, 1))
    ripple = smooth_field(rng, (1, transducer.shape[1]), (1.0, 0.05 / transducer.dtheta))
    gain_db = gain_db - p.shadow_db * shadow + 1.5 * ripple
    return (10.0 ** (gain_db / 10.0)).astype(np.float32) * texture


def _clutter(p: CaseParams, transducer: Transducer, rng: np.random.Generator) -> np.ndarray:
    """Stationary near-field clutter and reverberation bands (echo power, before gain)."""
    depth_cells, r = 1.0 / transducer.dr, transducer.r[:, None]
    patches = np.exp(1.0 * smooth_field(rng, transducer.shape, (0.5 * depth_cells, 0.1 / transducer.dtheta)))
    haze = np.exp(-(r - transducer.r0) / p.clutter_depth_cm) * patches
    spacing = rng.uniform(0.8, 1.8)
    bands = sum(0.6 ** k * np.exp(-((r - transducer.r0 - k * spacing) / 0.15) ** 2) for k in range(1, 4))
    beams = np.exp(0.5 * smooth_field(rng, (1, transducer.shape[1]), (1.0, 0.1 / transducer.dtheta)))
    return p.clutter_gain * haze + p.reverberation_gain * bands * beams


def _profile_tables(lv: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """An LV's half-widths (lateral, septal) and wall thickness at 256 even levels, and its length.

    Looked up by index per beam-grid cell: np.interp per cell is slower.
    """
    even = np.linspace(0.0, 1.0, _TABLE)
    widths = np.stack([np.interp(even, LEVELS, lv["lateral"][:, 1]), -np.interp(even, LEVELS, lv["septal"][:, 1])])
    return (widths.astype(np.float32), np.interp(even, LEVELS, lv["wall"]).astype(np.float32),
            float(lv["length"]))


class Renderer:
    """Per-case state of the image formation: static fields and the speckle attached to tissue."""

    def __init__(self, params: CaseParams, heart: Heart | None, rng: np.random.Generator) -> None:
        """``heart`` moves the speckle with the LV's deformation; without one it stays put."""
        p = self.p = params
        self.transducer = transducer = Transducer(p, oversample=2)
        self.heart = heart
        depth_cells = 1.0 / transducer.dr
        self.background = _background(p, transducer, rng)
        texture = np.exp(p.texture_sd * smooth_field(rng, transducer.shape,
                                                     (0.4 * depth_cells, 0.03 / transducer.dtheta)))
        self.gain = _gain(p, transducer, rng, texture.astype(np.float32))
        self.clutter_amplitude = np.sqrt(_clutter(p, transducer, rng) * self.gain).astype(np.float32)[..., None]
        self.clutter_scatterers = rng.standard_normal((*transducer.shape, 2), dtype=np.float32)
        self.noise_amplitude = np.float32(10.0 ** (p.noise_db / 20.0))

        # scatterers fixed in the tissue: a grid in heart coordinates at the first ED
        self.cell = float(min(transducer.dr, 0.08))  # cm per scatterer cell
        self.material_origin = np.array([-p.lv_apex_depth_cm - 3.0, -p.depth_cm - 2.0])
        extent = np.array([2.0 * p.depth_cm + 6.0, 2.0 * p.depth_cm + 4.0])
        grid = np.ceil(extent / self.cell).astype(int)
        self.material = rng.standard_normal((grid[0], grid[1], 2), dtype=np.float32)
        self.ed_tables: tuple[np.ndarray, np.ndarray, float] | None = None  # the LV at the first ED
        self.keep = np.float32(np.sqrt(1.0 - p.tissue_decorrelation))
        self.fresh = np.float32(np.sqrt(p.tissue_decorrelation))
        self.psf_rows = max(p.axial_psf_cm / transducer.dr, 0.5)
        self.psf_cols = max(p.lateral_psf_rad / transducer.dtheta, 0.5)
        self.edge_rows = max(p.edge_blur_cm / transducer.dr, 0.3)
        self.edge_cols = max(p.edge_blur_cm / (0.5 * transducer.depth * transducer.dtheta), 0.3)
        self.black_db = 36.0 - p.gain_db - p.dynamic_range_db  # white 36 dB above mean myocardium
        self.previous: np.ndarray | None = None
        self.sector = transducer.sector_pixels((p.height, p.width))

    def _material_maps(self, state: HeartState) -> tuple[np.ndarray, np.ndarray]:
        """Where each beam-grid cell's tissue was at ED, in material grid cells."""
        assert self.heart is not None
        origin, e_u, e_v = state.pose
        dx, dy = self.transducer.x - np.float32(origin[0]), self.transducer.y - np.float32(origin[1])
        u = dx * np.float32(e_u[0]) + dy * np.float32(e_u[1])
        v = dx * np.float32(e_v[0]) + dy * np.float32(e_v[1])
        if self.ed_tables is None:
            self.ed_tables = _profile_tables(self.heart.lv_profile(self.heart.beats[0].start))
        (widths, walls, length), (widths_ed, walls_ed, length_ed) = _profile_tables(state.lv), self.ed_tables
        inside = (u >= 0) & (u <= length)
        u_m = np.where(inside, u * np.float32(length_ed / length), np.where(u > length, u + np.float32(length_ed - length), u))
        level = (np.clip(u / np.float32(length), 0.0, 1.0) * (_TABLE - 1) + 0.5).astype(np.intp)
        side = (v < 0).astype(np.intp)
        width, width_ed = widths[side, level], widths_ed[side, level]
        wall, wall_ed = walls[level], walls_ed[level]
        a = np.abs(v)
        moved = np.where(a <= width, a * width_ed / np.maximum(width, 1e-3),
                         np.where(a <= width + wall, width_ed + (a - width) * wall_ed / wall,
                                  a + (width_ed + wall_ed - width - wall) * np.exp(-(a - width - wall) / _MATERIAL_DECAY_CM)))
        v_m = np.where(inside, np.sign(v) * moved, v)
        map_x = ((v_m - self.material_origin[1]) / self.cell).astype(np.float32)
        map_y = ((u_m - self.material_origin[0]) / self.cell).astype(np.float32)
        return map_x, map_y

    def frame(self, shapes: list[Shape], rng: np.random.Generator, state: HeartState | None = None) -> np.ndarray:
        """One uint8 (height, width) frame as the scanner shows it: scan-converted, blurred, black
        outside the sector (edge pixels less than half inside the fan stay black)."""
        p = self.p
        image = self.transducer.scan_convert(np.power(self.render(shapes, rng, state), p.gamma, dtype=np.float32),
                                             (p.height, p.width))
        blur_px = p.display_blur_cm / self.transducer.cm_per_px
        if blur_px > 0.2:
            image = cv2.GaussianBlur(image, (0, 0), blur_px)
        frame = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
        frame[~self.sector] = 0
        return frame

    @cached_property
    def _fixed_material_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """Material cells of a tissue that stays put in the probe's frame (other views)."""
        return ((self.transducer.x - np.float32(self.material_origin[1])) / np.float32(self.cell),
                (self.transducer.y - np.float32(self.material_origin[0])) / np.float32(self.cell))

    def render(self, shapes: list[Shape], rng: np.random.Generator, state: HeartState | None = None) -> np.ndarray:
        """One frame's display level on the beam grid; the speckle follows ``state``'s LV if given."""
        transducer = self.transducer
        echo = self.background.copy()
        blood: np.ndarray = np.zeros(transducer.shape, np.float32)
        for shape in shapes:
            vertices = transducer.to_beam_grid(densify(shape.points, _DENSIFY_CM))
            cv2.fillPoly(echo, [vertices], float(shape.echogenicity), cv2.LINE_8, SHIFT)
            cv2.fillPoly(blood, [vertices], 1.0 if shape.blood else 0.0, cv2.LINE_8, SHIFT)
        # tissue boundaries are soft: partial volume across the slice thickness
        echo = cv2.GaussianBlur(echo, (0, 0), sigmaX=self.edge_cols, sigmaY=self.edge_rows)
        blood = cv2.GaussianBlur(blood, (3, 3), 0)
        amplitude = np.sqrt(echo * self.gain)[..., None]
        maps = self._material_maps(state) if state is not None else self._fixed_material_maps
        tissue = cv2.remap(self.material, *maps, cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
        fresh = rng.standard_normal(tissue.shape, dtype=np.float32)
        blood = blood[..., None]
        field = amplitude * ((1.0 - blood) * (self.keep * tissue) + (blood + (1.0 - blood) * self.fresh) * fresh)
        field += self.clutter_amplitude * self.clutter_scatterers + self.noise_amplitude * fresh
        level = log_compress(psf_blur(field, self.psf_rows, self.psf_cols), self.black_db,
                             self.p.dynamic_range_db)
        if self.previous is not None and self.p.persistence > 0:
            level = (1.0 - self.p.persistence) * level + self.p.persistence * self.previous
        self.previous = level
        return level


def _lv_mask(transducer: Transducer, state: HeartState, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    polygon = transducer.to_pixels(densify(state.lv_contour, _DENSIFY_CM))
    cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
    return mask.astype(bool)


def _beat_truth(heart: Heart, duration: float) -> tuple[float, float, float]:
    """Mean EF (%), EDV and ESV (mL) over the beats the clip overlaps."""
    edv, esv = [], []
    for beat in heart.beats:
        if beat.start + beat.rr < 0 or beat.start > duration:
            continue
        edv.append(heart.state(beat.start + 1e-6).volume_ml)
        esv.append(heart.state(beat.start + beat.es_offset - 1e-6).volume_ml)
    edv_mean, esv_mean = float(np.mean(edv)), float(np.mean(esv))
    ef = float(np.mean([(d - s) / d for d, s in zip(edv, esv)]) * 100.0)
    return ef, edv_mean, esv_mean


def simulate(seed: int | Sequence[int] | np.random.SeedSequence, *, height: int = 112, width: int = 112,
             n_frames: int | tuple[int, int] = (32, 256), fps: float | None = None,
             adjust: Callable[[CaseParams], CaseParams] | None = None) -> SyntheticCine:
    """Simulate one cine. ``n_frames`` is a count or an inclusive range to draw from; ``adjust``
    may change the drawn parameters (the view gate widens the framing with it)."""
    rng = np.random.default_rng(seed)
    params = sample_case(rng, height=height, width=width, n_frames=n_frames, fps=fps)
    if adjust is not None:
        params = adjust(params)
    duration = (params.n_frames - 1) / params.fps
    beats = make_beats(rng, heart_rate_bpm=params.heart_rate_bpm, ef=params.ef, hrv=params.hrv,
                       ef_variation=params.ef_variation, start_phase=params.start_phase,
                       duration_s=duration)
    heart = Heart(params, beats, rng)
    renderer = Renderer(params, heart, rng)
    size = (height, width)
    frames = np.empty((params.n_frames, height, width), np.uint8)
    masks = np.empty((params.n_frames, height, width), bool)
    volumes = np.empty(params.n_frames, np.float32)
    landmarks = np.empty((params.n_frames, 3, 2), np.float32)
    contours = np.empty((params.n_frames, 2 * N_LEVELS - 1, 2), np.float32)
    transducer = renderer.transducer
    sector = renderer.sector
    for index in range(params.n_frames):
        t = index / params.fps
        state = heart.state(t)
        frames[index] = renderer.frame(state.shapes, rng, state)
        masks[index] = _lv_mask(transducer, state, size) & sector
        volumes[index] = state.volume_ml
        landmarks[index] = transducer.to_pixels(np.concatenate([state.apex[None], state.annulus]))
        contours[index] = transducer.to_pixels(state.lv_contour)
    ed, es = event_frames(beats, params.fps, params.n_frames)
    ef, edv, esv = _beat_truth(heart, duration)
    return SyntheticCine(frames=frames, masks=masks, fps=params.fps, ed_frames=tuple(ed),
                         es_frames=tuple(es), ef=ef, edv_ml=edv, esv_ml=esv, volumes_ml=volumes,
                         landmarks=landmarks, contours=contours, cm_per_px=transducer.cm_per_px, sector=sector,
                         params=params)
