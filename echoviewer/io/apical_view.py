"""Which apical view a file says it is (A4C or A2C), for biplane volumes and single-plane labels.

Scanners name the view in the DICOM header (the View Code Sequence's code meaning, or the series
description or protocol name a sonographer chose); exported files often only in their name
(CAMUS: ``patient0001_4CH_half_sequence``). Only what the file states is read; nothing is guessed
from the pixels. A text that names both views, or neither, says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

ApicalView = Literal["A4C", "A2C"]
VIEWS: tuple[ApicalView, ApicalView] = ("A4C", "A2C")
_TOKENS = {
    "A4C": r"a4c|ap4|a4ch|4ch|4cv|apical[ _-]?4|(?:4|four)[ _-]?chambers?",
    "A2C": r"a2c|ap2|a2ch|2ch|2cv|apical[ _-]?2|(?:2|two)[ _-]?chambers?",
}
# a token stands alone: not inside a longer word or number ("a4c" in "3fa4c9" is not a view)
PATTERNS = {view: re.compile(rf"(?<![a-z0-9])(?:{tokens})(?![a-z0-9])", re.IGNORECASE)
            for view, tokens in _TOKENS.items()}


def view_in_text(texts: Iterable[str]) -> ApicalView | None:
    """The one apical view these texts name (the first text that names exactly one wins)."""
    for text in texts:
        named = [view for view in VIEWS if PATTERNS[view].search(text or "")]
        if len(named) == 1:
            return named[0]
    return None


def without_view(text: str) -> str:
    """``text`` with its view token taken out: what an A4C file and its A2C partner share
    (``patient0001_4CH_ED`` and ``patient0001_2CH_ED`` both give ``patient0001__ED``)."""
    for pattern in PATTERNS.values():
        text = pattern.sub("", text)
    return text.lower()
