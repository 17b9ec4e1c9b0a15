"""How the viewer shows the study and plays it, in one object: the overlay mode and opacity, the
patient identifiers, the plot's time axis, the playback speed and loop.

:class:`ViewOptions` is the one home of these choices (as napari keeps ``layer.opacity`` on the
layer and its Qt controls only mirror it): the views (cine view, curve plot, playback) render
from it and redraw on its ``changed`` signal, the controls (View menu, toolbar, transport) write
to it and mirror that signal, exports read it and ``viewer.ini`` keeps it between sessions
(:meth:`ViewOptions.load`, :meth:`ViewOptions.save`). Whether the teacher–student disagreement is
shown is not here: switching it on runs an analysis, so it is the controller's
(``StudyController.compare``).
"""

from __future__ import annotations

from functools import partial
from numbers import Real
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal

from echoviewer.analysis.overlay import OVERLAY_MODES

SPEEDS = (0.25, 0.5, 1.0, 1.5, 2.0)
OPACITY_PERCENT = (5, 100)  # the toolbar's slider; opacity is held to the percent it shows


def _overlay(value: object) -> str:
    if value not in OVERLAY_MODES:
        raise ValueError(f"overlay mode {value!r} is unknown; use one of {', '.join(OVERLAY_MODES)}")
    return value


def _opacity(value: object) -> float:
    low, high = OPACITY_PERCENT
    if isinstance(value, bool) or not isinstance(value, Real) or not low / 100 <= float(value) <= high / 100:
        raise ValueError(f"opacity must be a number from {low / 100} to {high / 100}; got {value!r}")
    return round(float(value), 2)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected True or False; got {value!r}")
    return value


def _speed(value: object) -> float:
    if isinstance(value, bool) or value not in SPEEDS:
        raise ValueError(f"playback speed must be one of {', '.join(f'{s:g}' for s in SPEEDS)}; got {value!r}")
    return float(value)


class _Option:
    """One field of :class:`ViewOptions`: reads the held value; a set checks it first."""

    def __init__(self, check, default) -> None:
        self.check, self.default = check, default

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, options: ViewOptions | None, owner: type | None = None) -> Any:
        return self if options is None else options._values[self.name]

    def __set__(self, options: ViewOptions, value: object) -> None:
        options._set(self.name, self.check(value))


class ViewOptions(QObject):
    """The viewer's display and playback choices.

    Each field is a property whose setter checks the value (ValueError when it is not one the
    viewer offers), does nothing when the value is already held (so a control that mirrors the
    options and writes them back stops there) and otherwise emits ``changed(name, value)`` once.
    """

    changed = Signal(str, object)  # (field name, new value)

    overlay = _Option(_overlay, "fill")           # one of OVERLAY_MODES
    opacity = _Option(_opacity, 0.35)             # of the LV fill, 0.05–1.0
    identifiers = _Option(_flag, False)           # patient name and ID on screen and in exports
    time_axis = _Option(_flag, True)              # the area plot against time (s), else frames
    speed = _Option(_speed, 1.0)                  # playback, relative to the file's frame times
    loop = _Option(_flag, True)                   # playback starts again at the end
    landmarks = _Option(_flag, True)              # mitral hinges, apex and long axis on the cine
    contour_editing = _Option(_flag, False)       # the LV contour's control points, to drag
    burned_labels = _Option(_flag, True)          # frame, time, ED/ES and scale bar in figures and videos
    reference = _Option(_flag, True)              # the reference contour (a DICOM SEG read back) outlined
    full_frame = _Option(_flag, False)            # figures and videos keep what lies outside the sector

    FIELDS = ("overlay", "opacity", "identifiers", "time_axis", "speed", "loop", "landmarks", "contour_editing",
              "burned_labels", "reference", "full_frame")

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._values = {name: getattr(type(self), name).default for name in self.FIELDS}

    def _set(self, name: str, value: object) -> None:
        if self._values[name] != value:
            self._values[name] = value
            self.changed.emit(name, value)

    def setter(self, name: str):
        """A slot that sets field ``name`` to the value a control's signal carries."""
        if name not in self.FIELDS:
            raise ValueError(f"{name!r} is not a view option; use one of {', '.join(self.FIELDS)}")
        return partial(setattr, self, name)

    def cycle_overlay(self) -> None:
        """fill → contour → hidden → fill."""
        self.overlay = OVERLAY_MODES[(OVERLAY_MODES.index(self.overlay) + 1) % len(OVERLAY_MODES)]

    # ---- viewer.ini --------------------------------------------------------------------------
    def load(self, settings: QSettings) -> None:
        """The choices :meth:`save` wrote; a value that is missing or that the user damaged (the
        file is theirs to edit) leaves that field as it is. The identifiers are never stored:
        every session starts with them hidden."""
        low, high = OPACITY_PERCENT
        self.overlay = _choice(settings.value("overlay"), OVERLAY_MODES, self.overlay)
        self.opacity = _number(settings.value("opacity"), low, high, round(self.opacity * 100)) / 100
        self.speed = SPEEDS[_number(settings.value("speed_index"), 0, len(SPEEDS) - 1, SPEEDS.index(self.speed))]
        self.loop = _choice(settings.value("loop"), ("true", "false"), _text(self.loop)) == "true"
        self.time_axis = _choice(settings.value("time_axis"), ("true", "false"), _text(self.time_axis)) == "true"
        self.landmarks = _choice(settings.value("landmarks"), ("true", "false"), _text(self.landmarks)) == "true"
        self.burned_labels = _choice(settings.value("burned_labels"), ("true", "false"),
                                     _text(self.burned_labels)) == "true"
        self.reference = _choice(settings.value("reference"), ("true", "false"), _text(self.reference)) == "true"

    def save(self, settings: QSettings) -> None:
        settings.setValue("overlay", self.overlay)
        settings.setValue("opacity", round(self.opacity * 100))
        settings.setValue("speed_index", SPEEDS.index(self.speed))
        settings.setValue("loop", _text(self.loop))
        settings.setValue("time_axis", _text(self.time_axis))
        settings.setValue("landmarks", _text(self.landmarks))
        settings.setValue("burned_labels", _text(self.burned_labels))
        settings.setValue("reference", _text(self.reference))


def _text(flag: bool) -> str:
    return "true" if flag else "false"


def _choice(value: object, allowed: tuple[str, ...], default: str) -> str:
    """A stored setting, if it is one of ``allowed``."""
    return value if isinstance(value, str) and value in allowed else default


def _number(value: Any, low: int, high: int, default: int) -> int:
    """A stored whole number in ``low``–``high``."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if low <= number <= high else default
