"""Cines of what is *not* an apical view: parasternal short and long axis, subcostal four-chamber,
and tissue that is not a heart, drawn with the apical simulator's probe, image formation and
echogenicities.

They teach the view gate (:mod:`distill.view_gate`) what to flag. The anatomy is deliberately
coarse (a textbook drawing of each view, moving with a simple cardiac cycle); what matters is that
everything but the anatomy (sector, speckle, gain, clutter, noise, blur) comes from the very same
:class:`~distill.synth.simulator.Renderer` and parameter ranges as the apical cines it is told
apart from, so a classifier cannot learn the renderer instead of the view.

Coordinates are the probe's, in cm: x to the image right, y in depth from the sector apex.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from distill.synth.anatomy import Shape, ellipse, thick_polyline
from distill.synth.params import CaseParams, sample_case
from distill.synth.simulator import Renderer

OTHER_VIEWS = ("psax", "plax", "subcostal", "tissue")
VERTICES = 32  # per ellipse


def _closed(centre: np.ndarray, radii: np.ndarray, angle: float = 0.0) -> np.ndarray:
    """A closed outline at ``len(radii)`` even angles, rotated by ``angle`` (radians)."""
    phi = np.linspace(0.0, 2.0 * np.pi, len(radii), endpoint=False) + angle
    return centre + radii[:, None] * np.stack([np.cos(phi), np.sin(phi)], axis=1)


def _wobble(rng: np.random.Generator, n: int, amount: float) -> np.ndarray:
    """A smooth random radius factor around a closed outline (three harmonics)."""
    phi = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    factor = np.ones(n)
    for k in (2, 3, 4):
        factor += rng.normal(0.0, amount / k) * np.cos(k * phi + rng.uniform(0, 2 * np.pi))
    return factor


def _contraction(t: float, heart_rate_bpm: float, start: float) -> float:
    """0 at end-diastole, 1 at end-systole: systole takes the first 35 % of each beat."""
    phase = (t * heart_rate_bpm / 60.0 + start) % 1.0
    if phase < 0.35:
        return float(np.sin(0.5 * np.pi * phase / 0.35) ** 2)
    return float(np.cos(0.5 * np.pi * min((phase - 0.35) / 0.3, 1.0)) ** 2)


def _band(start: np.ndarray, end: np.ndarray, width: float) -> np.ndarray:
    return thick_polyline(np.linspace(start, end, 12), width)


def _psax(p: CaseParams, rng: np.random.Generator) -> Callable[[float], list[Shape]]:
    """Short axis at the papillary muscles: a round LV in its myocardial ring, the RV crescent in front."""
    depth = p.depth_cm
    centre = np.array([rng.uniform(-0.12, 0.12) * depth, rng.uniform(0.42, 0.62) * depth])
    zoom = rng.uniform(1.0, 1.5)  # parasternal views are often taken shallower than apical ones
    r_ed, wall = zoom * rng.uniform(1.8, 3.0), zoom * rng.uniform(0.7, 1.2)
    area_change = rng.uniform(0.25, 0.65)
    wobble = _wobble(rng, 48, 0.08)
    rv_offset = zoom * np.array([rng.uniform(-2.2, -0.4), -rng.uniform(1.4, 2.6)])
    rv_axes, rv_angle = (zoom * rng.uniform(2.6, 3.8), zoom * rng.uniform(1.2, 2.0)), rng.uniform(-0.5, 0.2)
    papillary = [rng.uniform(0.5, 1.2) + k * np.pi * rng.uniform(0.55, 0.75) for k in range(2)]
    blood = 10.0 ** (-p.blood_db / 10.0)
    start = rng.random()

    def shapes(t: float) -> list[Shape]:
        c = _contraction(t, p.heart_rate_bpm, start)
        r = r_ed * np.sqrt(1.0 - area_change * c)
        outer = np.sqrt(r ** 2 + (r_ed + wall) ** 2 - r_ed ** 2)  # the myocardium keeps its area
        rv = centre + rv_offset * (1.0 - 0.15 * c)
        out = [Shape(ellipse(rv, rv_axes[0] + p.rv_wall_cm, rv_axes[1] + p.rv_wall_cm, VERTICES, rv_angle), p.rv_gain),
               Shape(ellipse(rv, *rv_axes, VERTICES, rv_angle), blood, blood=True),
               Shape(_closed(centre, (outer + 0.1 + p.pericardium_cm) * wobble), p.pericardium_gain),
               Shape(_closed(centre, outer * wobble), p.septum_gain),
               Shape(_closed(centre, r * wobble), blood, blood=True)]
        for angle in papillary:
            spot = centre + 0.72 * r * np.array([np.cos(angle), np.sin(angle)])
            out.append(Shape(ellipse(spot, 0.3 + 0.15 * c, 0.4 + 0.15 * c, VERTICES, angle), 0.8 * p.septum_gain))
        return out

    return shapes


def _plax(p: CaseParams, rng: np.random.Generator) -> Callable[[float], list[Shape]]:
    """Parasternal long axis: RV, septum, LV and posterior wall in layers across the image, the aortic
    root and the left atrium on the right (on the left when mirrored)."""
    depth = p.depth_cm
    angle = np.deg2rad(rng.uniform(-25.0, 12.0))
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    centre = np.array([rng.uniform(-0.25, 0.05) * depth, rng.uniform(0.42, 0.58) * depth])
    zoom = rng.uniform(1.0, 1.5)  # parasternal views are often taken shallower than apical ones
    h_ed, shortening = zoom * rng.uniform(3.8, 5.8), rng.uniform(0.22, 0.45)
    septum, posterior, rv_depth = zoom * rng.uniform(0.8, 1.3), zoom * rng.uniform(0.8, 1.3), zoom * rng.uniform(1.4, 2.6)
    aorta_r, la_r = zoom * rng.uniform(1.1, 1.6), zoom * rng.uniform(1.5, 2.3)
    base = rng.uniform(0.8, 1.8)  # where the LV meets the aortic root, along the axis
    mirror = -1.0 if rng.random() < 0.2 else 1.0
    blood = 10.0 ** (-p.blood_db / 10.0)
    start = rng.random()

    def at(s: float, n: float) -> np.ndarray:
        point = centre + s * along + n * across
        return np.array([centre[0] + mirror * (point[0] - centre[0]), point[1]])

    def polygon(points: Sequence[tuple[float, float]]) -> np.ndarray:
        return np.array([at(s, n) for s, n in points])

    def shapes(t: float) -> list[Shape]:
        c = _contraction(t, p.heart_rate_bpm, start)
        h = h_ed * (1.0 - shortening * c)
        sep, post = septum * (1.0 + 0.4 * c), posterior * (1.0 + 0.4 * c)
        top, bottom = -h / 2, h / 2
        far = 3.0 * depth  # off the image
        aorta_n = top + aorta_r
        la_centre = (base + 1.0 + la_r, aorta_n + aorta_r + 0.3 + la_r)
        opening = 1.0 - c
        out = [Shape(polygon([(-far, top - sep - rv_depth - p.rv_wall_cm), (base + 2.0, top - sep - rv_depth
                                                                                - p.rv_wall_cm),
                              (base + 2.0, top - sep - rv_depth), (-far, top - sep - rv_depth)]), p.rv_gain),
               Shape(polygon([(-far, top - sep - rv_depth), (base + 2.0, top - sep - rv_depth),
                              (base + 1.0, top - sep), (-far, top - sep)]), blood, blood=True),
               Shape(polygon([(-far, top - sep), (base, top - sep), (base, top), (-far, top)]), p.septum_gain),
               Shape(polygon([(-far, bottom), (base + 0.5, bottom), (base + 0.5, bottom + post),
                              (-far, bottom + post)]), p.lateral_gain + 0.5),
               Shape(polygon([(-far, bottom + post + 0.1), (far, bottom + post + 0.1),
                              (far, bottom + post + 0.1 + p.pericardium_cm),
                              (-far, bottom + post + 0.1 + p.pericardium_cm)]), p.pericardium_gain),
               Shape(polygon([(-far, top), (base, top), (base + 0.3, bottom), (-far, bottom)]), blood, blood=True),
               # the aortic root, its walls continuous with the septum and the anterior mitral leaflet
               Shape(polygon([(base, aorta_n - aorta_r - 0.25), (far, aorta_n - aorta_r - 0.25),
                              (far, aorta_n + aorta_r + 0.25), (base, aorta_n + aorta_r + 0.25)]), p.valve_gain),
               Shape(polygon([(base, aorta_n - aorta_r), (far, aorta_n - aorta_r), (far, aorta_n + aorta_r),
                              (base, aorta_n + aorta_r)]), blood, blood=True),
               Shape(ellipse(at(*la_centre), la_r + 0.25, la_r + 0.25, 28), p.atrial_wall_gain + 0.3),
               Shape(ellipse(at(*la_centre), la_r, la_r, 28), blood, blood=True)]
        # the aortic cusps open in systole, the mitral leaflets in diastole
        for side in (-1.0, 1.0):
            hinge = (base + 0.1, aorta_n + side * aorta_r)
            tip = (base + 0.9, aorta_n + side * aorta_r * (1.0 - 0.9 * (1.0 - c)))
            out.append(Shape(thick_polyline(polygon([hinge, tip]), 0.12), p.valve_gain))
        anterior = (base, aorta_n + aorta_r)
        posterior_hinge = (base + 0.4, bottom)
        for hinge, reach in ((anterior, 2.2), (posterior_hinge, 1.3)):
            direction = np.array([-0.8 * opening - 0.2, (0.5 if hinge is anterior else -0.5) * (1.0 - opening)])
            direction /= np.linalg.norm(direction)
            tip = (hinge[0] + reach * direction[0], hinge[1] + reach * direction[1])
            out.append(Shape(thick_polyline(polygon([hinge, tip]), 0.15), p.valve_gain))
        return out

    return shapes


def _subcostal(p: CaseParams, rng: np.random.Generator) -> Callable[[float], list[Shape]]:
    """Subcostal four-chamber: the liver over the near field, its capsule and the diaphragm, then the
    heart lying across the beam (long axis within about 40° of the horizontal, apex to the image
    right), the right heart nearest the probe, the atria on the left."""
    depth = p.depth_cm
    liver_bottom = rng.uniform(0.25, 0.5) * depth
    liver_gain = float(10.0 ** rng.uniform(-0.6, 0.0)) * p.septum_gain
    angle = np.deg2rad(rng.uniform(-40.0, 5.0))  # negative: the apex rises towards the probe
    along, across = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    zoom = rng.uniform(0.8, 1.15)
    length, width = zoom * rng.uniform(8.0, 10.5), zoom * rng.uniform(5.5, 7.5)
    crux = np.array([rng.uniform(-0.25, 0.05) * depth, liver_bottom + 0.5 * width + rng.uniform(0.3, 1.2)])
    wall, area_change = rng.uniform(0.5, 0.9), rng.uniform(0.25, 0.55)
    mirror = -1.0 if rng.random() < 0.2 else 1.0
    blood = 10.0 ** (-p.blood_db / 10.0)
    start = rng.random()
    far = 3.0 * depth
    rotation = angle if mirror > 0 else np.pi - angle  # of the long axis as drawn

    def at(s: float, n: float) -> np.ndarray:
        point = crux + s * along + n * across
        return np.array([crux[0] + mirror * (point[0] - crux[0]), point[1]])

    def shapes(t: float) -> list[Shape]:
        c = _contraction(t, p.heart_rate_bpm, start)
        squeeze = np.sqrt(1.0 - area_change * c)  # ventricles
        swell = 1.0 + 0.25 * c  # atria fill in systole
        out = [Shape(np.array([(-far, -1.0), (far, -1.0), (far, liver_bottom), (-far, liver_bottom)]), liver_gain),
               Shape(_band(np.array([-far, liver_bottom]), np.array([far, liver_bottom]), 0.25),
                     p.pericardium_gain * 0.6),
               Shape(ellipse(at(0.02 * length, 0.0), 0.5 * length + wall + p.pericardium_cm,
                             0.5 * width + wall + p.pericardium_cm, VERTICES, rotation), p.pericardium_gain),
               Shape(ellipse(at(0.02 * length, 0.0), 0.5 * length + wall, 0.5 * width + wall, VERTICES, rotation),
                     0.5 * (p.septum_gain + p.lateral_gain))]
        # (centre along, across), (semi-axes along, across) as fractions of the heart, and the size factor
        chambers = (((0.24, 0.25), (0.3, 0.26), squeeze), ((0.22, -0.25), (0.28, 0.25), squeeze),
                    ((-0.27, 0.25), (0.22, 0.25), swell), ((-0.27, -0.25), (0.22, 0.25), swell))
        for (s_frac, n_frac), (a_frac, b_frac), scale in chambers:
            centre = at(s_frac * length, n_frac * width)
            out.append(Shape(ellipse(centre, a_frac * length * scale, b_frac * width * scale, VERTICES, rotation),
                             blood, blood=True))
        return out

    return shapes


def _tissue(p: CaseParams, rng: np.random.Generator) -> Callable[[float], list[Shape]]:
    """Not a heart: layers of soft tissue across the image (fat, muscle, fascia) and a few vessels,
    some pulsating."""
    depth, far = p.depth_cm, 3.0 * p.depth_cm
    tilt = rng.uniform(-0.25, 0.25)
    layers, y = [], rng.uniform(0.5, 2.0)
    while y < depth:
        thickness = rng.uniform(0.4, 3.0)
        layers.append((y, thickness, float(10.0 ** rng.uniform(-1.5, 0.3)), rng.uniform(0.05, 0.3)))
        y += thickness
    vessels = [(np.array([rng.uniform(-0.4, 0.4) * depth, rng.uniform(0.2, 0.8) * depth]),
                rng.uniform(0.2, 0.25 * depth), rng.uniform(0.4, 1.0), rng.uniform(0.0, 0.15), rng.uniform(-0.6, 0.6))
               for _ in range(int(rng.integers(0, 4)))]
    blood = 10.0 ** (-p.blood_db / 10.0)
    start = rng.random()

    def level(x: float, y0: float) -> float:
        return y0 + tilt * x

    def shapes(t: float) -> list[Shape]:
        c = _contraction(t, p.heart_rate_bpm, start)
        out = []
        for y0, thickness, gain, fascia in layers:
            out.append(Shape(np.array([(-far, level(-far, y0)), (far, level(far, y0)),
                                       (far, level(far, y0 + thickness)), (-far, level(-far, y0 + thickness))]), gain))
            out.append(Shape(_band(np.array([-far, level(-far, y0)]), np.array([far, level(far, y0)]), fascia),
                             p.pericardium_gain * 0.5))
        for centre, radius, ratio, pulse, angle in vessels:
            r = radius * (1.0 + pulse * (1.0 - c))
            out.append(Shape(ellipse(centre, r + 0.12, r * ratio + 0.12, VERTICES, angle), p.valve_gain))
            out.append(Shape(ellipse(centre, r, r * ratio, VERTICES, angle), blood, blood=True))
        return out

    return shapes


_ANATOMY = {"psax": _psax, "plax": _plax, "subcostal": _subcostal, "tissue": _tissue}


def simulate_view(seed: int | Sequence[int], view: str, *, height: int = 112, width: int = 112,
                  n_frames: int = 16, fps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (T, H, W) frames and the (H, W) sector of one cine of ``view`` (one of OTHER_VIEWS)."""
    if view not in _ANATOMY:
        raise ValueError(f"unknown view {view!r}; expected one of {OTHER_VIEWS}")
    rng = np.random.default_rng(seed)
    params = sample_case(rng, height=height, width=width, n_frames=n_frames, fps=fps)
    anatomy = _ANATOMY[view](params, rng)
    renderer = Renderer(params, None, rng)
    frames = np.stack([renderer.frame(anatomy(index / params.fps), rng) for index in range(n_frames)])
    return frames, renderer.sector
