"""``python -m distill realeval``: a model on real echo, scored through the product's own path.

Every labelled frame or cine goes the way a user's file goes: ``echoviewer.io.load_cine`` →
``echoviewer.analysis.analyze(cine, load_model(M))`` → the native mask of the labelled frame
(``Segmentation.native_mask``: the model card's threshold on the soft mask brought back to the
cine's pixels). A single labelled frame (CAMUS) is first written as a one-frame ``.npz`` cine
(``frames`` (1, H, W) uint8, with ``cm_per_px`` when the file gives it) in a temporary folder, so
sector detection and the model view run as they do for a user. The layouts read are those of
:mod:`distill.datasets.labelled`; the scores (Dice, HD95 in native pixels, relative area error) and
their summaries per view and phase come from :mod:`distill.scores`. With ``--cines``, cines without
labels get the checks of :mod:`distill.label_free`. Prints a table; ``--json`` writes the rows,
the summaries and the checks. Needs no torch.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from distill.datasets.labelled import LabelledCase, LabelledSet, open_labelled
from distill.datasets.npz import save_npz
from distill.errors import UsageError
from distill.label_free import label_free_checks
from distill.progress import Progress
from distill.scores import fac_agreement, frame_scores, summarize
from echoviewer.analysis import DEFAULT_MODEL, analyze, load_model
from echoviewer.analysis.onnx_model import OnnxModel
from echoviewer.analysis.segmentation import ModelInfo
from echoviewer.io import Cine, CineLoadError, find_cines, load_cine
from echoviewer.io.atomic import write_json
from echoviewer.io.errors import one_line

DEFINITIONS = {
    "dice": "2|P∩R| / (|P|+|R|) on the native pixels; 0 for an empty prediction",
    "hd95_px": "95th percentile of the pooled boundary-to-boundary distances P→R and R→P (native px); "
               "the image diagonal when the prediction is empty",
    "area_error": "(|P| - |R|) / |R|; positive: the prediction is too large",
    "reference": "CAMUS label 1 (LV cavity); EchoNet: the VolumeTracings polygon on the video's grid",
    "periodicity": "r: the best Pearson correlation of the area curve with itself shifted by one period of "
                   "30-220 bpm (the viewer's aperiodic flag: below 0.3); lag and bpm: the highest local "
                   "maximum of its normalised autocorrelation at lags 0.3-2 s",
    "spike_index": "(max - median of the upper third of frames) / (max - min) of the area curve",
    "fac": "(ED area - ES area) / ED area in %, per case with both phases; bias: model minus reference, "
           "95 % limits: bias ± 1.96 SD (Bland-Altman)",
    "area_jitter": "|a(t) - (a(t-1) + a(t+1)) / 2| / a(t) of the area curve: median, 90th percentile",
    "area_px": "the LV area of every frame (native px), the curve the label-free checks read",
    "basal_motion": "frame-to-frame motion of the mask's two basal corners (native px): median, 90th pct",
}


def one_frame_cine(case: LabelledCase, folder: Path) -> Cine:
    """The case's single frame written as a one-frame ``.npz`` cine in ``folder`` and loaded."""
    assert case.image is not None
    arrays: dict[str, np.ndarray] = {"frames": case.image[None]}
    if case.cm_per_px is not None:
        arrays["cm_per_px"] = np.asarray(case.cm_per_px, float)
    path = save_npz(folder / f"{case.name}.npz", arrays, compress=False)
    try:
        return load_cine(path)
    finally:
        path.unlink()


def score_case(case: LabelledCase, model: OnnxModel, scratch: Path) -> list[dict]:
    """One row per labelled frame of the case; raises CineLoadError or ValueError."""
    cine = load_cine(case.path) if case.path is not None else one_frame_cine(case, scratch)
    segmentation = analyze(cine, model).segmentation
    rows = []
    for label in case.labels:
        if not 0 <= label.frame < segmentation.n_frames:
            raise ValueError(f"{case.name}: labelled frame {label.frame} is outside the cine's "
                             f"{segmentation.n_frames} frames")
        predicted = segmentation.native_mask(label.frame)
        rows.append({"name": case.name, "view": case.view, "phase": label.phase, "frame": label.frame,
                     **frame_scores(predicted, label.reference(predicted.shape))})
    return rows


def score_labelled(labelled: LabelledSet, model: OnnxModel, *, max_cases: int = 0,
                   progress: str = "none") -> tuple[list[dict], list[dict]]:
    """Rows of every labelled frame and the cases that failed ({"name", "error"})."""
    total = min(labelled.count, max_cases) if max_cases > 0 else labelled.count
    rows: list[dict] = []
    failed: list[dict] = []
    bar = Progress("realeval", total=total, mode=progress, unit="case")
    try:
        with tempfile.TemporaryDirectory(prefix="realeval-") as scratch:
            for index, (name, read) in enumerate(labelled.entries()):
                if index >= total:
                    break
                try:
                    rows.extend(score_case(read(), model, Path(scratch)))
                except (CineLoadError, ValueError) as exc:
                    failed.append({"name": name, "error": one_line(exc)})
                bar.advance()
    finally:
        bar.close()
    return rows, failed


def cine_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given and every cine under the folders given; UsageError for a path that is
    neither, or a folder without cines."""
    files = []
    for path in paths:
        if path.is_dir():
            try:
                found = find_cines(path)
            except CineLoadError as exc:
                raise UsageError(str(exc)) from None
            if not found:
                raise UsageError(f"{path}: no cine files in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(f"{path}: no such file or folder; give cines (DICOM, AVI/MP4, NPY/NPZ) or folders")
    return files


def check_cines(files: Sequence[Path], model: OnnxModel) -> tuple[list[dict], list[dict]]:
    """The label-free checks of each cine, and the files that could not be read."""
    checked, failed = [], []
    for path in files:
        try:
            analysis = analyze(load_cine(path), model)
        except CineLoadError as exc:
            failed.append({"file": str(path), "error": one_line(exc)})
            continue
        checked.append({"file": str(path), **label_free_checks(analysis)})
    return checked, failed


def realeval(model: OnnxModel, labelled: LabelledSet | None, cines: Sequence[Path] = (), *,
             max_cases: int = 0, progress: str = "none") -> dict:
    """The report: the model, the labelled data's rows and summaries, the cines' checks."""
    report: dict = {"model": asdict(ModelInfo.of(model)), "definitions": DEFINITIONS}
    if labelled is not None:
        rows, failed = score_labelled(labelled, model, max_cases=max_cases, progress=progress)
        report["labelled"] = {"path": str(labelled.root), "layout": labelled.layout, "cases": labelled.count,
                              "frames_scored": len(rows), "failed": failed,
                              "summary": summarize(rows), "fac": fac_agreement(rows), "rows": rows}
    if cines:
        checked, failed = check_cines(cines, model)
        report["cines"] = {"checked": checked, "failed": failed}
    return report


def number(value: float | int | None, form: str) -> str:
    """``form`` applied to the value, or '-' for None."""
    return "-" if value is None else form.format(value)


def percent(fraction: float | None) -> str:
    """A fraction as a percentage to one decimal (no sign), or '-' for None."""
    return number(None if fraction is None else 100 * fraction, "{:.1f}")


SUMMARY_COLUMNS = (("Dice mean", "dice", "mean", "{:.3f}"), ("median", "dice", "median", "{:.3f}"),
                   ("p10", "dice", "p10", "{:.3f}"),
                   ("HD95 mean", "hd95_px", "mean", "{:.1f}"), ("median", "hd95_px", "median", "{:.1f}"),
                   ("p90", "hd95_px", "p90", "{:.1f}"),
                   ("area err mean", "area_error", "mean", "{:+.3f}"),
                   ("median", "area_error", "median", "{:+.3f}"),
                   ("p10", "area_error", "p10", "{:+.3f}"), ("p90", "area_error", "p90", "{:+.3f}"))


def summary_table(summaries: Sequence[dict]) -> list[str]:
    """The per-view, per-phase summary as aligned text lines."""
    header = ["view", "phase", "n", *(label for label, *_ in SUMMARY_COLUMNS)]
    body = [[s["view"], s["phase"], str(s["n"]),
             *(number(s[score][stat], form) for _, score, stat, form in SUMMARY_COLUMNS)] for s in summaries]
    return aligned([header, *body])


def limits_text(agreement: dict) -> str:
    """A view's 95 % limits of agreement as text: ``-17.4 to +5.5``."""
    return "{:+.1f} to {:+.1f}".format(*agreement["limits_of_agreement"])


def fac_table(agreement: Sequence[dict]) -> list[str]:
    """Fractional area change against the reference, per view, as aligned text lines."""
    header = ["view", "n", "FAC ref %", "FAC model %", "bias (points)", "95 % limits"]
    body = [[a["view"], str(a["n"]), f"{a['reference_mean']:.1f}", f"{a['predicted_mean']:.1f}", f"{a['bias']:+.1f}",
             limits_text(a)] for a in agreement]
    return aligned([header, *body])


def checks_table(checked: Sequence[dict]) -> list[str]:
    """One line per cine: beats, periodicity, spike index, area jitter, basal motion."""
    header = ["cine", "frames", "fps", "ED", "ES", "beats", "period r", "lag", "bpm", "spike", "jitter p90 %",
              "basal med px", "basal p90 px"]
    body = []
    for c in checked:
        period, basal = c["periodicity"], c["basal_motion"]
        body.append([Path(c["file"]).name, str(c["frames"]), f"{c['fps']:.4g}", str(c["ed_found"]),
                     str(c["es_found"]), str(c["beats"]), number(period["r"], "{:.2f}"),
                     number(period["lag_frames"], "{}"), number(period["bpm"], "{:.0f}"),
                     number(c["spike_index"], "{:.3f}"),
                     percent(c["area_jitter"]["p90"]),
                     number(basal["median_px"], "{:.2f}"),
                     number(basal["p90_px"], "{:.2f}")])
    return aligned([header, *body])


def aligned(table: Sequence[Sequence[str]]) -> list[str]:
    """Rows of cells as text lines: the first column to the left, the others to the right."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths)))
            .rstrip() for row in table]


def text_report(report: dict) -> str:
    """What ``realeval`` prints."""
    model = report["model"]
    lines = [f"model: {model['name']} ({model['file']}, sha256 {model['sha256'][:12]})"]
    if "labelled" in report:
        labelled = report["labelled"]
        lines += ["", f"labelled: {labelled['path']} ({labelled['layout']}, {labelled['cases']} cases, "
                      f"{labelled['frames_scored']} frames scored, {len(labelled['failed'])} failed)"]
        lines += summary_table(labelled["summary"])
        if labelled["fac"]:
            lines += ["", "fractional area change (ED − ES) / ED, cases with both phases"] + fac_table(labelled["fac"])
        lines += [f"failed: {item['name']}: {item['error']}" for item in labelled["failed"]]
    if "cines" in report:
        lines += ["", "label-free checks"] + checks_table(report["cines"]["checked"])
        lines += [f"failed: {item['file']}: {item['error']}" for item in report["cines"]["failed"]]
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"a bundled model (default {DEFAULT_MODEL}) or FILE.onnx with its .json model card")
    parser.add_argument("--labelled", type=Path, metavar="PATH",
                        help="human-labelled frames: a CAMUS .npz, a CAMUS patientNNNN/ NIfTI folder or an "
                             "EchoNet-Dynamic folder with VolumeTracings.csv")
    parser.add_argument("--cines", type=Path, nargs="+", default=[], metavar="PATH",
                        help="cines (or folders of cines) without labels: label-free checks")
    parser.add_argument("--split", default="all", help="EchoNet split: TRAIN, VAL, TEST or all (default all)")
    parser.add_argument("--max-cases", type=int, default=0, help="score only the first N cases (0: all)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write the rows, summaries and checks")
    parser.add_argument("--progress", choices=("bar", "none"), default="bar")


def run(args: argparse.Namespace) -> int:
    if args.labelled is None and not args.cines:
        raise UsageError("nothing to score: give --labelled PATH and/or --cines PATH...")
    try:
        labelled = open_labelled(args.labelled, args.split) if args.labelled is not None else None
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(one_line(exc)) from exc
    files = cine_files(args.cines)
    report = realeval(load_model(args.model), labelled, files, max_cases=args.max_cases, progress=args.progress)
    print(text_report(report), end="")
    if args.json is not None:
        write_json(args.json, report)
    return 0
