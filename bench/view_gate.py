"""The view gate on real DICOMs: how many of each kind of view it flags as not apical.

    python bench/view_gate.py ../shared/real/dicom [more files or folders] [--labelled ../shared/real/camus/camus_val.npz]

The kind of each file comes from its folder, its name or its ViewNumber, as ``../shared/real``'s
README describes them (the stress-echo ACUSON views: 1 PLAX, 2 PSAX, 3-5 apical, 6 not stated); the
SonoSite A4C in pydicom-data is added when installed. Prints one line per file and a table per kind:
the goal is every parasternal and short-axis cine flagged and no apical one. ``--labelled`` also
scores the single frames of a human-labelled set (all apical: CAMUS) as one-frame cines.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import pydicom

from echoviewer.analysis.view_gate import score_view
from echoviewer.io import CineLoadError, find_cines, load_cine
from echoviewer.io.errors import one_line

TOSHIBA = {"031": "parasternal", "032": "parasternal", "033": "parasternal", "035": "parasternal",
           "036": "apical", "037": "apical", "034": "M-mode", "038": "Doppler", "039": "Doppler"}
STRESS_VIEWS = {1: "parasternal", 2: "parasternal", 3: "apical", 4: "apical", 5: "apical"}


def kind_of(path: Path) -> str:
    folder, number = path.parent.name, path.stem[-3:]
    if folder == "a4c" or "apical" in path.name or path.name == "color3d_jpeg_baseline.dcm":
        return "apical"
    if folder == "non-cardiac":
        return "not a heart"
    if folder == "toshiba-hp":
        return TOSHIBA.get(number, "parasternal")  # 001-006: HP paediatric parasternal and short axis
    if folder == "stress-echo-acuson":
        view = pydicom.dcmread(path, stop_before_pixels=True).get("ViewNumber")
        return STRESS_VIEWS.get(int(view) if view is not None else 0, "not stated")
    return "other"


def labelled_frames(path: Path, counts: dict[str, list[int]]) -> None:
    """Each labelled frame as a one-frame cine, as ``realeval`` scores it (kind: labelled apical)."""
    from distill.datasets.labelled import open_labelled
    from distill.realeval import one_frame_cine
    with tempfile.TemporaryDirectory() as scratch:
        for name, read in open_labelled(path).entries():
            case = read()
            score = score_view(one_frame_cine(case, Path(scratch)))
            counts[f"labelled {case.view}"][0] += score.flagged
            counts[f"labelled {case.view}"][1] += 1
            if score.flagged:
                print(f"labelled {case.view} {name:40s} apical {score.apical_probability:.2f} FLAGGED")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path)
    parser.add_argument("--labelled", type=Path, help="a labelled set of apical frames (CAMUS npz, ...)")
    args = parser.parse_args()
    files = [f for p in args.paths for f in (find_cines(p) if p.is_dir() else [p])]
    try:
        from pydicom.data import get_testdata_file
        files.append(Path(get_testdata_file("color3d_jpeg_baseline.dcm")))
    except (ImportError, ValueError):
        pass
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path in files:
        kind = kind_of(path)
        try:
            score = score_view(load_cine(path))
        except CineLoadError as exc:
            print(f"{kind:12s} {path.name:45s} unreadable: {one_line(str(exc))[:60]}")
            continue
        counts[kind][0] += score.flagged
        counts[kind][1] += 1
        shown = "—" if score.apical_probability is None else f"{score.apical_probability:.2f}"
        print(f"{kind:12s} {path.name:45s} apical {shown:>5s} {'FLAGGED' if score.flagged else 'passed'}")
    if args.labelled:
        labelled_frames(args.labelled, counts)
    print("\n| kind | flagged | of |\n|---|---|---|")
    for kind, (flagged, total) in sorted(counts.items()):
        print(f"| {kind} | {flagged} | {total} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
