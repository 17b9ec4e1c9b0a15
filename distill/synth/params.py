"""Random case parameters: the only place where the simulator's ranges live.

Every case draws its anatomy, motion, probe geometry and image formation settings here from one
seeded generator; the dataclass is plain data (JSON-serialisable with :func:`dataclasses.asdict`)
and is stored with the case's ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

QUALITY_LEVELS = ("good", "fair", "poor")


@dataclass(frozen=True)
class CaseParams:
    # clip
    height: int
    width: int
    n_frames: int
    fps: float
    # rhythm and function
    heart_rate_bpm: float
    ef: float  # target ejection fraction (fraction); the truth EF is measured on the masks' geometry
    hrv: float
    ef_variation: float
    start_phase: float
    # probe and field of view
    depth_cm: float
    half_angle_deg: float
    footprint_cm: float  # radius of the rounded sector top
    sector_radius_px: float
    apex_x_px: float
    apex_y_px: float
    tilt_deg: float
    # heart placement (cm, degrees; x to the image right, y in depth)
    lv_apex_x_cm: float
    lv_apex_depth_cm: float
    long_axis_deg: float
    rock_deg: float
    breathing_cm: float
    # LV shape and motion
    lv_length_cm: float
    lv_half_width_cm: float
    septal_width_ratio: float
    apex_bluntness: float
    base_taper: float
    shape_harmonics: tuple[float, ...]
    long_shortening: float  # longitudinal shortening per unit EF
    hypokinetic_centre: float  # position along the LV (0 apex, 1 base) of a weaker segment
    hypokinesis: float
    wall_cm: float
    wall_thickening: float
    n_papillary: int
    n_trabeculae: int
    # other chambers
    rv_width_ratio: float
    rv_apex_level: float
    rv_wall_cm: float
    la_length_cm: float
    la_width_ratio: float
    ra_length_cm: float
    tricuspid_offset_cm: float
    mitral_tenting_cm: float
    # echogenicity (linear power, myocardium = 1)
    blood_db: float
    septum_gain: float
    lateral_gain: float
    rv_gain: float
    valve_gain: float
    pericardium_gain: float
    pericardium_cm: float
    background_gain: float
    far_tissue_gain: float
    interatrial_dropout: float
    atrial_wall_gain: float
    edge_blur_cm: float
    texture_sd: float  # log-SD of the slow tissue brightness variation
    chest_wall_cm: float
    chest_wall_gain: float
    display_blur_cm: float  # scanner smoothing after scan conversion
    apical_haze_db: float  # slow-flow haze and clutter in the apical third of the LV, re myocardium
    # image formation
    axial_psf_cm: float
    lateral_psf_rad: float
    clutter_gain: float
    clutter_depth_cm: float
    reverberation_gain: float
    attenuation_db: float
    shadow_db: float
    noise_db: float
    dynamic_range_db: float
    gain_db: float
    gamma: float
    persistence: float
    tissue_decorrelation: float
    quality: str
    # the view: "A4C", or "A2C" (apical two-chamber: no right heart; the wall left of the LV is the
    # inferior wall, not the septum); drawn by :func:`two_chamber`, never by :func:`sample_case`
    view: str = "A4C"


def _pick_fps(rng: np.random.Generator) -> float:
    """EchoNet-Dynamic is mostly 50 fps; the rest spread over 20-100 fps (whole numbers, as AVI
    containers written by OpenCV store the rate)."""
    return 50.0 if rng.random() < 0.4 else float(rng.integers(20, 101))


def sample_case(rng: np.random.Generator, *, height: int, width: int,
                n_frames: int | tuple[int, int] = (32, 256), fps: float | None = None) -> CaseParams:
    """Draw one case. ``n_frames`` is a count or an inclusive range."""
    quality = QUALITY_LEVELS[int(rng.choice(3, p=[0.5, 0.35, 0.15]))]
    poor = {"good": 0.0, "fair": 0.5, "poor": 1.0}[quality]
    frames = n_frames if isinstance(n_frames, int) else int(rng.integers(n_frames[0], n_frames[1] + 1))
    ef = float(np.clip(rng.beta(3.0, 2.2) * 0.75 + 0.12, 0.15, 0.8))
    dilation = float(np.clip((0.55 - ef) / 0.4, 0.0, 1.0))  # low EF hearts are larger and rounder
    square = abs(height - width) <= 0.1 * max(height, width)
    if square:  # EchoNet-style crop: the sector fills the frame, apex at the top centre
        radius = rng.uniform(0.95, 1.15) * height
        apex_x, apex_y = width / 2 + rng.uniform(-0.03, 0.03) * width, rng.uniform(-0.04, 0.03) * height
    else:  # a scanner screen: the sector below a top margin, black around
        radius = rng.uniform(0.72, 0.84) * height
        apex_x, apex_y = width / 2 + rng.uniform(-0.05, 0.05) * width, rng.uniform(0.05, 0.1) * height
    lv_length = rng.uniform(7.0, 9.5) + 1.5 * dilation
    apex_depth, la_length = rng.uniform(1.5, 4.0), rng.uniform(3.5, 6.0)
    # deep enough to show the atria and the pericardium below them, most of the time
    depth = float(np.clip(apex_depth + lv_length + la_length + rng.uniform(0.0, 3.0), 13.0, 20.0))
    return CaseParams(
        height=height, width=width, n_frames=frames, fps=fps if fps else _pick_fps(rng),
        heart_rate_bpm=float(rng.uniform(40.0, 150.0)), ef=ef, hrv=float(rng.uniform(0.0, 0.06)),
        ef_variation=float(rng.uniform(0.0, 0.04)), start_phase=float(rng.random()),
        depth_cm=float(depth), half_angle_deg=float(rng.uniform(33.0, 50.0)),
        footprint_cm=float(rng.uniform(0.0, 0.8)), sector_radius_px=float(radius),
        apex_x_px=float(apex_x), apex_y_px=float(apex_y), tilt_deg=float(rng.uniform(-3.0, 3.0)),
        lv_apex_x_cm=float(rng.uniform(-0.6, 1.2)),
        lv_apex_depth_cm=float(apex_depth),
        long_axis_deg=float(rng.uniform(-4.0, 22.0)), rock_deg=float(rng.uniform(-4.0, 4.0)),
        breathing_cm=float(rng.uniform(0.0, 0.4)),
        lv_length_cm=float(lv_length),
        lv_half_width_cm=float(rng.uniform(2.3, 3.0) + 0.6 * dilation),
        septal_width_ratio=float(rng.uniform(0.75, 1.0)), apex_bluntness=float(rng.uniform(1.7, 2.8)),
        base_taper=float(rng.uniform(0.08, 0.3)),
        shape_harmonics=tuple(float(x) for x in rng.normal(0.0, 0.03, 6)),
        long_shortening=float(rng.uniform(0.22, 0.38)),
        hypokinetic_centre=float(rng.uniform(0.0, 1.0)),
        hypokinesis=float(rng.uniform(0.0, 0.8) * dilation),
        wall_cm=float(rng.uniform(0.6, 1.1)), wall_thickening=float(rng.uniform(0.2, 0.5)),
        n_papillary=int(rng.integers(0, 3)), n_trabeculae=int(rng.integers(0, 9)),
        rv_width_ratio=float(rng.uniform(0.45, 0.8)), rv_apex_level=float(rng.uniform(0.15, 0.4)),
        rv_wall_cm=float(rng.uniform(0.25, 0.5)), la_length_cm=float(la_length),
        la_width_ratio=float(rng.uniform(1.0, 1.4)), ra_length_cm=float(rng.uniform(3.0, 5.0)),
        tricuspid_offset_cm=float(rng.uniform(0.3, 1.0)),
        mitral_tenting_cm=float(rng.uniform(0.1, 0.4) + 0.4 * dilation),
        blood_db=float(rng.uniform(28.0, 48.0) - 12.0 * poor),
        septum_gain=float(rng.uniform(1.0, 3.0)), lateral_gain=float(rng.uniform(0.1, 0.8)),
        rv_gain=float(rng.uniform(0.5, 1.5)), valve_gain=float(rng.uniform(1.5, 5.0)),
        pericardium_gain=float(rng.uniform(3.0, 10.0)), pericardium_cm=float(rng.uniform(0.3, 0.9)),
        background_gain=float(rng.uniform(0.02, 0.25)), far_tissue_gain=float(rng.uniform(0.2, 1.0)),
        interatrial_dropout=float(rng.uniform(0.0, 1.0)), atrial_wall_gain=float(rng.uniform(0.15, 0.7)),
        edge_blur_cm=float(rng.uniform(0.05, 0.3)),
        texture_sd=float(rng.uniform(0.25, 0.7)), chest_wall_cm=float(rng.uniform(0.8, 2.5)),
        chest_wall_gain=float(rng.uniform(0.15, 1.0)),
        axial_psf_cm=float(rng.uniform(0.02, 0.05)), lateral_psf_rad=float(rng.uniform(0.01, 0.022)),
        clutter_gain=float(rng.uniform(0.02, 0.35) + 0.7 * poor * rng.random()),
        clutter_depth_cm=float(rng.uniform(1.0, 4.0) + 1.5 * poor),
        reverberation_gain=float(rng.uniform(0.0, 0.15) + 0.2 * poor),
        attenuation_db=float(rng.uniform(0.0, 12.0)),
        shadow_db=float(rng.uniform(0.0, 8.0) + 10.0 * poor * rng.random()),
        noise_db=float(rng.uniform(-42.0, -30.0) + 10.0 * poor),
        dynamic_range_db=float(rng.uniform(40.0, 60.0)), gain_db=float(rng.uniform(-4.0, 6.0)),
        gamma=float(rng.uniform(0.9, 1.6)), persistence=float(rng.uniform(0.0, 0.5)),
        tissue_decorrelation=float(rng.uniform(0.01, 0.08)), quality=quality,
        display_blur_cm=float(rng.uniform(0.0, 0.15)),
        apical_haze_db=float(rng.uniform(-35.0, -12.0) + 6.0 * poor),
    )


def two_chamber(p: CaseParams, rng: np.random.Generator) -> CaseParams:
    """``p`` as an apical two-chamber view: the probe turned about 60° from the four-chamber view, so
    the right heart leaves the plane, the inferior wall (as dim as the anterior one often is) takes
    the septum's place on the left, and the atrium shows without its partner."""
    return replace(p, view="A2C", septum_gain=float(rng.uniform(0.3, 1.5)),
                   septal_width_ratio=float(rng.uniform(0.85, 1.05)), la_width_ratio=float(rng.uniform(1.0, 1.3)),
                   long_axis_deg=float(rng.uniform(-6.0, 12.0)))


def hazy_cavity(p: CaseParams, rng: np.random.Generator) -> CaseParams:
    """``p`` with a bright, hazy blood pool, as many real scanners show it (CAMUS's cavities are 0.7-0.8
    of the wall's grey in the model view; the simulator's own range, tuned to darker cines, 0.3-0.5):
    less dark blood, apical haze near the myocardium's level, near-field clutter reaching the middle
    of the cavity and a higher gain."""
    return replace(p, blood_db=float(rng.uniform(6.0, 20.0)), apical_haze_db=float(rng.uniform(-14.0, -3.0)),
                   clutter_gain=float(p.clutter_gain + rng.uniform(0.1, 0.6)),
                   clutter_depth_cm=float(rng.uniform(3.0, 7.0)), gain_db=float(p.gain_db + rng.uniform(2.0, 8.0)))
