"""Real-time playback: which frame to show comes from the clock and the cine's own frame times,
so a slow repaint drops frames instead of slowing the heart down. Speed and loop are the view
options' (:class:`~echoviewer.gui.view_options.ViewOptions`)."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal

from echoviewer.gui.controller import StudyController
from echoviewer.gui.view_options import ViewOptions


class Playback(QObject):
    playing_changed = Signal(bool)

    def __init__(self, controller: StudyController, options: ViewOptions, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller, self.options = controller, options
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self._start_ms = 0.0
        controller.cine_loaded.connect(lambda _cine: self.pause())
        options.changed.connect(self._option_changed)

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def _restart_clock(self) -> None:
        cine = self.controller.cine
        assert cine is not None  # play() starts the clock only with a cine
        self._start_ms = float(cine.times_ms[self.controller.frame])
        self._clock.start()

    def play(self) -> None:
        cine = self.controller.cine
        if cine is None or cine.n_frames < 2 or self.playing:
            return
        if self.controller.frame == cine.n_frames - 1 and not self.options.loop:
            self.controller.set_frame(0)
        self._restart_clock()
        # Tick at twice the displayed frame rate (at most every 4 ms) to stay close to real time.
        self._timer.start(max(4, int(cine.timing.interval_ms / self.options.speed / 2)))
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if self.playing:
            self._timer.stop()
            self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def _option_changed(self, name: str, _value: object) -> None:
        if name == "speed" and self.playing:  # the clock starts again from this frame
            self.pause()
            self.play()

    def _tick(self) -> None:
        cine = self.controller.cine
        if cine is None:
            self.pause()
            return
        times = cine.times_ms
        end_ms = float(times[-1]) + cine.timing.interval_ms
        now = self._start_ms + self._clock.elapsed() * self.options.speed
        if now >= end_ms:
            if not self.options.loop:
                self.controller.set_frame(cine.n_frames - 1)
                self.pause()
                return
            now = (now - end_ms) % end_ms  # wrapped to the start (frame times begin at 0)
            self._start_ms = now
            self._clock.start()
        self.controller.set_frame(int(np.searchsorted(times, now, side="right")) - 1)
