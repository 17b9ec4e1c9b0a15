"""The bundled models on real echo, side by side: ``python -m distill realeval`` for the default
student and its chain's teacher (or the ``--models`` given), on human-labelled CAMUS frames and on
real cines without labels.

* Labelled: Dice (mean, median, 10th percentile), HD95 (median, 90th percentile, native px) and
  relative area error (median) per view and phase, through ``load_cine`` → ``analyze``; the
  fractional area change against the experts' per view (bias and 95 % limits, in points).
* Label-free, per cine: beats found, the area curve's periodicity (bpm, r), spike index and the
  basal edge's frame-to-frame motion (median, px); on the SonoSite cine, each beat's ED and ES pick
  against the mitral valve's closure and opening as read by eye (``VALVE_EVENTS``), and how far the
  area in the 5 frames before each closure rises above the area at closure (% of it: a leak into the
  atrium at atrial contraction rises and falls back before the valve shuts), beside the curve's own
  frame-to-frame jitter (90th percentile, %), the noise such a rise is weighed against.

Usage: ``python bench/real.py [--models M...] [--camus NPZ|FOLDER] [--cines PATH...] [--json OUT]``. By default
``../shared/real/camus/camus_val.npz`` (beside the repository) and the cines of
``../shared/real/dicom/`` plus ``color3d_jpeg_baseline.dcm`` from pydicom-data. The real data is a
yardstick only: nothing here trains on it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import default_file  # bench/ is on sys.path when a script runs
from distill.datasets.labelled import open_labelled
from distill.errors import UsageError
from distill.label_free import closure_overshoot
from distill.realeval import aligned, cine_files, limits_text, number, percent, realeval
from echoviewer.analysis import DEFAULT_MODEL, load_model
from echoviewer.io.atomic import write_json
from echoviewer.resources import PARTNER

SHARED_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real"
DEFAULT_CAMUS = SHARED_REAL / "camus" / "camus_val.npz"
DEFAULT_CINES = SHARED_REAL / "dicom"
MODELS = (DEFAULT_MODEL, PARTNER[DEFAULT_MODEL])
# Valve events of pydicom-data's SonoSite apical four-chamber cine, read by eye on its frames (2.2×
# zoom on the mitral valve): the first frame in which the leaflets meet across the valve (mitral
# closure: end-diastole by the ASE convention) and the last frame before they part (end-systole).
VALVE_EVENTS = {"color3d_jpeg_baseline.dcm": {"ed": (21, 50, 76, 104), "es": (6, 33, 62, 87, 116)}}


def _pair(values: list[float | int | None], form: str) -> str:
    return " / ".join(number(v, form) for v in values)


LABELLED_COLUMNS = (("Dice mean", "dice", "mean", "{:.3f}"), ("Dice median", "dice", "median", "{:.3f}"),
                    ("Dice p10", "dice", "p10", "{:.3f}"), ("HD95 median px", "hd95_px", "median", "{:.1f}"),
                    ("HD95 p90 px", "hd95_px", "p90", "{:.1f}"),
                    ("area err median", "area_error", "median", "{:+.3f}"))


def labelled_table(reports: dict[str, dict]) -> str:
    summaries = {model: report["labelled"]["summary"] for model, report in reports.items()}
    first = next(iter(summaries.values()))
    rows = [["view", "phase", "n", *(label for label, *_ in LABELLED_COLUMNS)]]
    for index, group in enumerate(first):
        rows.append([group["view"], group["phase"], str(group["n"]),
                     *(_pair([summaries[m][index][score][stat] for m in summaries], form)
                       for _, score, stat, form in LABELLED_COLUMNS)])
    return "\n".join(aligned(rows))


def fac_table(reports: dict[str, dict]) -> str:
    agreement = {model: report["labelled"]["fac"] for model, report in reports.items()}
    rows = [["view", "n", "FAC experts %", "FAC model %", "bias (points)", "95 % limits"]]
    for index, view in enumerate(next(iter(agreement.values()))):
        per_model = [agreement[m][index] for m in agreement]
        rows.append([view["view"], str(view["n"]), f"{view['reference_mean']:.1f}",
                     _pair([a["predicted_mean"] for a in per_model], "{:.1f}"),
                     _pair([a["bias"] for a in per_model], "{:+.1f}"),
                     " / ".join(limits_text(a) for a in per_model)])
    return "\n".join(aligned(rows))


def cines_table(reports: dict[str, dict]) -> str:
    checked = {model: report["cines"]["checked"] for model, report in reports.items()}
    first = next(iter(checked.values()))
    rows = [["cine", "frames", "fps", "beats", "bpm", "period r", "spike", "basal median px"]]
    for index, cine in enumerate(first):
        per_model = [checked[m][index] for m in checked]
        rows.append([str(Path(cine["file"]).relative_to(Path(cine["file"]).parents[1])), str(cine["frames"]),
                     f"{cine['fps']:.4g}", _pair([c["beats"] for c in per_model], "{}"),
                     _pair([c["periodicity"]["bpm"] for c in per_model], "{:.0f}"),
                     _pair([c["periodicity"]["r"] for c in per_model], "{:.2f}"),
                     _pair([c["spike_index"] for c in per_model], "{:.3f}"),
                     _pair([c["basal_motion"]["median_px"] for c in per_model], "{:.1f}")])
    return "\n".join(aligned(rows))


def _offsets(picks: list[int], events: tuple[int, ...]) -> str:
    """Each valve event's nearest pick minus the event, in frames ("-" where no pick is within 5)."""
    out = []
    for event in events:
        nearest = min(picks, key=lambda pick: abs(pick - event), default=None)
        out.append("-" if nearest is None or abs(nearest - event) > 5 else f"{nearest - event:+d}")
    return " ".join(out)


def timing_table(reports: dict[str, dict]) -> str:
    """ED and ES picks against the valve events read by eye (VALVE_EVENTS), per model."""
    rows = [["cine", "model", "ED picks", "ED − closure", "ES picks", "ES − last closed", "rise before closure %",
             "jitter p90 %"]]
    for model, report in reports.items():
        for cine in report["cines"]["checked"]:
            events = VALVE_EVENTS.get(Path(cine["file"]).name)
            if events is not None:
                rows.append([Path(cine["file"]).name, model, " ".join(map(str, cine["ed_frames"])),
                             _offsets(cine["ed_frames"], events["ed"]), " ".join(map(str, cine["es_frames"])),
                             _offsets(cine["es_frames"], events["es"]),
                             " ".join(map(percent, closure_overshoot(cine["area_px"], events["ed"]))),
                             percent(cine["area_jitter"]["p90"])])
    return "\n".join(aligned(rows)) if len(rows) > 1 else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--camus", type=Path, default=DEFAULT_CAMUS, help=f"labelled data (default {DEFAULT_CAMUS})")
    parser.add_argument("--cines", type=Path, nargs="*", default=None,
                        help=f"cines without labels (default {DEFAULT_CINES} and color3d_jpeg_baseline.dcm)")
    parser.add_argument("--models", nargs="+", default=list(MODELS),
                        help=f"bundled names or .onnx files (default {' '.join(MODELS)})")
    parser.add_argument("--json", type=Path, help="write each model's realeval report")
    args = parser.parse_args()

    labelled = None
    if args.camus.exists():
        labelled = open_labelled(args.camus)
    else:
        print(f"no labelled data at {args.camus}: pass --camus PATH (a CAMUS .npz, a CAMUS NIfTI folder or "
              "an EchoNet folder with VolumeTracings.csv); see ../shared/real/README.md", file=sys.stderr)
    if args.cines is None:
        args.cines = ([DEFAULT_CINES] if DEFAULT_CINES.is_dir() else []) + [default_file()]
    files = cine_files(args.cines)
    if labelled is None and not files:
        return 1

    reports = {}
    for name in args.models:
        reports[name] = realeval(load_model(name), labelled, files)
        print(f"{name}: done", file=sys.stderr)
    print(f"values: {' / '.join(args.models)}\n")
    if labelled is not None:
        print(f"labelled: {labelled.root} ({labelled.layout}, {labelled.count} cases)")
        print(labelled_table(reports))
        print()
        print(fac_table(reports))
        for name, report in reports.items():
            for item in report["labelled"]["failed"]:
                print(f"{name} failed: {item['name']}: {item['error']}")
        print()
    if files:
        print("label-free checks")
        print(cines_table(reports))
        timing = timing_table(reports)
        if timing:
            print("\nED and ES against the mitral valve's closure and opening, read by eye (frames)")
            print(timing)
        for item in reports[args.models[0]]["cines"]["failed"]:
            print(f"not read: {item['file']}: {item['error']}")
    if args.json is not None:
        write_json(args.json, reports)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    except (UsageError, ValueError, OSError) as exc:  # a bad path or layout: one line
        raise SystemExit(f"error: {exc}") from None
