"""The apical four-chamber (or two-chamber) heart at any instant, in centimetres.

Shapes are built in heart coordinates ``(u, v)``: ``u`` runs down the LV long axis from the LV
apex towards the base, ``v`` points to the image right (the LV lateral wall; the septum and the
right heart lie at negative ``v``). A pose (apex position, long-axis angle, rocking, breathing)
places them in probe coordinates ``(x, y)``: x to the image right, y in depth from the virtual
sector apex.

The LV moves as a real one does: the base descends towards a nearly still apex (longitudinal
shortening) while the walls move inwards and thicken (radial thickening), each by its own amount
per segment, so a beat is not a scaled ellipse. Volumes come from the single-plane method of disks
on the very contour that makes the truth mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from distill.datasets.tracings import tracing_from_contour
from distill.synth.cycle import CardiacCycle, beat_at, filling_state
from distill.synth.params import CaseParams

N_LEVELS = 40
# Levels along the LV from apex (0) to base (1), denser at both ends where the contour bends.
LEVELS = 0.5 - 0.5 * np.cos(np.pi * np.linspace(0.0, 1.0, N_LEVELS))
# Open leaflets point to the apex, slightly into the cavity, leaving the orifice between them.
MITRAL_OPEN = {"anterior": np.array([-1.0, 0.1]), "posterior": np.array([-1.0, -0.15])}
ATRIAL_WALL_CM = 0.25
TRICUSPID_OPEN = {"septal": np.array([-1.0, -0.1]), "anterior": np.array([-1.0, 0.15])}


@dataclass
class Shape:
    """A filled polygon in probe coordinates (cm) with its echogenicity (linear power)."""

    points: np.ndarray
    echogenicity: float
    blood: bool = False


@dataclass
class HeartState:
    shapes: list[Shape]  # in drawing order
    lv_contour: np.ndarray  # (N, 2) septal annulus → apex → lateral annulus, probe cm
    apex: np.ndarray  # (2,)
    annulus: np.ndarray  # (2, 2): septal, lateral hinge points
    volume_ml: float
    pose: tuple[np.ndarray, np.ndarray, np.ndarray]  # apex origin, e_u, e_v
    lv: dict  # the LV in heart coordinates (``Heart._lv``): the speckle follows its deformation


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.maximum(np.linalg.norm(vector, axis=-1, keepdims=True), 1e-9)


def _outward(curve: np.ndarray, side: float) -> np.ndarray:
    """Unit normals of an apex→base curve in (u, v), pointing away from the cavity.

    ``side`` is +1 for a curve on the cavity's right (larger v), -1 on its left.
    """
    tangent = np.gradient(curve, axis=0)
    normal = np.stack([-side * tangent[:, 1], side * tangent[:, 0]], axis=1)
    return _unit(normal)


def thick_polyline(points: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """Polygon of a polyline drawn ``width`` wide (width may vary per point)."""
    tangent = _unit(np.gradient(points, axis=0))
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    half = 0.5 * np.broadcast_to(np.asarray(width, float), (len(points),))[:, None]
    return np.concatenate([points + half * normal, (points - half * normal)[::-1]])


def ellipse(centre: np.ndarray, axis_u: float, axis_v: float, n: int = 24, rotation: float = 0.0) -> np.ndarray:
    """``n`` points of an ellipse with semi-axes ``axis_u``, ``axis_v``, turned by ``rotation`` (radians)."""
    angle = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    points = np.stack([axis_u * np.cos(angle), axis_v * np.sin(angle)], axis=1)
    if rotation:
        c, s = np.cos(rotation), np.sin(rotation)
        points = points @ np.array([[c, s], [-s, c]])
    return centre + points


def _hanging_chamber(hinge_left: np.ndarray, hinge_right: np.ndarray, width_ratio: float,
                     length: float, n: int = 28) -> np.ndarray:
    """Atrium outline below a valve annulus: from the left hinge round the far end to the right."""
    mid = 0.5 * (hinge_left + hinge_right)
    half = 0.5 * np.linalg.norm(hinge_right - hinge_left) * width_ratio
    phi = np.linspace(0.0, np.pi, n)
    return np.stack([mid[0] + length * np.sin(phi) ** 0.7, mid[1] - half * np.cos(phi)], axis=1)


def _leaflet(hinge: np.ndarray, closed_tip: np.ndarray, open_dir: np.ndarray, length: float,
             opening: float, thickness: float) -> np.ndarray:
    closed_dir = _unit(closed_tip - hinge)
    direction = _unit((1.0 - opening) * closed_dir + opening * _unit(open_dir))
    normal = np.array([-direction[1], direction[0]])
    along = np.linspace(0.0, 1.0, 6)[:, None]
    bow = 0.12 * length * np.sin(np.pi * along) * (0.3 + opening)
    points = hinge + along * length * direction + bow * normal
    return thick_polyline(points, thickness * (1.0 - 0.5 * along[:, 0]))


def disk_volume_ml(contour: np.ndarray, apex: np.ndarray, annulus: np.ndarray) -> float:
    """Single-plane method of disks (20 disks) on a contour in cm; mL = cm³."""
    rows = tracing_from_contour(contour, apex, (annulus[0], annulus[1]), n_chords=20)
    length = float(np.hypot(*(rows[0, 2:] - rows[0, :2])))
    diameters = np.hypot(rows[1:, 2] - rows[1:, 0], rows[1:, 3] - rows[1:, 1])
    return float(np.sum(np.pi / 4.0 * diameters ** 2) * length / len(diameters))


class Heart:
    """The case's heart; :meth:`state` gives its shapes at a time in the clip."""

    def __init__(self, params: CaseParams, beats: list[CardiacCycle], rng: np.random.Generator) -> None:
        self.p = params
        self.beats = beats
        s, h = LEVELS, np.asarray(params.shape_harmonics)
        harmonics = np.sin(np.pi * np.outer(s, np.arange(1, 4)))
        bullet = (1.0 - (1.0 - s) ** params.apex_bluntness) ** (1.0 / params.apex_bluntness)
        bullet = bullet * (1.0 - params.base_taper * s ** 3)
        self.profile_lateral = bullet * (1.0 + harmonics @ h[:3])
        self.profile_septal = bullet * (1.0 + harmonics @ h[3:]) * params.septal_width_ratio
        self.kinesis = 1.0 - params.hypokinesis * np.exp(-((s - params.hypokinetic_centre) / 0.2) ** 2)
        self.wall_profile = params.wall_cm * (0.55 + 0.45 * _smoothstep(s / 0.35))
        self.breathing_period = rng.uniform(3.0, 6.0)
        self.breathing_phase = rng.uniform(0.0, 2.0 * np.pi)
        self.papillary = [(rng.uniform(0.45, 0.7), rng.uniform(0.9, 1.5), rng.uniform(0.35, 0.6),
                           rng.uniform(0.5, 1.2)) for _ in range(params.n_papillary)]
        self.trabeculae = [(rng.uniform(0.05, 0.35), rng.choice([-1.0, 1.0]), rng.uniform(0.15, 0.4),
                            rng.uniform(0.05, 0.5)) for _ in range(params.n_trabeculae)]
        self.wall_patches = rng.lognormal(0.0, 0.45, size=(2, 5))
        self.interatrial_gap = rng.uniform(0.3, 0.7)
        ed = self._lv(1.0, beats[0].ef)
        self.leaflet_lengths = self._leaflet_lengths(ed)

    # --- the LV in heart coordinates -------------------------------------------------------------
    def _lv(self, v: float, ef: float) -> dict[str, Any]:  # arrays and floats, by key
        p = self.p
        volume_ratio = 1.0 - ef * (1.0 - v)
        long_ratio = 1.0 - p.long_shortening * ef * (1.0 - v)
        radial_ratio = float(np.sqrt(volume_ratio / long_ratio))
        length = p.lv_length_cm * long_ratio
        radial = 1.0 - (1.0 - radial_ratio) * self.kinesis
        u = LEVELS * length
        lateral = np.stack([u, p.lv_half_width_cm * self.profile_lateral * radial], axis=1)
        septal = np.stack([u, -p.lv_half_width_cm * self.profile_septal * radial], axis=1)
        thickening = 1.0 + p.wall_thickening * (ef / 0.6) * (1.0 - v) * self.kinesis
        wall = self.wall_profile * thickening
        return {"length": length, "lateral": lateral, "septal": septal, "wall": wall,
                "long_ratio": long_ratio, "radial_ratio": radial_ratio,
                "epi_lateral": lateral + wall[:, None] * _outward(lateral, 1.0),
                "epi_septal": septal + wall[:, None] * _outward(septal, -1.0)}

    def _mitral_closure(self, lv: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        hinge_s, hinge_l = lv["septal"][-1], lv["lateral"][-1]
        tenting = self.p.mitral_tenting_cm
        coaptation = 0.5 * (hinge_s + hinge_l) - np.array([tenting, 0.0])
        return hinge_s, hinge_l, coaptation

    def _leaflet_lengths(self, lv: dict) -> tuple[float, float]:
        hinge_s, hinge_l, coaptation = self._mitral_closure(lv)
        # the anterior leaflet is the longer one; both reach past the coaptation point
        return (1.3 * float(np.linalg.norm(coaptation - hinge_s)),
                1.08 * float(np.linalg.norm(coaptation - hinge_l)))

    def pose(self, t: float, v: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p = self.p
        breath = p.breathing_cm * np.sin(2.0 * np.pi * t / self.breathing_period + self.breathing_phase)
        origin = np.array([p.lv_apex_x_cm + 0.3 * breath, p.lv_apex_depth_cm + breath])
        angle = np.deg2rad(p.long_axis_deg + p.rock_deg * (1.0 - v))
        e_u = np.array([np.sin(angle), np.cos(angle)])
        e_v = np.array([np.cos(angle), -np.sin(angle)])
        return origin, e_u, e_v

    def filling(self, t: float) -> tuple[float, float, float]:
        """``(v, valve opening, beat EF)`` at clip time ``t``."""
        beat = beat_at(self.beats, t)
        v, opening = filling_state(beat, t)
        return v, opening, beat.ef

    def lv_profile(self, t: float) -> dict[str, Any]:
        v, _, ef = self.filling(t)
        return self._lv(v, ef)

    def _right_ventricle(self, lv: dict, v: float, ef: float) -> dict[str, np.ndarray]:
        """From its apex on the septum to the tricuspid annulus; the free wall moves in systole."""
        p = self.p
        levels = LEVELS >= p.rv_apex_level
        septal = lv["epi_septal"][levels]
        s_rv = (LEVELS[levels] - p.rv_apex_level) / (1.0 - p.rv_apex_level)
        width = p.rv_width_ratio * p.lv_half_width_cm * 2.0 * (1.0 - 0.3 * ef / 0.6 * (1.0 - v))
        profile = np.sqrt(1.0 - (1.0 - s_rv) ** 2) * (1.0 - 0.2 * s_rv ** 2)
        free = septal - np.stack([np.zeros_like(s_rv), width * profile], axis=1)
        hinge_level = lv["length"] - p.tricuspid_offset_cm
        return {"septal": septal, "free": free, "free_epi": free + p.rv_wall_cm * _outward(free, -1.0),
                "hinge_septal": np.array([hinge_level, np.interp(hinge_level, septal[:, 0], septal[:, 1])]),
                "hinge_free": free[-1]}

    def _atria(self, lv: dict, rv: dict) -> tuple[np.ndarray, np.ndarray]:
        """LA and RA outlines hanging from the annuli; they lengthen as the base descends."""
        p = self.p
        stretch = p.lv_length_cm - lv["length"]
        la = _hanging_chamber(lv["septal"][-1], lv["lateral"][-1], p.la_width_ratio, p.la_length_cm + stretch)
        ra = _hanging_chamber(rv["hinge_free"], rv["hinge_septal"], 1.05, p.ra_length_cm + 0.8 * stretch)
        return la, ra

    def _surroundings(self, lv: dict, rv: dict, la_wall: np.ndarray, ra_wall: np.ndarray) -> list[Shape]:
        """Tissue beyond the atria and the pericardium: bright in the far field, faint over the RV."""
        p = self.p
        lateral = lv["epi_lateral"][LEVELS >= 0.25]
        lateral_outer = lateral + 0.1 * _outward(lateral, 1.0)
        below = np.concatenate([la_wall[::-1][: 2 * len(la_wall) // 3], ra_wall[::-1][len(ra_wall) // 3:]])
        deep = np.array([[below[-1, 0] + 30.0, below[-1, 1]], [below[0, 0] + 30.0, below[0, 1]]])
        rv_outer = rv["free_epi"][::-1] - 0.1 * _outward(rv["free_epi"][::-1], 1.0)
        shapes = [Shape(np.concatenate([below, deep]), p.far_tissue_gain),
                  Shape(thick_polyline(np.concatenate([lateral_outer, below]), p.pericardium_cm), p.pericardium_gain)]
        if p.view == "A4C":
            shapes.append(Shape(thick_polyline(rv_outer, 0.5 * p.pericardium_cm), 0.3 * p.pericardium_gain))
        return shapes

    def _chambers(self, lv: dict, rv: dict, la: np.ndarray, ra: np.ndarray,
                  la_wall: np.ndarray, ra_wall: np.ndarray, blood: float) -> list[Shape]:
        """Atrial walls and blood, the RV, the LV myocardium (septum and lateral wall in patches,
        meeting at the apex) and the LV blood pool, in drawing order."""
        p = self.p
        # walls as open bands: nothing closes the atrium across its valve
        four_chamber = p.view == "A4C"  # a two-chamber view's plane misses the right heart
        la_wall_band = Shape(thick_polyline(0.5 * (la + la_wall), ATRIAL_WALL_CM), p.atrial_wall_gain)
        shapes = ([la_wall_band, Shape(thick_polyline(0.5 * (ra + ra_wall), ATRIAL_WALL_CM), 0.8 * p.atrial_wall_gain),
                   Shape(la, blood, blood=True), Shape(ra, blood, blood=True)] if four_chamber
                  else [la_wall_band, Shape(la, blood, blood=True)])
        if four_chamber:
            if p.interatrial_dropout > 0.5:  # the thin fossa ovalis often drops out
                gap_centre = 0.5 * (la[len(la) // 6] + ra[-len(ra) // 6 - 1])
                shapes.append(Shape(ellipse(gap_centre, 0.6 * self.interatrial_gap + 0.3, 0.4), blood, blood=True))
            # walls as bands from apex to base, so no myocardium closes a ventricle across its valve
            shapes += [Shape(np.concatenate([rv["free"], rv["free_epi"][::-1]]), p.rv_gain),
                       Shape(np.concatenate([rv["septal"][::-1], rv["free"][1:]]), blood, blood=True)]
        walls = ((lv["septal"], lv["epi_septal"], p.septum_gain), (lv["lateral"], lv["epi_lateral"], p.lateral_gain))
        for side, (endo, epi, gain) in enumerate(walls):
            for k, segment in enumerate(np.array_split(np.arange(N_LEVELS), 5)):
                segment = np.arange(max(segment[0] - 1, 0), segment[-1] + 1)
                band = np.concatenate([endo[segment], epi[segment][::-1]])
                shapes.append(Shape(band, gain * self.wall_patches[side, k]))
        shapes.append(Shape(np.concatenate([lv["septal"][::-1], lv["lateral"][1:]]), blood, blood=True))
        return shapes

    def _cavity_contents(self, lv: dict) -> list[Shape]:
        """Papillary muscles on the lateral wall and apical trabeculae (inside the traced cavity)."""
        shapes, length, lateral = [], lv["length"], lv["lateral"]
        # haze filling the apical third: slow flow and near-field clutter inside the traced cavity
        centre = np.array([0.16 * length, 0.5 * (np.interp(0.16, LEVELS, lateral[:, 1])
                                                 + np.interp(0.16, LEVELS, lv["septal"][:, 1]))])
        half_width = 0.5 * (np.interp(0.2, LEVELS, lateral[:, 1]) - np.interp(0.2, LEVELS, lv["septal"][:, 1]))
        haze = 10.0 ** (self.p.apical_haze_db / 10.0)
        shapes.append(Shape(ellipse(centre, 0.2 * length, 0.9 * half_width), haze, blood=True))
        for level, length_pm, width_pm, gain in self.papillary:
            anchor = np.array([level * length, np.interp(level, LEVELS, lateral[:, 1])])
            centre = anchor - np.array([0.0, 0.55 * width_pm + 0.1])
            shapes.append(Shape(ellipse(centre, 0.5 * length_pm * lv["long_ratio"], 0.5 * width_pm), gain))
        for level, side, size, gain in self.trabeculae:
            wall = lateral if side > 0 else lv["septal"]
            anchor = np.array([level * length, np.interp(level, LEVELS, wall[:, 1])])
            shapes.append(Shape(ellipse(anchor - np.array([0.0, side * 0.3 * size]), size, 0.6 * size, 10), gain))
        return shapes

    def _valves(self, lv: dict, rv: dict, opening: float) -> list[Shape]:
        """Mitral and tricuspid leaflets at ``opening`` and the bright mitral annulus."""
        p = self.p
        shapes = []
        hinge_s, hinge_l, coaptation = self._mitral_closure(lv)
        anterior, posterior = self.leaflet_lengths
        for hinge, length, open_dir in ((hinge_s, anterior, MITRAL_OPEN["anterior"]),
                                        (hinge_l, posterior, MITRAL_OPEN["posterior"])):
            shapes.append(Shape(_leaflet(hinge, coaptation, open_dir, length, opening, 0.22), p.valve_gain))
        tricuspid_mid = 0.5 * (rv["hinge_septal"] + rv["hinge_free"]) - np.array([0.2, 0.0])
        tricuspid = ((rv["hinge_septal"], TRICUSPID_OPEN["septal"]), (rv["hinge_free"], TRICUSPID_OPEN["anterior"]))
        for hinge, open_dir in tricuspid if p.view == "A4C" else ():
            length = 1.08 * float(np.linalg.norm(tricuspid_mid - hinge))
            shapes.append(Shape(_leaflet(hinge, tricuspid_mid, open_dir, length, opening, 0.18), 0.8 * p.valve_gain))
        # the fibrous mitral annulus: bright knots at the hinges, where the trace closes the cavity
        shapes += [Shape(ellipse(hinge, 0.3, 0.3, 12), p.valve_gain) for hinge in (hinge_s, hinge_l)]
        return shapes

    def state(self, t: float) -> HeartState:
        v, opening, ef = self.filling(t)
        lv = self._lv(v, ef)
        rv = self._right_ventricle(lv, v, ef)
        la, ra = self._atria(lv, rv)
        la_wall = la + ATRIAL_WALL_CM * _outward_closed(la)
        ra_wall = ra + ATRIAL_WALL_CM * _outward_closed(ra)
        blood = 10.0 ** (-self.p.blood_db / 10.0)
        shapes = (self._surroundings(lv, rv, la_wall, ra_wall)
                  + self._chambers(lv, rv, la, ra, la_wall, ra_wall, blood)
                  + self._cavity_contents(lv) + self._valves(lv, rv, opening))

        origin, e_u, e_v = self.pose(t, v)

        def to_probe(points: np.ndarray) -> np.ndarray:
            return origin + points[:, :1] * e_u + points[:, 1:2] * e_v

        for shape in shapes:
            shape.points = to_probe(shape.points)
        contour = to_probe(np.concatenate([lv["septal"][::-1], lv["lateral"][1:]]))
        apex, annulus = contour[N_LEVELS - 1], np.stack([contour[0], contour[-1]])
        return HeartState(shapes=shapes, lv_contour=contour, apex=apex, annulus=annulus,
                          volume_ml=disk_volume_ml(contour, apex, annulus), pose=(origin, e_u, e_v), lv=lv)


def _outward_closed(outline: np.ndarray) -> np.ndarray:
    """Normals of an open chamber outline pointing away from its centroid."""
    tangent = np.gradient(outline, axis=0)
    normal = _unit(np.stack([-tangent[:, 1], tangent[:, 0]], axis=1))
    flip = np.sum(normal * (outline - outline.mean(axis=0)), axis=1) < 0
    normal[flip] *= -1.0
    return normal
