"""The cardiac cycle: beat schedule, LV volume curve and valve opening over time.

Each beat starts at end-diastole (ED, mitral closure) and runs through isovolumic contraction,
ejection (ending at end-systole, ES), isovolumic relaxation, rapid filling (E wave), diastasis and
the atrial kick (A wave) up to the next ED. Phase durations follow the heart rate as physiology
does: ejection time from Weissler's LVET regression, diastole absorbing what is left, with E and A
fused when diastole gets short (tachycardia).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CardiacCycle:
    """One beat's cardiac cycle in clip time (seconds): ED at ``start``, ES at ``start + es_offset``.

    (The measured beat of a cine is :class:`echoviewer.analysis.measurements.Beat`.)"""

    start: float
    rr: float
    ef: float  # fraction, this beat's ejection fraction
    ivc: float
    ejection: float
    ivr: float
    e_wave: float
    a_wave: float
    e_fill: float  # fraction of the stroke refilled by the E wave and diastasis
    ejection_shape: float

    @property
    def es_offset(self) -> float:
        return self.ivc + self.ejection


def _smooth(x: float | np.ndarray) -> np.ndarray | np.floating:
    """0 → 1 with zero slope at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def make_beats(rng: np.random.Generator, *, heart_rate_bpm: float, ef: float, hrv: float,
               ef_variation: float, start_phase: float, duration_s: float) -> list[CardiacCycle]:
    """Beats covering ``[0, duration_s]``; the clip starts ``start_phase`` (0-1) into the first beat."""
    beats: list[CardiacCycle] = []
    rr_mean = 60.0 / heart_rate_bpm
    t = -start_phase * rr_mean
    while t <= duration_s + 1e-9:
        rr = rr_mean * float(np.clip(1.0 + hrv * rng.standard_normal(), 0.7, 1.3))
        hr = 60.0 / rr
        lvet = float(np.clip((413.0 - 1.7 * hr) / 1000.0 * rng.uniform(0.9, 1.1), 0.16, 0.45))
        ivc, ivr = rng.uniform(0.025, 0.06), rng.uniform(0.05, 0.1)
        lvet = min(lvet, 0.5 * rr - ivc)
        diastole = rr - ivc - lvet - ivr
        if diastole < 0.12:  # very fast rates: shorten the isovolumic phases first
            ivr = ivc = 0.02
            diastole = rr - ivc - lvet - ivr
        e_wave, a_wave = rng.uniform(0.12, 0.2), rng.uniform(0.08, 0.14)
        if e_wave + a_wave > diastole:  # E/A fusion: no diastasis, both compressed
            scale = diastole / (e_wave + a_wave)
            e_wave, a_wave = e_wave * scale, a_wave * scale
        beat_ef = float(np.clip(ef * (1.0 + ef_variation * rng.standard_normal()), 0.05, 0.9))
        beats.append(CardiacCycle(start=t, rr=rr, ef=beat_ef, ivc=ivc, ejection=lvet, ivr=ivr,
                                  e_wave=e_wave, a_wave=a_wave, e_fill=rng.uniform(0.6, 0.85),
                                  ejection_shape=rng.uniform(0.65, 0.9)))
        t += rr
    return beats


def beat_at(beats: list[CardiacCycle], t: float) -> CardiacCycle:
    for beat in reversed(beats):
        if beat.start <= t:
            return beat
    return beats[0]


def filling_state(beat: CardiacCycle, t: float) -> tuple[float, float]:
    """``(v, mitral_open)`` at clip time ``t``: v = 1 at ED, 0 at ES; opening 0 (shut) to 1."""
    x = t - beat.start
    ejection_end = beat.ivc + beat.ejection
    filling_start = ejection_end + beat.ivr
    a_start = beat.rr - beat.a_wave
    if x < beat.ivc:
        return 1.0, 0.0
    if x < ejection_end:
        xi = (x - beat.ivc) / beat.ejection
        return float(1.0 - _smooth(xi ** beat.ejection_shape)), 0.0
    if x < filling_start:
        return 0.0, 0.0
    diastasis_level = beat.e_fill + 0.07 * (1.0 - beat.e_fill)
    if x < filling_start + beat.e_wave:
        xi = (x - filling_start) / beat.e_wave
        opening = float(min(1.0, 3.0 * xi))
        return float(beat.e_fill * (1.0 - (1.0 - xi) ** 2)), opening
    if x < a_start:  # diastasis: slow filling, leaflets drift half shut
        span = max(a_start - filling_start - beat.e_wave, 1e-6)
        xi = (x - filling_start - beat.e_wave) / span
        v = beat.e_fill + (diastasis_level - beat.e_fill) * xi
        return float(v), float(1.0 - 0.5 * _smooth(3.0 * xi))
    xi = (x - a_start) / beat.a_wave
    v = diastasis_level + (1.0 - diastasis_level) * float(_smooth(xi))
    opening = 0.5 + 0.4 * float(_smooth(2.5 * xi)) if xi < 0.7 else 0.9 * (1.0 - xi) / 0.3
    return float(v), float(max(opening, 0.0))


def event_frames(beats: list[CardiacCycle], fps: float, n_frames: int) -> tuple[list[int], list[int]]:
    """Frame indices of every ED (largest LV) and ES (smallest LV) of the beats inside the clip.

    Each event is the frame with the extreme volume among those from one frame before its instant
    to the end of the isovolumic plateau that follows it (the earliest on a tie), so the truth
    agrees with the largest/smallest-LV definition that a clip without ECG allows.
    """
    ed: list[int] = []
    es: list[int] = []
    for beat in beats:
        for instant, plateau, out, sign in ((beat.start, beat.ivc, ed, 1.0),
                                            (beat.start + beat.es_offset, beat.ivr, es, -1.0)):
            first = max(int(np.ceil((instant - 1.0 / fps) * fps - 1e-9)), 0)
            last = min(int(np.floor((instant + plateau) * fps + 1e-9)), n_frames - 1)
            if first > last or not -0.5 <= instant * fps <= n_frames - 0.5:
                continue
            candidates = range(first, last + 1)
            volumes = [sign * filling_state(beat_at(beats, index / fps), index / fps)[0] for index in candidates]
            out.append(candidates[int(np.argmax(np.round(volumes, 9)))])
    return sorted(set(ed)), sorted(set(es))
