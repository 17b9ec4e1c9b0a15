"""The error of a distill command the user can fix: the command line prints its one line and exits 2.

Kept free of imports, so that ``generate`` and its workers (which load the command line) stay
light. A file that is not a usable checkpoint raises
:class:`distill.networks.checkpoints.CheckpointError`, a model load error like any other.
"""

from __future__ import annotations


class UsageError(Exception):
    """A problem with the command line or the output folder; the message says what to do."""
