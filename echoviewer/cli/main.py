"""``echoviewer [FILE]``: the viewer; the subcommands are dispatched to their modules, imported only
when they run (``info`` loads no onnxruntime, neither loads Qt)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from echoviewer import __version__
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
  echoviewer pacs COMMAND   PACS nodes; echo, find, get (into the local cache) and send over
                            DIMSE or DICOMweb; see 'echoviewer pacs --help'
"""


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
        from echoviewer.cli.info import info_main

        return info_main(argv[1:])
    if argv and argv[0] == "analyze":
        from echoviewer.cli.analyze import analyze_main  # onnxruntime only when analysing

        return analyze_main(argv[1:])
    if argv and argv[0] == "pacs":
        from echoviewer.cli.pacs import pacs_main  # pynetdicom and dicomweb-client only for the PACS

        return pacs_main(argv[1:])
    return _open(argv)
