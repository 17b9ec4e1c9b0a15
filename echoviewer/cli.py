"""The ``echoviewer`` command: open a cine, or ``info`` to describe cines as JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from echoviewer import __version__
from echoviewer.io import CineLoadError, load_cine
from echoviewer.resources import SAMPLE_CINE

_DESCRIPTION = """\
Clinical-research viewer for echocardiography cines (DICOM, AVI/MP4, NumPy).

  echoviewer [FILE]         open the viewer with FILE (the bundled sample cine when omitted;
                            a folder fills the study list)
  echoviewer --screenshot OUT.png [FILE]
                            render the window off-screen once FILE is analysed and save it
  echoviewer info FILE...   print one JSON line per file: frames, size, fps and its source,
                            duration, calibration (cm per pixel) and its source, imaging region,
                            transfer syntax; see 'echoviewer info --help'
  echoviewer analyze PATH...  LV masks, area curve, ED/ES of every beat, measurements and
                            quality flags for cines or folders of cines; see
                            'echoviewer analyze --help'
"""


def report_error(message: str) -> None:
    """One line on stderr, prefixed with the program's name."""
    print(f"echoviewer: {message}", file=sys.stderr)


def _info(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="echoviewer info",
        description="Describe cines as JSON, one object per line per file, without patient "
                    "identifiers. Keys: file, format, frames, width, height, colour, fps, "
                    "fps_source (FrameTimeVector, FrameTime, CineRate, "
                    "RecommendedDisplayFrameRate, EffectiveDuration, container, file or "
                    "assumed), fps_assumed, duration_s, calibration ({cm_per_px_x, cm_per_px_y, "
                    "source} or null), calibration_note (why, when null), region, "
                    "transfer_syntax, sop_class, manufacturer, photometric, decoder.",
        epilog="Exit status: 0 when every file loaded, 1 when any could not be read "
               "(its one-line reason goes to stderr).")
    parser.add_argument("files", nargs="+", metavar="FILE", help="DICOM, AVI/MP4 or .npy/.npz file")
    args = parser.parse_args(argv)
    failed = 0
    for name in args.files:
        try:
            cine = load_cine(name)
        except CineLoadError as exc:
            report_error(str(exc))
            failed += 1
            continue
        print(json.dumps(cine.describe()), flush=True)
    return 1 if failed else 0


def _open(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="echoviewer", description=_DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file", nargs="?", default=str(SAMPLE_CINE),
                        help="cine to open, or a folder of cines (default: the bundled sample)")
    parser.add_argument("--screenshot", metavar="OUT.png",
                        help="render the window off-screen after loading FILE, save it and exit")
    parser.add_argument("--version", action="version", version=f"echoviewer {__version__}")
    args = parser.parse_args(argv)
    from echoviewer.gui.app import run  # Qt only when the window opens

    return run(args.file, args.screenshot)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "info":
        return _info(argv[1:])
    if argv and argv[0] == "analyze":
        from echoviewer.analyze_cli import analyze_main  # onnxruntime only when analysing

        return analyze_main(argv[1:])
    return _open(argv)
