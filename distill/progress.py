"""Progress of a long command: a tqdm bar on stderr, JSON lines on stdout, or nothing.

JSON lines are what the viewer's distillation wizard reads from a child process
(``echoviewer.run_contract.progress_line``):
``{"stage": "generate", "done": 3, "total": 10, "elapsed_s": 1.2, "eta_s": 2.8}``.
"""

from __future__ import annotations

import sys
import time

from tqdm import tqdm

from echoviewer.run_contract import progress_line, write_line


class Progress:
    def __init__(self, stage: str, *, total: int, done: int = 0, mode: str = "bar", unit: str = "it") -> None:
        self.stage, self.total, self.done, self.mode = stage, total, done, mode
        self._start = time.monotonic()
        self._start_done = done
        self._bar = tqdm(total=total, initial=done, unit=unit, desc=stage, file=sys.stderr,
                         dynamic_ncols=True) if mode == "bar" else None
        self._emit({})

    def _emit(self, fields: dict) -> None:
        if self.mode != "json":
            return
        elapsed = time.monotonic() - self._start
        finished = self.done - self._start_done
        eta = elapsed / finished * (self.total - self.done) if finished else None
        write_line(progress_line(self.stage, self.done, self.total, round(elapsed, 2),
                                 None if eta is None else round(eta, 2), **fields))

    def advance(self, steps: int = 1, **fields: object) -> None:
        """Count ``steps`` more; ``fields`` (losses, epoch, ...) go into the JSON line and the bar."""
        self.done += steps
        if self._bar is not None:
            if fields:
                self._bar.set_postfix(fields, refresh=False)
            self._bar.update(steps)
        self._emit(fields)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
