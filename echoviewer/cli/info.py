"""``echoviewer info FILE...``: one JSON line per file describing the cine, without patient identifiers."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from collections.abc import Sequence

from echoviewer.cli.errors import report_error
from echoviewer.io import CineLoadError
from echoviewer.io.cine import damage_summary
from echoviewer.io.loader import describe_cine


def info_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="echoviewer info",
        description="Describe cines as JSON, one object per line per file, without patient "
                    "identifiers. Keys: file, format, frames, width, height, colour, fps, "
                    "fps_source (FrameTimeVector, FrameTime, CineRate, "
                    "RecommendedDisplayFrameRate, EffectiveDuration, container, file or "
                    "assumed), fps_assumed, duration_s, calibration ({cm_per_px_x, cm_per_px_y, "
                    "source} or null), calibration_note (why, when null), region, "
                    "transfer_syntax, sop_class, manufacturer, photometric, decoder, view, view_source, "
                    "header_notes (what the header got wrong and how it was read), frames_damaged "
                    "(frames whose compressed data is damaged), damage (what is wrong with them). "
                    "Videos and NumPy arrays are described from their header and a few frames; "
                    "a DICOM is decoded whole, so that damaged frames are found.",
        epilog="Exit status: 0 when every file loaded, 1 when any could not be read "
               "(its one-line reason goes to stderr). A file with damaged frames loads, and "
               "gets one line on stderr naming them.")
    parser.add_argument("files", nargs="+", metavar="FILE", help="DICOM, AVI/MP4 or .npy/.npz file")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.files:
        try:
            described = describe_cine(name)
        except CineLoadError as exc:
            report_error(str(exc))
            failed += 1
            continue
        print(json.dumps(described), flush=True)
        if described["frames_damaged"]:
            report_error(f"{Path(name).name}: {damage_summary(described)}")
    return 1 if failed else 0
