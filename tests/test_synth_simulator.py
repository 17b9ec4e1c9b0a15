"""The A4C simulator: reproducible, with truth that matches its own images, and heart-like motion.

The simulator's look (brightness, textures, parameter ranges) is tuned over time, so these tests
check behaviour that any tuning must keep, never particular grey values.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
import pytest

from distill.datasets.tracings import mask_from_tracing, tracing_from_contour
from distill.synth.cycle import filling_state, make_beats
from distill.synth.simulator import SyntheticCine, simulate

SEEDS = range(10)
LONG = {"n_frames": 120, "fps": 30.0, "height": 64, "width": 64}  # 4 s: several beats at any rate
LONG_SEEDS = (0, 1, 2)


@cache
def cine(seed: int, n_frames: int = 2, fps: float | None = None, height: int = 112,
         width: int = 112) -> SyntheticCine:
    """One simulated clip, made once per test session (tests only read it)."""
    return simulate(seed, height=height, width=width, n_frames=n_frames, fps=fps)


def long_cine(seed: int) -> SyntheticCine:
    return cine(seed, **LONG)


def events(c: SyntheticCine) -> list[tuple[int, str]]:
    """ED and ES frames in time order."""
    return sorted([(f, "ED") for f in c.ed_frames] + [(f, "ES") for f in c.es_frames])


def disc(diameter: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (diameter, diameter))


def grow(mask: np.ndarray, diameter: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), disc(diameter)).astype(bool)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def axis_length_and_width(c: SyntheticCine, frame: int) -> tuple[float, float]:
    """Apex → mid-annulus distance, and the contour's extent across that axis (pixels)."""
    apex, septal, lateral = c.landmarks[frame].astype(np.float64)
    axis = (septal + lateral) / 2 - apex
    length = float(np.hypot(*axis))
    normal = np.array([-axis[1], axis[0]]) / length
    across = c.contours[frame].astype(np.float64) @ normal
    return length, float(across.max() - across.min())


# --- determinism -------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [5, [0, 3]])  # an int, and the [seed, index] form generate uses
def test_same_seed_gives_identical_cines(seed) -> None:
    first = simulate(seed, height=64, width=64, n_frames=6)
    second = simulate(seed, height=64, width=64, n_frames=6)
    assert first.frames.dtype == np.uint8 and first.masks.dtype == bool
    assert np.array_equal(first.frames, second.frames)
    assert np.array_equal(first.masks, second.masks)
    assert np.array_equal(first.volumes_ml, second.volumes_ml)
    assert first.params == second.params
    assert (first.ed_frames, first.es_frames, first.ef) == (second.ed_frames, second.es_frames, second.ef)


@pytest.mark.parametrize("seed, other", [(5, 6), ([0, 3], [0, 4])])
def test_different_seeds_give_different_cines(seed, other) -> None:
    first = simulate(seed, height=64, width=64, n_frames=6)
    second = simulate(other, height=64, width=64, n_frames=6)
    assert not np.array_equal(first.frames, second.frames)
    assert not np.array_equal(first.masks, second.masks)
    assert first.params != second.params


# --- truth against geometry --------------------------------------------------------------------

def test_masks_lie_inside_the_sector_and_outside_it_the_image_is_black() -> None:
    for seed in SEEDS:
        c = cine(seed)
        assert c.sector.shape == c.frames.shape[1:] and c.sector.dtype == bool
        assert c.masks.any(axis=(1, 2)).all(), f"seed {seed}: an empty LV mask"
        assert not (c.masks & ~c.sector).any(), f"seed {seed}: LV mask outside the sector"
        outside = ~c.sector
        assert outside.sum() > 0.1 * outside.size  # a sector, not a full frame
        assert (c.frames[:, outside] == 0).all(), f"seed {seed}: signal outside the sector"
        assert c.frames[:, c.sector].mean() > 5, f"seed {seed}: an empty sector"


def test_the_lv_lies_right_of_the_sector_midline() -> None:
    """Apical four-chamber view as displayed: LV on the image right, RV on the left."""
    right = 0
    for seed in SEEDS:
        c = cine(seed)
        lv_x = np.nonzero(c.masks[0])[1].mean()
        sector_x = np.nonzero(c.sector)[1].mean()
        right += lv_x > sector_x
    assert right >= 8, f"the LV lies right of the sector midline in only {right} of {len(SEEDS)} cases"


def test_ef_is_plausible_and_agrees_with_edv_and_esv() -> None:
    efs = []
    for seed in SEEDS:
        c = cine(seed)
        assert 10.0 <= c.ef <= 90.0, f"seed {seed}: EF {c.ef:.1f} %"
        assert 0 < c.esv_ml < c.edv_ml < 400
        # ef is the mean of per-beat EFs, edv/esv the means of per-beat volumes: close, not equal
        assert c.ef == pytest.approx(100.0 * (c.edv_ml - c.esv_ml) / c.edv_ml, abs=3.0), f"seed {seed}"
        efs.append(c.ef)
    assert max(efs) - min(efs) > 15, f"EFs barely vary: {efs}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", LONG_SEEDS)
def test_ed_and_es_frames_are_the_volume_and_area_extremes(seed) -> None:
    c = long_cine(seed)
    volumes, areas = c.volumes_ml.astype(np.float64), c.masks.sum(axis=(1, 2)).astype(np.float64)
    order = events(c)
    assert len(c.ed_frames) >= 2 and len(c.es_frames) >= 2
    kinds = [kind for _, kind in order]
    assert all(a != b for a, b in zip(kinds, kinds[1:])), f"ED and ES do not alternate: {order}"
    assert np.corrcoef(volumes, areas)[0, 1] > 0.95  # the masks are the volumes' contour
    for i, (frame, kind) in enumerate(order):
        # between the neighbouring events; the extreme may fall on the next frame (1-frame tolerance)
        window = slice(order[i - 1][0] if i else 0, order[i + 1][0] + 1 if i + 1 < len(order) else len(volumes))
        near = slice(max(frame - 1, 0), frame + 2)
        for name, values, tolerance in (("volume", volumes, 1e-4), ("area", areas, 0.03)):
            if kind == "ED":
                assert values[near].max() >= (1 - tolerance) * values[window].max(), f"{name} at ED {frame}"
                assert values[frame] >= 0.9 * values[window].max(), f"{name} at ED {frame}"
            else:
                assert values[near].min() <= (1 + tolerance) * values[window].min(), f"{name} at ES {frame}"
                assert values[frame] <= 1.1 * values[window].min(), f"{name} at ES {frame}"
    for ed in c.ed_frames:  # ED volumes are about the reported EDV (beats vary a little)
        assert volumes[ed] == pytest.approx(c.edv_ml, rel=0.15)
    for es in c.es_frames:
        assert volumes[es] == pytest.approx(c.esv_ml, rel=0.25)


@pytest.mark.slow
@pytest.mark.parametrize("seed", LONG_SEEDS)
def test_number_of_beats_follows_the_heart_rate(seed) -> None:
    c = long_cine(seed)
    assert c.fps == 30.0 and c.frames.shape == (120, 64, 64)
    expected = (120 - 1) / 30.0 * c.params.heart_rate_bpm / 60.0
    assert abs(len(c.ed_frames) - expected) <= 1.0, (c.ed_frames, expected)
    assert abs(len(c.es_frames) - expected) <= 1.0, (c.es_frames, expected)


# --- physiology --------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", LONG_SEEDS)
def test_systole_shortens_and_narrows_the_lv_unevenly(seed) -> None:
    """From ED to the following ES the long axis shortens and the walls move in, by different
    fractions: the LV is not a scaled ellipse."""
    c = long_cine(seed)
    ed = c.ed_frames[0]
    es = next(frame for frame in c.es_frames if frame > ed)
    length_ed, width_ed = axis_length_and_width(c, ed)
    length_es, width_es = axis_length_and_width(c, es)
    length_ratio, width_ratio = length_es / length_ed, width_es / width_ed
    assert length_ratio < 0.97, f"the long axis barely shortens: {length_ratio:.3f}"
    assert width_ratio < 0.97, f"the LV barely narrows: {width_ratio:.3f}"
    assert abs(length_ratio - width_ratio) > 0.03, (length_ratio, width_ratio)


@pytest.mark.slow
def test_ejection_is_shorter_than_filling_in_a_simulated_clip() -> None:
    """At rest (RR ≥ 0.8 s) systole takes well under half the beat."""
    checked = 0
    for seed in range(40):
        if cine(seed, fps=30.0, height=48, width=48).params.heart_rate_bpm > 70:
            continue  # the clip's parameters do not depend on its length
        c = long_cine(seed)
        order = events(c)
        for (ed, a), (es, b), (next_ed, d) in zip(order, order[1:], order[2:]):
            if (a, b, d) == ("ED", "ES", "ED") and (next_ed - ed) / c.fps >= 0.8:
                assert es - ed < next_ed - es, (seed, ed, es, next_ed)
                checked += 1
        if checked >= 2:
            break
    assert checked >= 2, "no slow-rate clip with a whole beat among 40 seeds"


@pytest.mark.parametrize("rate", [40, 55, 70, 80])
def test_ejection_is_shorter_than_filling_below_80_bpm(rate) -> None:
    for seed in range(10):
        beats = make_beats(np.random.default_rng(seed), heart_rate_bpm=rate, ef=0.6, hrv=0.0,
                           ef_variation=0.0, start_phase=0.0, duration_s=2.0)
        for beat in beats:
            assert beat.rr == pytest.approx(60.0 / rate)
            assert beat.es_offset < beat.rr - beat.es_offset, (seed, beat)


def sample_beat(beat, step: float = 0.001) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = beat.start + np.arange(0.0, beat.rr, step)
    v, opening = np.array([filling_state(beat, x) for x in t]).T
    return t - beat.start, v, opening


def test_volume_curve_phases_at_a_slow_rate() -> None:
    """HR 50: ED (v = 1) → ejection → ES (v = 0) → E wave → diastasis → A wave → ED."""
    beats = make_beats(np.random.default_rng(1), heart_rate_bpm=50, ef=0.6, hrv=0.0, ef_variation=0.0,
                       start_phase=0.0, duration_s=3.0)
    assert len(beats) >= 2 and beats[0].start == 0.0
    beat = beats[0]
    t, v, opening = sample_beat(beat)
    es = beat.es_offset
    assert v[0] == 1.0 and filling_state(beat, es + 1e-4)[0] == pytest.approx(0.0, abs=1e-6)
    assert filling_state(beat, es - 1e-4)[0] == pytest.approx(0.0, abs=0.01)
    assert filling_state(beat, beat.rr - 1e-4)[0] == pytest.approx(1.0, abs=0.01)
    systole, diastole = t <= es, t > es
    assert (np.diff(v[systole]) <= 1e-12).all() and (np.diff(v[diastole]) >= -1e-12).all()
    assert (opening[systole] == 0).all(), "the mitral valve opens during systole"
    assert opening[diastole].max() > 0.5, "the mitral valve never opens"
    assert es < beat.rr - es

    # two filling steps with a slow section between: a 150 ms stretch, after at least 40 % of the
    # stroke has refilled (E wave), that adds under 5 %, and at least 10 % still to come (A wave)
    window = 150
    rise = v[window:] - v[:-window]
    plateau = (rise < 0.05) & (v[:-window] >= 0.4) & (v[window:] <= 0.9) & diastole[:-window]
    assert plateau.any(), "no diastasis between the E and A waves"
    start = int(np.argmax(plateau))
    e_rise = v[start] - 0.0
    a_rise = 1.0 - v[start + window]
    assert e_rise >= 0.4 and a_rise >= 0.1
    assert opening[start + window // 2] < opening[diastole].max(), "leaflets do not drift shut in diastasis"


def test_fast_rate_fuses_e_and_a_waves() -> None:
    """At 150 bpm diastole is too short for a diastasis: filling never stalls for 100 ms."""
    beat = make_beats(np.random.default_rng(2), heart_rate_bpm=150, ef=0.6, hrv=0.0, ef_variation=0.0,
                      start_phase=0.0, duration_s=1.0)[0]
    t, v, _ = sample_beat(beat)
    filling = (t > beat.es_offset) & (v > 0.05) & (v < 0.95)
    window = 100
    rise = v[window:] - v[:-window]
    assert not ((rise < 0.05) & filling[:-window] & filling[window:]).any()


# --- appearance --------------------------------------------------------------------------------

def test_blood_is_darker_than_the_myocardium_around_it() -> None:
    cavity_sum = ring_sum = 0.0
    for seed in range(6):
        c = cine(seed)
        frame = c.frames[0].astype(np.float64)
        mask = c.masks[0]
        cavity = cv2.erode(mask.astype(np.uint8), disc(5)).astype(bool)
        ring = grow(mask, 7) & ~mask & c.sector
        assert cavity.sum() > 50 and ring.sum() > 50
        cavity_mean, ring_mean = frame[cavity].mean(), frame[ring].mean()
        assert ring_mean > cavity_mean, f"seed {seed}: blood {cavity_mean:.1f} ≥ wall {ring_mean:.1f}"
        cavity_sum += cavity_mean
        ring_sum += ring_mean
    assert ring_sum >= 1.5 * cavity_sum, (ring_sum, cavity_sum)


# --- variety and sizes -------------------------------------------------------------------------

def test_cases_vary() -> None:
    cases = [cine(seed) for seed in range(8)]
    fps = {c.fps for c in cases}
    rates = [c.params.heart_rate_bpm for c in cases]
    depths = [c.params.depth_cm for c in cases]
    assert len(fps) >= 3, fps
    assert all(15 <= f <= 150 for f in fps)
    assert max(rates) - min(rates) >= 20 and all(30 <= r <= 200 for r in rates)
    assert max(depths) - min(depths) >= 1.0
    assert len({c.params.quality for c in cases}) >= 2
    assert len({round(c.cm_per_px, 6) for c in cases}) == len(cases)
    lv_areas = [c.masks[0].sum() for c in cases]
    assert max(lv_areas) > 1.2 * min(lv_areas)


@pytest.mark.parametrize("height, width", [(96, 128), (64, 64), (112, 80)])
def test_frame_sizes_are_honoured(height, width) -> None:
    c = cine(3, height=height, width=width)
    assert c.frames.shape == c.masks.shape == (2, height, width)
    assert c.sector.shape == (height, width) and c.volumes_ml.shape == (2,)
    assert c.landmarks.shape == (2, 3, 2) and c.contours.shape[0] == 2
    assert (c.params.height, c.params.width) == (height, width)
    assert c.masks.any() and not (c.masks & ~c.sector).any()
    points = c.contours.reshape(-1, 2)
    assert (points[:, 0] > -1).all() and (points[:, 0] < width).all()
    assert (points[:, 1] > -1).all() and (points[:, 1] < height).all()
    assert 8.0 < c.cm_per_px * height < 35.0, "the image height is not a plausible scan depth"


@pytest.mark.parametrize("seed", range(5))
def test_tracing_of_the_truth_contour_gives_back_the_truth_mask(seed) -> None:
    """EchoNet's trace → mask rule applied to the simulator's tracing reproduces its mask."""
    c = cine(seed)
    for i in range(len(c.frames)):
        apex, septal, lateral = c.landmarks[i]
        rows = tracing_from_contour(c.contours[i], apex, (septal, lateral))
        assert rows.shape == (21, 4)
        mask = mask_from_tracing(rows, c.masks[i].shape)
        assert dice(mask, c.masks[i]) >= 0.9, f"seed {seed} frame {i}"


def test_a_two_chamber_view_has_no_right_heart_and_keeps_the_lv_truth() -> None:
    from distill.synth.anatomy import Heart
    from distill.synth.cycle import make_beats
    from distill.synth.params import sample_case, two_chamber

    def blood_pools(params) -> int:
        beats = make_beats(np.random.default_rng(0), heart_rate_bpm=params.heart_rate_bpm, ef=params.ef,
                           hrv=0.0, ef_variation=0.0, start_phase=0.0, duration_s=1.0)
        return sum(shape.blood for shape in Heart(params, beats, np.random.default_rng(1)).state(0.1).shapes)

    four = sample_case(np.random.default_rng(5), height=112, width=112, n_frames=8)
    two = two_chamber(four, np.random.default_rng(6))
    assert (four.view, two.view) == ("A4C", "A2C")
    assert blood_pools(four) - blood_pools(two) >= 2  # no right atrium, no right ventricle
    cine = simulate(5, n_frames=8, adjust=lambda params: two_chamber(params, np.random.default_rng(6)))
    assert cine.params.view == "A2C" and cine.masks.any(axis=(1, 2)).all()
    assert np.array_equal(simulate(5, n_frames=8).frames, simulate(5, n_frames=8).frames)  # four-chamber untouched
