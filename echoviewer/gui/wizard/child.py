"""``python -m distill …`` in a child process, read line by line: the wizard's only link to torch.

A crash, a kill or a runaway in the child costs that command, never the viewer. JSON lines on
stdout become :attr:`DistillProcess.message`, anything else (stdout or stderr) :attr:`log`; the
last ``error: …`` line is what :attr:`finished` reports when the command fails.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

from echoviewer.distill_runs import distill_command
from echoviewer.run_contract import read_line

KILL_AFTER_MS = 15_000  # a stop request that the child does not honour within this becomes a kill


class DistillProcess(QObject):
    message = Signal(dict)     # a JSON line: progress, losses, stage changes, results
    log = Signal(str)          # any other line, stdout or stderr
    finished = Signal(int, str)  # (exit code, the error line or ""); -1 when it crashed or could not start

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process = QProcess(self)
        self.process.readyReadStandardOutput.connect(lambda: self._read(self.process.readAllStandardOutput, "out"))
        self.process.readyReadStandardError.connect(lambda: self._read(self.process.readAllStandardError, "err"))
        self.process.finished.connect(self._finished)
        self.process.errorOccurred.connect(self._error)
        self._buffers = {"out": "", "err": ""}
        self._error_line = ""
        self._stopping = False
        self._killer = QTimer(self, singleShot=True, interval=KILL_AFTER_MS)
        self._killer.timeout.connect(self.process.kill)

    def running(self) -> bool:
        return self.process.state() != QProcess.ProcessState.NotRunning

    def start(self, *arguments: str) -> None:
        """Run ``python -m distill ARGUMENTS``; stdin stays open, so ``--stop-on-eof`` ends an orphan."""
        if self.running():
            raise RuntimeError("a distill command is already running")
        program, argv, extra = distill_command(*arguments)
        environment = QProcessEnvironment.systemEnvironment()
        for key, value in extra.items():
            environment.insert(key, value)
        self.process.setProcessEnvironment(environment)
        self._buffers = {"out": "", "err": ""}
        self._error_line, self._stopping = "", False
        self.process.start(program, argv)

    def stop(self) -> None:
        """Ask the child to stop (SIGTERM: training ends within a step, resumable); kill it if it hangs."""
        if self.running():
            self._stopping = True
            self.process.terminate()
            self._killer.start()

    def _read(self, read, channel: str) -> None:
        text = self._buffers[channel] + bytes(read().data()).decode("utf-8", "replace")
        *lines, self._buffers[channel] = text.replace("\r", "\n").split("\n")
        for line in filter(None, (line.strip() for line in lines)):
            self._line(line, channel)

    def _line(self, line: str, channel: str) -> None:
        if channel == "out" and (payload := read_line(line)) is not None:
            self.message.emit(payload)
            return
        if line.startswith("error:") or ": error: " in line:  # ours, or argparse's "prog: error: ..."
            self._error_line = line.split("error:", 1)[1].strip()
        self.log.emit(line)

    def _flush(self) -> None:
        for channel in ("out", "err"):
            if rest := self._buffers[channel].strip():
                self._line(rest, channel)
            self._buffers[channel] = ""

    def _finished(self, code: int, status: QProcess.ExitStatus) -> None:
        self._killer.stop()
        self._flush()
        if status == QProcess.ExitStatus.CrashExit and not self._stopping:
            self.finished.emit(-1, self._error_line or "the distill process crashed; its log above says where")
        else:
            self.finished.emit(130 if self._stopping and code != 0 else code, self._error_line)

    def _error(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart:
            self.finished.emit(-1, f"could not start Python for distill ({self.process.errorString()})")


class Probe(QObject):
    """One ``python -m distill probe …`` at a time: ``done(dict)`` with its JSON, or ``failed(line)``."""

    done = Signal(dict)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._child: DistillProcess | None = None

    def start(self, *arguments: str) -> None:
        """Run ``probe ARGUMENTS``; a probe still running is killed (its answer is no longer wanted)."""
        self.cancel()
        child = self._child = DistillProcess(self)
        answer: list[dict] = []
        child.message.connect(answer.append)
        child.finished.connect(lambda code, error: self._finished(child, answer, code, error))
        child.start("probe", *arguments)

    def running(self) -> bool:
        return self._child is not None and self._child.running()

    def cancel(self) -> None:
        child, self._child = self._child, None
        if child is not None and child.running():
            child.process.kill()

    def _finished(self, child: DistillProcess, answer: list[dict], code: int, error: str) -> None:
        child.deleteLater()
        if child is not self._child:
            return
        self._child = None
        if code == 0 and answer:
            self.done.emit(answer[-1])
        else:
            self.failed.emit(error or f"the check failed (exit code {code})")
