"""How the command line reports a failure."""

from __future__ import annotations

import sys


def report_error(message: str) -> None:
    """One line on stderr, prefixed with the program's name."""
    print(f"echoviewer: {message}", file=sys.stderr)
