"""A predicted LV mask scored against a human reference, and the summaries of many such scores.

All on the native image's pixel grid (the reference's), boolean (H, W) masks:

* **Dice** 2|P ∩ R| / (|P| + |R|) (:func:`echoviewer.analysis.quality.dice_per_frame`; 0 for an
  empty prediction against a non-empty reference);
* **HD95** (px): the symmetric 95th-percentile Hausdorff distance. The boundary of a mask is its
  pixels with a 4-neighbour outside it (the image border counts as outside); the distances from
  every boundary pixel of P to the nearest boundary pixel of R and from every boundary pixel of R
  to the nearest of P (``scipy.ndimage.distance_transform_edt``) are pooled, and their 95th
  percentile is HD95 (MedPy's ``hd95``). Both masks empty: 0; one of them empty: the image
  diagonal, the largest distance the image holds;
* **relative area error** (|P| − |R|) / |R|: positive when the prediction is too large; None for
  an empty reference.

Summaries group rows by view (A4C, A2C, or ``video`` for EchoNet) and phase (ED, ES): n, mean,
median and 10th percentile of each score, and the 90th percentile too for HD95 and area error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt

from echoviewer.analysis.quality import dice_per_frame

VIEW_ORDER = ("A4C", "A2C", "video")
PHASE_ORDER = ("ED", "ES")
# score → the statistics its summary reports
SUMMARISED = {"dice": ("mean", "median", "p10"),
              "hd95_px": ("mean", "median", "p10", "p90"),
              "area_error": ("mean", "median", "p10", "p90")}


def dice(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Dice of two boolean (H, W) masks (1 when both are empty)."""
    return float(dice_per_frame(predicted[None], reference[None])[0])


def boundary(mask: np.ndarray) -> np.ndarray:
    """The mask's pixels that have a 4-neighbour outside it or lie on the image border."""
    mask = np.asarray(mask, bool)
    return mask & ~binary_erosion(mask, border_value=0)


def hd95(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Symmetric 95th-percentile Hausdorff distance in pixels (see the module docstring)."""
    a, b = boundary(predicted), boundary(reference)
    if not a.any() and not b.any():
        return 0.0
    if not a.any() or not b.any():
        return float(np.hypot(*predicted.shape))
    to_b = distance_transform_edt(~b)[a]
    to_a = distance_transform_edt(~a)[b]
    return float(np.percentile(np.concatenate([to_b, to_a]), 95))


def area_error(predicted: np.ndarray, reference: np.ndarray) -> float | None:
    """(|P| − |R|) / |R|; None when the reference is empty."""
    reference_area = int(np.count_nonzero(reference))
    if reference_area == 0:
        return None
    return (int(np.count_nonzero(predicted)) - reference_area) / reference_area


def frame_scores(predicted: np.ndarray, reference: np.ndarray) -> dict[str, float | int | bool | None]:
    """Every score of one frame, with both areas (px) and whether the prediction was empty."""
    if predicted.shape != reference.shape:
        raise ValueError(f"prediction {predicted.shape} and reference {reference.shape} differ in shape")
    return {"dice": dice(predicted, reference), "hd95_px": hd95(predicted, reference),
            "area_error": area_error(predicted, reference),
            "area_px": int(np.count_nonzero(predicted)), "reference_area_px": int(np.count_nonzero(reference)),
            "empty_prediction": not predicted.any()}


def summary_statistics(values: Sequence[float], wanted: Iterable[str]) -> dict[str, float | None]:
    """``mean``, ``median``, ``pNN`` (NumPy's linear percentile) of the values; None without any."""
    array = np.asarray([v for v in values if v is not None], float)
    result: dict[str, float | None] = {}
    for name in wanted:
        if not array.size:
            result[name] = None
        elif name == "mean":
            result[name] = float(array.mean())
        elif name == "median":
            result[name] = float(np.median(array))
        else:
            result[name] = float(np.percentile(array, float(name[1:])))
    return result


def _order(value: str, order: tuple[str, ...]) -> tuple[int, str]:
    return (order.index(value) if value in order else len(order), value)


def summarize(rows: Sequence[dict]) -> list[dict]:
    """One summary per (view, phase) present in ``rows`` (dicts with view, phase and the scores)."""
    groups = sorted({(row["view"], row["phase"]) for row in rows},
                    key=lambda g: (_order(g[0], VIEW_ORDER), _order(g[1], PHASE_ORDER)))
    summaries = []
    for view, phase in groups:
        members = [row for row in rows if row["view"] == view and row["phase"] == phase]
        summary: dict = {"view": view, "phase": phase, "n": len(members),
                         "empty_predictions": sum(bool(row.get("empty_prediction")) for row in members)}
        for score, wanted in SUMMARISED.items():
            summary[score] = summary_statistics([row[score] for row in members], wanted)
        summaries.append(summary)
    return summaries


def _case_key(row: dict) -> str:
    """A row's case without its phase: ``patient0001_4CH_ED`` → ``patient0001_4CH``."""
    name, suffix = str(row["name"]), f"_{row['phase']}"
    return name[: -len(suffix)] if name.endswith(suffix) else name


def fac_agreement(rows: Sequence[dict]) -> list[dict]:
    """Per view, the fractional area change (ED − ES) / ED in % of every case scored at both phases,
    predicted against reference (Bland–Altman): n, both means, the bias (predicted − reference, in
    points) and its 95 % limits of agreement. FAC is what area-based EF follows, so a bias here is
    an EF bias."""
    by_case: dict[tuple[str, str], dict[str, dict]] = {}
    for row in rows:
        by_case.setdefault((row["view"], _case_key(row)), {})[row["phase"]] = row
    agreement = []
    for view in sorted({view for view, _ in by_case}, key=lambda v: _order(v, VIEW_ORDER)):
        pairs = [(phases["ED"], phases["ES"]) for (v, _), phases in by_case.items()
                 if v == view and {"ED", "ES"} <= set(phases)
                 and phases["ED"]["area_px"] > 0 and phases["ED"]["reference_area_px"] > 0]
        if not pairs:
            continue
        predicted = np.array([100 * (ed["area_px"] - es["area_px"]) / ed["area_px"] for ed, es in pairs])
        reference = np.array([100 * (ed["reference_area_px"] - es["reference_area_px"]) / ed["reference_area_px"]
                              for ed, es in pairs])
        difference = predicted - reference
        spread = float(difference.std(ddof=1)) if len(pairs) > 1 else 0.0
        bias = float(difference.mean())
        agreement.append({"view": view, "n": len(pairs), "reference_mean": float(reference.mean()),
                          "predicted_mean": float(predicted.mean()), "bias": bias,
                          "limits_of_agreement": [bias - 1.96 * spread, bias + 1.96 * spread]})
    return agreement
