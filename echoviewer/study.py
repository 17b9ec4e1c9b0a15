"""The open study: one cine's analysis, the user's ED/ES picks and their undo history.

GUI-free: the viewer's Qt controller (``echoviewer.gui.controller``) holds one :class:`Study`,
calls its editing methods, saves the picks and tells every view when ``analysis`` changed.
Picks are kept as :class:`Picks`, so undo/redo and saving deal with two small tuples, not with
measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

from echoviewer.analysis import CineAnalysis

Event = Literal["ED", "ES"]
EVENTS: tuple[Event, Event] = ("ED", "ES")


@dataclass(frozen=True)
class Picks:
    """ED and ES frames, and which of them the user placed or moved (``edited``)."""

    ed: tuple[int, ...]
    es: tuple[int, ...]
    edited_ed: frozenset[int] = field(default_factory=frozenset)
    edited_es: frozenset[int] = field(default_factory=frozenset)

    def frames(self, event: Event) -> tuple[int, ...]:
        return self.ed if event == "ED" else self.es

    def edited(self, event: Event) -> frozenset[int]:
        return self.edited_ed if event == "ED" else self.edited_es

    def with_event(self, event: Event, frames: tuple[int, ...], edited: frozenset[int]) -> Picks:
        frames = tuple(sorted(set(frames)))
        edited = frozenset(edited) & set(frames)
        if event == "ED":
            return replace(self, ed=frames, edited_ed=edited)
        return replace(self, es=frames, edited_es=edited)


def other(event: Event) -> Event:
    return "ES" if event == "ED" else "ED"


class Study:
    """One cine's analysis and the picks shown on it, with undo and redo.

    ``automatic`` are the analysis engine's picks for the current model; ``picks`` what the user
    sees. ``user_edited`` is True once the user changed a pick (then a model switch keeps the
    user's picks instead of the new model's automatic ones). Each editing method returns whether
    the picks changed; the caller saves them (the controller, in one place).
    """

    def __init__(self, analysis: CineAnalysis, picks: Picks | None = None) -> None:
        self._base = analysis
        self.automatic = Picks(analysis.ed_frames, analysis.es_frames)
        self._undo: list[Picks] = []
        self._redo: list[Picks] = []
        self.user_edited = picks is not None and picks != self.automatic
        self.picks = picks if picks is not None else self.automatic
        self.analysis = self._analysed(self.picks)

    @property
    def n_frames(self) -> int:
        return self._base.cine.n_frames

    def _analysed(self, picks: Picks) -> CineAnalysis:
        if picks == self.automatic and not self.user_edited:
            return self._base
        return self._base.with_events(picks.ed, picks.es)

    def _apply(self, picks: Picks) -> bool:
        if picks == self.picks:
            return False
        self._undo.append(self.picks)
        self._redo.clear()
        self._show(picks)
        return True

    def _show(self, picks: Picks) -> None:
        self.picks = picks
        self.user_edited = picks != self.automatic
        self.analysis = self._analysed(picks)

    def _check(self, frame: int) -> int:
        if not 0 <= frame < self.n_frames:
            raise ValueError(f"frame {frame} is outside 0-{self.n_frames - 1}")
        return int(frame)

    # Editing: each returns True when the picks changed (and so can be undone).
    def set_event(self, event: Event, frame: int) -> bool:
        """Mark ``frame`` as ED or ES (a frame is never both: the other mark there goes)."""
        frame = self._check(frame)
        if frame in self.picks.frames(event):
            return False
        picks = self.picks.with_event(event, self.picks.frames(event) + (frame,),
                                      self.picks.edited(event) | {frame})
        opposite = other(event)
        picks = picks.with_event(opposite, tuple(f for f in picks.frames(opposite) if f != frame),
                                 picks.edited(opposite))
        return self._apply(picks)

    def move_event(self, event: Event, old: int, new: int) -> bool:
        """Move the ``event`` pick at frame ``old`` to frame ``new``."""
        old, new = self._check(old), self._check(new)
        frames = self.picks.frames(event)
        if old not in frames or old == new:
            return False
        moved = tuple(new if f == old else f for f in frames)
        picks = self.picks.with_event(event, moved, (self.picks.edited(event) - {old}) | {new})
        opposite = other(event)
        picks = picks.with_event(opposite, tuple(f for f in picks.frames(opposite) if f != new),
                                 picks.edited(opposite))
        return self._apply(picks)

    def delete_event(self, event: Event, frame: int) -> bool:
        frame = self._check(frame)
        frames = self.picks.frames(event)
        if frame not in frames:
            return False
        return self._apply(self.picks.with_event(
            event, tuple(f for f in frames if f != frame), self.picks.edited(event)))

    def delete_at(self, frame: int) -> bool:
        """Remove whichever pick (ED or ES) sits at ``frame``."""
        frame = self._check(frame)
        for event in EVENTS:
            if frame in self.picks.frames(event):
                return self.delete_event(event, frame)
        return False

    def reset(self) -> bool:
        """Back to the model's automatic picks (undoable)."""
        return self._apply(self.automatic)

    def undo(self) -> bool:
        if not self._undo:
            return False
        self._redo.append(self.picks)
        self._show(self._undo.pop())
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        self._undo.append(self.picks)
        self._show(self._redo.pop())
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def with_analysis(self, analysis: CineAnalysis) -> Study:
        """The study on another model's analysis of the same cine: the user's picks and history
        are kept when they edited; otherwise the new model's automatic picks are shown."""
        if analysis.cine is not self._base.cine:
            raise ValueError("a model switch must analyse the same cine")
        study = Study(analysis, self.picks if self.user_edited else None)
        study._undo, study._redo = self._undo, self._redo
        return study

    def event_at(self, frame: int) -> Event | None:
        for event in EVENTS:
            if frame in self.picks.frames(event):
                return event
        return None

    def next_event(self, frame: int, step: int) -> int | None:
        """The nearest ED or ES frame after (``step`` > 0) or before (``step`` < 0) ``frame``."""
        frames = sorted(set(self.picks.ed) | set(self.picks.es))
        if step > 0:
            return next((f for f in frames if f > frame), None)
        return next((f for f in reversed(frames) if f < frame), None)
