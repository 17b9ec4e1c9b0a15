"""``PacsError``: every failure to talk to a PACS, as one line that says what went wrong and what to
do. Messages name the host and port, never a password or token."""

from __future__ import annotations

import socket
from typing import Literal

from echoviewer.io.errors import one_line

Kind = Literal["connection", "timeout", "rejected", "unauthorised", "forbidden", "http", "not_found",
               "refused", "incomplete", "cancelled"]


class PacsError(RuntimeError):
    """A PACS operation failed; ``kind`` says how (``connection``: no TCP connection; ``timeout``:
    no answer in time; ``rejected``: the association was rejected; ``unauthorised`` / ``forbidden``
    / ``http``: a DICOMweb HTTP error; ``not_found``: nothing matched a retrieve; ``refused``: the
    PACS refused an operation or a file; ``incomplete``: instances did not arrive; ``cancelled``)."""

    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(one_line(message))
        self.kind: Kind = kind


def cannot_connect(host: str, port: int, exc: BaseException, connect_timeout: float) -> PacsError:
    """The TCP connection to ``host:port`` failed with ``exc`` (an OSError or what wraps one)."""
    where = f"cannot connect to {host}:{port}"
    if isinstance(exc, ConnectionRefusedError):
        return PacsError("connection", f"{where}: connection refused; is the PACS running and the port right?")
    if isinstance(exc, ConnectionResetError | ConnectionAbortedError | BrokenPipeError):
        return connection_lost(host, port)
    if isinstance(exc, TimeoutError):
        return PacsError("timeout", f"{where}: no answer within {connect_timeout:g} s (timeout); "
                                    "is the host up and the port open?")
    if isinstance(exc, socket.gaierror):
        return PacsError("connection", f"{where}: the host name is unknown; check it")
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return PacsError("connection", f"{where}: {reason}")


def connection_lost(host: str, port: int) -> PacsError:
    return PacsError("connection", f"lost the connection to {host}:{port}: the PACS stopped or dropped it; "
                                   "try again")


def no_answer(host: str, port: int, timeout: float) -> PacsError:
    return PacsError("timeout", f"{host}:{port} did not answer within {timeout:g} s (timeout); "
                                "the PACS is busy or stuck, try again later")


def nothing_found(node: str, study_uid: str, series_uid: str | None) -> PacsError:
    what = f"series {series_uid} of study {study_uid}" if series_uid else f"study {study_uid}"
    return PacsError("not_found", f"nothing found on {node} for {what}; check the UID (echoviewer pacs find)")
