"""Play/pause, step, jump to ED/ES, speed, loop and the frame slider."""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtWidgets import (QCheckBox, QComboBox, QHBoxLayout, QLabel, QSlider, QToolButton,
                               QWidget)

from echoviewer.gui.controller import StudyController
from echoviewer.gui.view_options import SPEEDS, ViewOptions


class Transport(QWidget):
    """Buttons run the main window's actions (so each has one shortcut and one tooltip); speed
    and loop write to ``options`` and show what they hold."""

    def __init__(self, controller: StudyController, options: ViewOptions, actions: dict,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller, self.options = controller, options
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        for name in ("first", "previous_event", "step_back", "play", "step_forward", "next_event", "last"):
            button = QToolButton()
            button.setDefaultAction(actions[name])
            button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            button.setAutoRaise(True)
            layout.addWidget(button)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys belong to the window's actions
        self.slider.setEnabled(False)
        self.slider.valueChanged.connect(controller.set_frame)
        layout.addWidget(self.slider, 1)
        self.position = QLabel("—")
        self.position.setMinimumWidth(120)
        layout.addWidget(self.position)
        self.speed = QComboBox()
        self.speed.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.speed.setToolTip("Playback speed, relative to the file's own frame timing")
        for speed in SPEEDS:
            self.speed.addItem(f"{speed:g}×", speed)
        self.speed.currentIndexChanged.connect(lambda i: setattr(options, "speed", self.speed.itemData(i)))
        layout.addWidget(self.speed)
        self.loop = QCheckBox("Loop")
        self.loop.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.loop.toggled.connect(options.setter("loop"))
        layout.addWidget(self.loop)
        for name in ("speed", "loop"):
            self._show_option(name)
        options.changed.connect(self._show_option)
        controller.cine_loaded.connect(self._set_cine)
        controller.frame_changed.connect(self._set_frame)

    def _show_option(self, name: str, _value: object = None) -> None:
        """Show the options (quietly: showing them must not write them back)."""
        if name == "speed":
            with QSignalBlocker(self.speed):
                self.speed.setCurrentIndex(SPEEDS.index(self.options.speed))
        elif name == "loop":
            with QSignalBlocker(self.loop):
                self.loop.setChecked(self.options.loop)

    def _set_cine(self, cine) -> None:
        self.slider.blockSignals(True)  # a new range clamps the value: no frame change from that
        self.slider.setRange(0, cine.n_frames - 1)
        self.slider.blockSignals(False)
        self.slider.setEnabled(True)
        self._set_frame(0)

    def _set_frame(self, frame: int) -> None:
        cine = self.controller.cine
        if cine is None:
            return
        self.slider.blockSignals(True)
        self.slider.setValue(frame)
        self.slider.blockSignals(False)
        self.position.setText(f"{frame} / {cine.n_frames - 1} · {cine.times_ms[frame] / 1000:.2f} s")
