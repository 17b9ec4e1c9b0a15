"""Real-time playback: which frame to show comes from the clock and the cine's own frame times,
so a slow repaint drops frames instead of slowing the heart down."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QElapsedTimer, QObject, Qt, QTimer, Signal

from echoviewer.gui.controller import StudyController

SPEEDS = (0.25, 0.5, 1.0, 1.5, 2.0)


class Playback(QObject):
    playing_changed = Signal(bool)

    def __init__(self, controller: StudyController, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.speed = 1.0
        self.loop = True
        self._timer = QTimer(self)
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.timeout.connect(self._tick)
        self._clock = QElapsedTimer()
        self._start_ms = 0.0
        controller.cine_loaded.connect(lambda _cine: self.pause())

    @property
    def playing(self) -> bool:
        return self._timer.isActive()

    def _restart_clock(self) -> None:
        cine = self.controller.cine
        self._start_ms = float(cine.times_ms[self.controller.frame])
        self._clock.start()

    def play(self) -> None:
        cine = self.controller.cine
        if cine is None or cine.n_frames < 2 or self.playing:
            return
        if self.controller.frame == cine.n_frames - 1 and not self.loop:
            self.controller.set_frame(0)
        self._restart_clock()
        # Tick at twice the displayed frame rate (at most every 4 ms) to stay close to real time.
        self._timer.start(max(4, int(cine.timing.interval_ms / self.speed / 2)))
        self.playing_changed.emit(True)

    def pause(self) -> None:
        if self.playing:
            self._timer.stop()
            self.playing_changed.emit(False)

    def toggle(self) -> None:
        self.pause() if self.playing else self.play()

    def set_speed(self, speed: float) -> None:
        self.speed = float(speed)
        if self.playing:
            self.pause()
            self.play()

    def set_loop(self, loop: bool) -> None:
        self.loop = bool(loop)

    def _tick(self) -> None:
        cine = self.controller.cine
        if cine is None:
            self.pause()
            return
        times = cine.times_ms
        end_ms = float(times[-1]) + cine.timing.interval_ms
        now = self._start_ms + self._clock.elapsed() * self.speed
        if now >= end_ms:
            if not self.loop:
                self.controller.set_frame(cine.n_frames - 1)
                self.pause()
                return
            now = (now - end_ms) % end_ms  # wrapped to the start (frame times begin at 0)
            self._start_ms = now
            self._clock.start()
        self.controller.set_frame(int(np.searchsorted(times, now, side="right")) - 1)
