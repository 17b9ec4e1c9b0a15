"""``echoviewer analyze``: the analysis of cines or folders of cines, as text, JSON, CSV and masks."""

from __future__ import annotations

import argparse
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from echoviewer.analysis import BUNDLED, DEFAULT_MODEL, ModelLoadError, load_model
from echoviewer.analysis.onnx_model import OnnxModel
from echoviewer.analysis.biplane import Biplane, ViewDisks, pair_by_study
from echoviewer.analysis.report import (beats_csv_path, biplane_csv_path, mask_archive, write_beats_csv,
                                        write_biplane_csv, write_frames_csv, write_json)
from echoviewer.batch import (MASKS_MEMBER, Done, Failed, Job, OutputFolder, analysed, intra_op_threads,
                              open_client, outcomes, write_dicom)
from echoviewer.cli.errors import report_error
from echoviewer.io.atomic import same_file
from echoviewer.io.folder_lock import FolderBusy
from echoviewer.io.errors import one_line
from echoviewer.io import CineLoadError, find_cines
from echoviewer.user_data import Preferences, Pseudonyms

if TYPE_CHECKING:
    from distributed import Client

_EPILOG = """\
JSON (--json): {"cines": [...], "failed": [{"file", "error"}], "summary": {"files", "analysed",
"failed"}}; each cine has file, frames, frame_times_ms, fps, calibration, model (name, file,
sha256), units, area_px, area_cm2 (null when uncalibrated), ed_frames, es_frames, beats (per-beat
measurements), summary (mean, sd, n over beats), flags (code, severity, message, frames, beats),
view (apical_probability, not_apical, reason: the view gate; named, named_in: the apical view the
file names), volumes ("single-plane A4C" or A2C) and, with --compare, comparison (model,
per-frame Dice). "biplane" holds every A4C + A2C pair: the two files, per beat pair and summary
EDV, ESV, EF (biplane method of disks) and flags.
CSV (--csv OUT.csv): one row per frame in OUT.csv, one row per beat (then mean and sd rows) in
OUT_beats.csv, whose flags column names the warnings that concern each beat or the whole cine;
headers carry units (cm2, cm, mL; px2, px, px3 when uncalibrated).
OUT_biplane.csv: one row per beat pair of every A4C + A2C pair (then mean and sd), when any.
Masks (--masks OUT.npz): native boolean (T, H, W) LV masks, key <index>_<file stem>.
ED/ES are the largest/smallest LV area of each beat (no ECG). Per-cine volumes are single-plane
(A4C or A2C). Biplane pairs: an A4C and an A2C cine of one study (same StudyInstanceUID, or the
same file name but for the view: patient1_4CH / patient1_2CH), the view read from the header or the
name; or --pair A4C A2C. The k-th beat of one view is paired with the k-th of the other.

Exit status: 0 when every cine was analysed, 1 when any could not be read (each reason on stderr
and in the JSON), 2 for a bad command line or model."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="echoviewer analyze", epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Segment the LV on every frame, find ED and ES of every beat and measure areas,\n"
                    "FAC, long axis, single-plane volumes (method of disks, area-length), EF and\n"
                    "heart rate, with quality flags. Prints one line per cine.")
    parser.add_argument("paths", nargs="+", metavar="PATH",
                        help="cine files, or folders searched recursively for cines")
    parser.add_argument("--model", default=DEFAULT_MODEL, metavar="MODEL",
                        help=f"a bundled model ({', '.join(BUNDLED)}; default {DEFAULT_MODEL}) or an .onnx "
                             "file with its .json card")
    parser.add_argument("--compare", metavar="MODEL",
                        help="also run this model and flag frames where the two disagree (Dice < 0.8)")
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="write every result as JSON")
    parser.add_argument("--csv", type=Path, metavar="OUT.csv",
                        help="write per-frame rows here and per-beat rows to OUT_beats.csv")
    parser.add_argument("--masks", type=Path, metavar="OUT.npz", help="write native LV masks")
    parser.add_argument("--pseudonymise", action="store_true",
                        help="name each cine in the JSON, CSV and masks by a stable salted key (cine-<12 hex>), "
                             "not its file name (often a patient's); the key → path map stays on this machine "
                             "(pseudonyms.csv in the data folder)")
    parser.add_argument("--dicom-out", type=Path, metavar="DIR",
                        help="write a DICOM SEG (the LV masks) and SR (TID 1500 measurements) of each DICOM "
                             "cine into DIR, to send to its PACS (echoviewer pacs send)")
    parser.add_argument("--reader", metavar="NAME", default=None,
                        help="the reader's name to record in the JSON and CSV (default: the viewer's "
                             "preference, Edit ▸ Reader name…)")
    parser.add_argument("--pair", nargs=2, action="append", type=Path, default=[], metavar=("A4C", "A2C"),
                        help="these two files are the A4C and A2C views of one study: biplane volumes "
                             "(repeat for more pairs; each file is analysed if not already listed)")
    cohort = parser.add_argument_group("cohorts", "many cines: worker processes or a Dask cluster, a resumable "
                                       "output folder (README: Cohorts)")
    where = cohort.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive, metavar="N",
                       help="analyse in N local worker processes (a Dask local cluster)")
    where.add_argument("--cluster", metavar="ADDRESS",
                       help="analyse on a Dask cluster: its scheduler's address (tcp://host:8786), or 'local'")
    cohort.add_argument("--out", type=Path, metavar="DIR",
                        help="write each result into DIR as it arrives (results.jsonl, frames.csv, beats.csv, "
                             "failed.jsonl, manifest.jsonl); run again to analyse only what is new, changed, "
                             "damaged or failed")
    cohort.add_argument("--masks-out", action="store_true",
                        help="with --out: each cine's native LV masks as DIR/masks/<name>.npz")
    return parser


def _positive(text: str) -> int:
    number = int(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text}: give 1 or more")
    return number


def _expand(paths: Sequence[str]) -> tuple[list[Path], list[dict]]:
    """Files to analyse (folders expanded) and the paths that gave none."""
    files, failed = [], []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            try:
                found = find_cines(path)
            except CineLoadError as exc:
                failed.append({"file": str(path), "error": one_line(str(exc))})
                continue
            if not found:
                failed.append({"file": str(path), "error": one_line(f"{path}: no cine files in this folder")})
            files.extend(found)
        else:
            files.append(path)
    return files, failed


def _stat(summary: dict, name: str, unit: str, digits: int = 1) -> str:
    """``mean ± sd unit`` of one summarised measure, or n/a."""
    mean, sd = summary[name]["mean"], summary[name]["sd"]
    if mean is None:
        return "n/a"
    return f"{mean:.{digits}f}" + (f" ± {sd:.{digits}f}" if sd is not None else "") + f" {unit}"


def _line(result: dict) -> str:
    """One human-readable line: beats, EF, heart rate, flags."""
    summary, units = result["summary"], result["units"]

    def stat(name: str, unit: str, digits: int) -> str:
        return _stat(summary, name, unit, digits)

    flags = [flag["code"] for flag in result["flags"] if flag["severity"] == "warning"]
    distrust = " (not an apical view: not to be trusted)" if result["view"]["not_apical"] else ""
    return one_line(f"{result['file']}: {len(result['beats'])} beat(s); EDA {stat('ed_area', units['area'], 1)}; "
            f"EF ({result['volumes']}, disks) {stat('ef_disks_percent', '%', 1)}{distrust}; "
            f"HR {stat('heart_rate_bpm', 'bpm', 0)}" + (f"; flags: {', '.join(flags)}" if flags else ""))


def _biplane_line(result: dict) -> str:
    summary = result["summary"]

    def stat(name: str, unit: str) -> str:
        return _stat(summary, name, unit)

    flags = [flag["code"] for flag in result["flags"] if flag["severity"] == "warning"]
    return one_line(f"biplane {Path(result['four_chamber']).name} (A4C) + {Path(result['two_chamber']).name} "
                    f"(A2C): {len(result['beats'])} beat pair(s); EDV {stat('edv', 'mL')}; ESV {stat('esv', 'mL')}; "
                    f"EF {stat('ef_percent', '%')}" + (f"; flags: {', '.join(flags)}" if flags else ""))


def _biplanes(views: dict[Path, ViewDisks], pairs: Sequence[Sequence[Path]]) -> list[Biplane]:
    """The pairs the user named (their views as named), then those found by study among the rest."""
    named, used = [], set()
    for four, two in pairs:
        if four in views and two in views:
            named.append(Biplane(replace(views[four], view="A4C"), replace(views[two], view="A2C")))
            used |= {four, two}
    found, notes = pair_by_study(v for path, v in views.items() if path not in used)
    for note in notes:
        report_error(note)
    return named + found


def _check_outputs(args: argparse.Namespace) -> str | None:
    outputs = [p for p in (args.json, args.csv, args.masks) if p is not None]
    if args.csv is not None:
        outputs += [beats_csv_path(args.csv), biplane_csv_path(args.csv)]
    for path in outputs:
        if path.is_dir():
            return f"{path} is a folder; give a file name for the output"
        if not path.parent.is_dir():
            return f"{path}: its folder does not exist; create it or choose another path"
    if args.dicom_out is not None and not args.dicom_out.is_dir():
        return f"--dicom-out {args.dicom_out}: no such folder; create it or choose another"
    if args.pseudonymise and args.out is not None:
        return "--pseudonymise applies to --json, --csv and --masks; --out's folder keeps the file names to resume"
    if args.masks_out and args.out is None:
        return "--masks-out writes into the --out folder; give --out DIR too"
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        return f"--out {args.out} is a file; give a folder (it is created if missing)"
    return None


def _overwrites_input(args: argparse.Namespace, files: Sequence[Path], stems: dict[Path, str]) -> str | None:
    """Why an output would be written over an input of the run (a source DICOM lost), or None."""
    named = [(f"--{flag}", path) for flag, path in (("json", args.json), ("csv", args.csv), ("masks", args.masks))
             if path is not None]
    if args.csv is not None:
        named += [("--csv", beats_csv_path(args.csv)), ("--csv", biplane_csv_path(args.csv))]
    if args.dicom_out is not None:
        from echoviewer.dicom_results import result_paths  # highdicom: only when SEG and SR are asked for

        named += [("--dicom-out", out) for path in files for out in result_paths(path, args.dicom_out, stems[path])]
    for flag, output in named:
        for path in files:
            if same_file(output, path):
                return (f"{flag} {output} is an input of this run ({path.name}); writing it would destroy the "
                        "source: choose another output path")
    if args.out is not None:
        out = args.out.resolve()
        for path in files:
            if out in path.resolve().parents:
                return (f"{path} lies inside --out {args.out}, which the run rewrites; keep the cines "
                        "elsewhere or choose another --out folder")
    return None


def _dicom_stems(files: Sequence[Path]) -> dict[Path, str]:
    """The name each cine's SEG and SR get: its file stem, or ``<index>_<stem>`` where two cines
    of the batch share a stem (as the masks archive's keys), so no result overwrites another."""
    counts: dict[str, int] = {}
    for path in files:
        counts[path.stem] = counts.get(path.stem, 0) + 1
    return {path: path.stem if counts[path.stem] == 1 else f"{index}_{path.stem}" for index, path in enumerate(files)}


def _rewrite_paired_reports(pairs: Sequence[Biplane], files: Sequence[Path], args: argparse.Namespace,
                            model: OnnxModel, compare: OnnxModel | None, stems: dict[Path, str], reader: str) -> None:
    """The SR of each cine of a biplane pair again, now with the pair's volumes: the batch keeps
    no cine's pixels, so the two cines are analysed once more (the same model gives the same
    result) and their SEG and SR rewritten whole."""
    by_file = {str(path): path for path in files}
    for pair in pairs:
        for disks in (pair.four_chamber, pair.two_chamber):
            path = by_file.get(disks.file) or Path(disks.file)
            analysis = analysed(path, disks.view, model, compare)
            note = write_dicom(analysis, args.dicom_out, stems.get(path, path.stem), reader, biplane=pair)
            if note:
                report_error(note)


@contextmanager
def _client(args: argparse.Namespace) -> Iterator[Client | None]:
    """None (this process) unless --workers or --cluster asks for Dask."""
    if args.workers is None and args.cluster is None:
        yield None
        return
    with open_client(args.workers, args.cluster) as client:
        yield client


def _failures_line(failed: Sequence[dict], shown: int = 20) -> str:
    """The files that failed, listed at the end of a batch (the first ``shown``; the reasons came
    as they failed, and --json or --out keeps them all)."""
    names = [Path(failure["file"]).name for failure in failed[:shown]]
    return one_line(f"not analysed ({len(failed)}): {', '.join(names)}" + (" …" if len(failed) > shown else ""))


def analyze_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    problem = _check_outputs(args)
    if problem:
        report_error(problem)
        return 2
    try:
        model = load_model(args.model)
        compare = load_model(args.compare) if args.compare else None
    except ModelLoadError as exc:
        report_error(str(exc))
        return 2
    files, failed = _expand(args.paths)
    pairs = [tuple(path.resolve() for path in pair) for pair in args.pair]
    paired_views = {path: view for four, two in pairs for path, view in ((four, "A4C"), (two, "A2C"))}
    listed = {path.resolve() for path in files}
    files += [path for pair in args.pair for path in pair if path.resolve() not in listed]
    files = list(dict.fromkeys(files))
    stems = _dicom_stems(files)
    problem = _overwrites_input(args, files, stems)
    if problem:
        report_error(problem)
        return 2
    preferences = Preferences()
    salt, reader = preferences.salt(), preferences.reader if args.reader is None else args.reader
    for failure in failed:
        report_error(failure["error"])
    try:
        return _run(args, files, failed, pairs, paired_views, stems, salt, reader, model, compare)
    except KeyboardInterrupt:
        report_error("interrupted" + (f"; run the same command again to resume in {args.out}" if args.out else ""))
        return 130
    except FolderBusy as busy:  # --out: another analyze writes that folder now
        report_error(f"--out {busy}; wait for it to end or choose another folder")
        return 2


def _run(args: argparse.Namespace, files: list[Path], failed: list[dict], pairs: Sequence[Sequence[Path]],
         paired_views: dict[Path, str], stems: dict[Path, str], salt: str, reader: str, model: OnnxModel,
         compare: OnnxModel | None) -> int:
    """Analyse ``files`` (as jobs, in process or on Dask), stream and collect the results, write them."""
    keep_masks = args.masks is not None or args.masks_out
    names = Pseudonyms(salt) if args.pseudonymise else None  # --pseudonymise: one map for every output
    collect = args.json is not None or args.csv is not None  # the single-file outputs, written at the end
    index_of = {str(path): index for index, path in enumerate(files)}
    results: dict[int, dict] = {}  # only when collected
    masks_of: dict[int, str] = {}  # each cine's masks .npz, for --masks
    views: dict[Path, ViewDisks] = {}  # a few numbers per beat of each cine, for biplane pairs
    analysed_count = 0
    with ExitStack() as stack:
        folder = None
        if args.out is not None:
            models = {"model_sha256": model.sha256, "compare_sha256": compare.sha256 if compare else None}
            folder = stack.enter_context(OutputFolder(args.out, models))
            masks_dir: str | None = str(folder.masks)
        elif args.masks is not None:
            masks_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix=".masks-", dir=args.masks.parent))
        else:
            masks_dir = None

        def take(done: Done) -> None:
            nonlocal analysed_count
            analysed_count += 1
            index = index_of[done.file]
            if collect:
                results[index] = done.result
            if done.masks is not None and args.masks is not None:
                masks_of[index] = done.masks
            if done.views is not None:
                views[Path(done.file).resolve()] = done.views
            for note in done.notes:
                report_error(note)
            tqdm.write(_line(done.result), file=sys.stdout)

        jobs = []
        for path in files:
            if folder is not None and (stored := folder.valid(path, keep_masks)) is not None:
                folder.add(stored, stored=True)
                take(replace(stored, file=str(path)))
                continue
            jobs.append(Job(str(path), args.model, args.compare, paired_views.get(path.resolve()), salt, reader,
                            intra_op_threads(args.workers) if args.workers else (1 if args.cluster else 0),
                            masks_dir if keep_masks else None,
                            None if args.dicom_out is None else str(args.dicom_out), stems[path]))
        if folder is not None:
            for failure in failed:
                folder.add_failure(Failed(failure["file"], failure["error"]))
            if analysed_count:
                print(f"skipped {analysed_count}: analysed before, in {args.out}", file=sys.stderr)
        client = stack.enter_context(_client(args) if jobs else nullcontext())
        bar = stack.enter_context(tqdm(total=len(jobs), desc="analyze", unit="cine", file=sys.stderr,
                                       disable=None if len(jobs) > 1 else True))
        for outcome in outcomes(jobs, client):
            if isinstance(outcome, Done):
                if folder is not None:
                    folder.add(outcome)
                take(outcome)
            else:
                report_error(outcome.error)
                failed.append({"file": outcome.file, "error": outcome.error})
                if folder is not None:
                    folder.add_failure(outcome)
                bar.set_postfix(failed=len(failed), refresh=False)
            bar.update()
        if args.masks:  # in the files' order, as a serial run adds them
            with mask_archive(args.masks) as archive:
                for index in sorted(masks_of):
                    with zipfile.ZipFile(masks_of[index]) as cine_masks, cine_masks.open(MASKS_MEMBER) as member:
                        archive.add_npy(files[index].stem if names is None else names.key(files[index]), member)
    pairs_found = _biplanes(views, pairs)
    if args.dicom_out is not None:
        _rewrite_paired_reports(pairs_found, files, args, model, compare, stems, reader)
    biplane = [pair.as_dict() for pair in pairs_found]
    for result in biplane:
        print(_biplane_line(result))
    ordered = [results[index] for index in sorted(results)]  # the files' order, however they finished
    if names is not None:
        ordered, failed, biplane = names.results(ordered), names.failures(failed), names.pairs(biplane)
        names.save()  # every key an output holds, the masks' included
    if args.json:
        write_json(args.json, ordered, failed, biplane)
    if args.csv:
        write_frames_csv(args.csv, ordered)
        write_beats_csv(beats_csv_path(args.csv), ordered)
        if biplane:
            write_biplane_csv(biplane_csv_path(args.csv), biplane)
    if len(files) > 1 or failed:
        if failed:
            print(_failures_line(failed), file=sys.stderr)
        print(f"{analysed_count} of {analysed_count + len(failed)} analysed"
              + (f"; {len(failed)} failed" if failed else ""), file=sys.stderr)
    return 1 if failed else 0
