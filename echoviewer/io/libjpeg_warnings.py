"""libjpeg's warnings about damaged JPEG data, caught instead of printed.

libjpeg (OpenCV's libjpeg-turbo) prints a warning such as "Corrupt JPEG data: 37 extraneous bytes
before marker 0xd9" or "Premature end of JPEG file" straight to file descriptor 2 from C, then
goes on decoding; OpenCV returns the image and has no hook, setting or return value that reports
the warning (opencv/opencv-python#610). Those lines are the best sign of a damaged frame there
is: damage inside the entropy-coded data (lost or overwritten bytes) leaves every marker in place,
so no structural check of the stream (EOI present, restart markers in order) can see it, while
libjpeg, which decodes every Huffman code, nearly always does (a JPEG has no checksum: garbage that
happens to decode into valid codes ending where the data ends passes any decoder). So while OpenCV
decodes, fd 2 points at an unlinked temporary
file (append-only, so concurrent writers never overwrite each other) and its lines are read as
libjpeg's verdict. fd 2 is the whole process's: one block redirects it at a time (a lock), and
whatever else was written meanwhile (another thread's output, a library's log) is written back to
the real stderr when the block ends, delayed, never lost.
"""

from __future__ import annotations

import fcntl
import os
import sys
import tempfile
import threading
from types import TracebackType

# libjpeg's warnings that mean the data is damaged (jerror.h: JWRN_EXTRANEOUS_DATA, JWRN_HIT_MARKER,
# JWRN_HUFF_BAD_CODE, JWRN_MUST_RESYNC, JWRN_JPEG_EOF, JWRN_NOT_SEQUENTIAL, JWRN_BOGUS_PROGRESSION).
# libjpeg prints only the first warning of each image, so a damaged frame gives one line.
_DAMAGE = (b"Corrupt JPEG data", b"Premature end of JPEG file", b"Invalid SOS parameters",
           b"Inconsistent progression sequence")
_STDERR = 2
_lock = threading.Lock()


class LibjpegWarnings:
    """``with LibjpegWarnings() as warnings:`` around OpenCV decodes: nothing reaches stderr from
    libjpeg, and :meth:`damaged` counts the frames it found damaged since the last call."""

    def __enter__(self) -> LibjpegWarnings:
        _lock.acquire()
        try:
            self._read_to = 0
            self._other: list[bytes] = []
            self._file = tempfile.TemporaryFile()
            fd = self._file.fileno()
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_APPEND)
            if sys.stderr is not None:
                sys.stderr.flush()
            try:
                self._saved: int | None = os.dup(_STDERR)
            except OSError:  # no stderr at all (a windowed process): fd 2 is closed again afterwards
                self._saved = None
            os.dup2(fd, _STDERR)
        except BaseException:
            _lock.release()
            raise
        return self

    def damaged(self) -> int:
        """How many damage warnings libjpeg wrote since the last call."""
        fd = self._file.fileno()
        data = os.pread(fd, os.fstat(fd).st_size - self._read_to, self._read_to)
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next call
        self._read_to += len(complete)
        count = 0
        for line in complete.splitlines(keepends=True):
            if line.startswith(_DAMAGE):
                count += 1
            else:
                self._other.append(line)
        return count

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        try:
            if sys.stderr is not None:
                sys.stderr.flush()
            if self._saved is not None:
                os.dup2(self._saved, _STDERR)
                os.close(self._saved)
            else:
                os.close(_STDERR)
            self.damaged()
            fd = self._file.fileno()
            self._other.append(os.pread(fd, os.fstat(fd).st_size - self._read_to, self._read_to))
            try:
                os.write(_STDERR, b"".join(self._other))
            except OSError:  # stderr closed or gone: there was nowhere to write it anyway
                pass
        finally:
            self._file.close()
            _lock.release()
