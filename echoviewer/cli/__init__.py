"""The ``echoviewer`` command line: the viewer, ``info`` and ``analyze`` (``main`` dispatches)."""

from echoviewer.cli.main import main

__all__ = ["main"]
