"""The open study: one cine's analysis, the user's ED/ES picks and LV contours, and their undo history.

GUI-free: the viewer's Qt controller (``echoviewer.gui.controller``) holds one :class:`Study`,
calls its editing methods, saves the edits and tells every view when ``analysis`` changed.
Picks are kept as :class:`Picks` and contours as a frame → :class:`Contour` mapping, so undo/redo
and saving deal with small values, not with measurements; every step has a name ("Move ED 12 → 14")
that the Edit menu shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

from echoviewer.analysis import CineAnalysis
from echoviewer.analysis.contour import Contour
from echoviewer.analysis.measurements import pick_of_beat

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


@dataclass(frozen=True)
class Edits:
    """Everything the user changed on a cine: the picks and the contours they drew."""

    picks: Picks
    contours: Mapping[int, Contour] = field(default_factory=lambda: MappingProxyType({}))

    def with_contour(self, frame: int, contour: Contour | None) -> Edits:
        contours = dict(self.contours)
        if contour is None:
            contours.pop(frame, None)
        else:
            contours[frame] = contour
        return replace(self, contours=MappingProxyType(dict(sorted(contours.items()))))


class Study:
    """One cine's analysis and the picks and contours shown on it, with undo and redo.

    ``automatic`` are the analysis engine's picks for the current model; ``picks`` what the user
    sees. ``user_edited`` is True once the user changed a pick (then a model switch keeps the
    user's picks instead of the new model's automatic ones); ``contours`` are the frames whose LV
    outline the user drew, which every model shows and measures. Each editing method returns
    whether something changed; the caller saves the edits (the controller, in one place).
    """

    def __init__(self, analysis: CineAnalysis, picks: Picks | None = None,
                 contours: Mapping[int, Contour] | None = None, reviewed: bool = False,
                 pairing: tuple[str, str] | None = None) -> None:
        self._base = analysis
        # Not edits of the cine (no undo): the user's "I have checked it", and their biplane pair
        # (this cine's view, the other view's file).
        self.reviewed, self.pairing = reviewed, pairing
        self.automatic = Picks(analysis.ed_frames, analysis.es_frames)
        self._undo: list[tuple[str, Edits]] = []  # (the step that left this state, the state)
        self._redo: list[tuple[str, Edits]] = []
        self._model_contours: dict[int, Contour | None] = {}
        self._show(Edits(picks if picks is not None else self.automatic,
                         MappingProxyType(dict(sorted((contours or {}).items())))))

    @property
    def n_frames(self) -> int:
        return self._base.cine.n_frames

    @property
    def picks(self) -> Picks:
        return self.edits.picks

    @property
    def contours(self) -> Mapping[int, Contour]:
        """The frames whose contour the user drew."""
        return self.edits.contours

    def _analysed(self, edits: Edits) -> CineAnalysis:
        analysis = self._base
        if self.user_edited:
            analysis = analysis.with_events(edits.picks.ed, edits.picks.es)
        if edits.contours:
            analysis = analysis.with_contours(edits.contours)
        return analysis

    def _apply(self, edits: Edits, step: str) -> bool:
        if edits == self.edits:
            return False
        self._undo.append((step, self.edits))
        self._redo.clear()
        self._show(edits)
        return True

    def _show(self, edits: Edits) -> None:
        self.edits = edits
        self.user_edited = edits.picks != self.automatic
        self.analysis = self._analysed(edits)

    def _check(self, frame: int) -> int:
        if not 0 <= frame < self.n_frames:
            raise ValueError(f"frame {frame} is outside 0-{self.n_frames - 1}")
        return int(frame)

    def _apply_picks(self, picks: Picks, step: str) -> bool:
        return self._apply(replace(self.edits, picks=picks), step)

    # Editing: each returns True when something changed (and so can be undone).
    def beat_pick(self, event: Event, frame: int) -> int | None:
        """The ``event`` pick of the beat at ``frame`` (None when that beat has none)."""
        return pick_of_beat(frame, self.picks.frames(event), self.picks.frames(other(event)))

    def mark_event(self, event: Event, frame: int) -> bool:
        """Make ``frame`` the ``event`` of the beat it lies in (the E and S keys): that beat's pick
        moves here, or one is added where the beat has none."""
        frame = self._check(frame)
        current = self.beat_pick(event, frame)
        if current is None:
            return self.add_event(event, frame)
        return self.move_event(event, current, frame)

    def add_event(self, event: Event, frame: int) -> bool:
        """Add an ED or ES pick at ``frame`` beside the others (a beat the model missed); a frame
        is never both: the other mark there goes."""
        frame = self._check(frame)
        if frame in self.picks.frames(event):
            return False
        picks = self.picks.with_event(event, self.picks.frames(event) + (frame,),
                                      self.picks.edited(event) | {frame})
        opposite = other(event)
        picks = picks.with_event(opposite, tuple(f for f in picks.frames(opposite) if f != frame),
                                 picks.edited(opposite))
        return self._apply_picks(picks, f"Add {event} at frame {frame}")

    def nudge(self, frame: int, step: int) -> int | None:
        """Move the pick at ``frame`` by ``step`` frames; its new frame, or None when there is no
        pick at ``frame`` or the step would leave the cine or land on another pick."""
        event, new = self.event_at(self._check(frame)), frame + step
        if event is None or not 0 <= new < self.n_frames or self.event_at(new) is not None:
            return None
        return new if self.move_event(event, frame, new) else None

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
        return self._apply_picks(picks, f"Move {event} {old} → {new}")

    def delete_event(self, event: Event, frame: int) -> bool:
        frame = self._check(frame)
        frames = self.picks.frames(event)
        if frame not in frames:
            return False
        return self._apply_picks(self.picks.with_event(
            event, tuple(f for f in frames if f != frame), self.picks.edited(event)), f"Delete {event} at frame {frame}")

    def delete_at(self, frame: int) -> bool:
        """Remove whichever pick (ED or ES) sits at ``frame``."""
        frame = self._check(frame)
        for event in EVENTS:
            if frame in self.picks.frames(event):
                return self.delete_event(event, frame)
        return False

    def reset(self) -> bool:
        """Back to the model's automatic picks (undoable); contours stay."""
        return self._apply_picks(self.automatic, "Reset the picks")

    def contour(self, frame: int) -> Contour | None:
        """The contour shown on ``frame``: the user's, else one made from the model's mask (None when
        the mask is too small to have a long axis)."""
        frame = self._check(frame)
        if frame in self.contours:
            return self.contours[frame]
        if frame not in self._model_contours:
            self._model_contours[frame] = Contour.from_mask(self._base.native_mask(frame))
        return self._model_contours[frame]

    def set_contour(self, frame: int, contour: Contour, step: str = "Edit the contour") -> bool:
        """Draw ``contour`` on ``frame`` (``step`` names it for undo: "Move a contour point")."""
        frame = self._check(frame)
        return self._apply(self.edits.with_contour(frame, contour), f"{step} (frame {frame})")

    def reset_contour(self, frame: int) -> bool:
        """Back to the model's contour on ``frame`` (undoable)."""
        frame = self._check(frame)
        return self._apply(self.edits.with_contour(frame, None), f"Reset the contour (frame {frame})")

    def undo(self) -> bool:
        if not self._undo:
            return False
        step, edits = self._undo.pop()
        self._redo.append((step, self.edits))
        self._show(edits)
        return True

    def redo(self) -> bool:
        if not self._redo:
            return False
        step, edits = self._redo.pop()
        self._undo.append((step, self.edits))
        self._show(edits)
        return True

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    @property
    def undo_step(self) -> str | None:
        """The name of the step that undo would take back."""
        return self._undo[-1][0] if self._undo else None

    @property
    def redo_step(self) -> str | None:
        return self._redo[-1][0] if self._redo else None

    def with_analysis(self, analysis: CineAnalysis) -> Study:
        """The study on another model's analysis of the same cine: the user's picks and history
        are kept when they edited, otherwise the new model's automatic picks are shown; the user's
        contours are kept either way."""
        if analysis.cine is not self._base.cine:
            raise ValueError("a model switch must analyse the same cine")
        study = Study(analysis, self.picks if self.user_edited else None, self.contours, self.reviewed,
                      self.pairing)
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
