"""PACS nodes: where a PACS is and how to talk to it, and the user's saved nodes.

A :class:`Node` speaks DIMSE (host, port, the PACS's AE title and ours) or DICOMweb (a base URL,
optionally a user name and password or a bearer token). :class:`NodeBook` keeps them in
``pacs_nodes.json`` in :func:`echoviewer.user_data.data_dir`, written atomically with mode 0600
since it may hold a password; a damaged or foreign file reads as empty. ``repr(node)`` never shows
the password or token.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from echoviewer.io.atomic import atomic_output, read_json
from echoviewer.user_data import data_dir

VERSION = 1
CALLING_AET = "ECHOVIEWER"
CONNECT_TIMEOUT = 5.0  # seconds to open the TCP connection
TIMEOUT = 30.0  # seconds to wait for any answer once connected
Protocol = Literal["dimse", "dicomweb"]


def _check_aet(role: str, aet: object) -> None:
    if not (isinstance(aet, str) and 0 < len(aet) <= 16 and aet.strip() and aet.isascii()
            and aet.isprintable() and "\\" not in aet):
        raise ValueError(f"the {role} AE title must be 1-16 printable ASCII characters without a backslash; "
                         f"got {aet!r}")


@dataclass(frozen=True)
class Node:
    """One PACS. DIMSE: ``host``, ``port``, ``called_aet`` (the PACS's AE title), ``calling_aet``
    (ours); DICOMweb: ``url`` (e.g. ``http://pacs:8042/dicom-web``), and ``username`` with
    ``password``, or ``token``. Raises ValueError when inconsistent."""

    name: str
    protocol: Protocol
    host: str = ""
    port: int = 0
    called_aet: str = ""
    calling_aet: str = CALLING_AET
    url: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    connect_timeout: float = CONNECT_TIMEOUT
    timeout: float = TIMEOUT

    def __post_init__(self) -> None:
        if not (isinstance(self.name, str) and 0 < len(self.name) <= 64 and self.name.isprintable()
                and self.name.strip() == self.name):
            raise ValueError(f"a node's name must be 1-64 printable characters, no leading or trailing space; "
                             f"got {self.name!r}")
        for name in ("connect_timeout", "timeout"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 3600):
                raise ValueError(f"{name} must be a number of seconds in (0, 3600]; got {value!r}")
        if self.protocol == "dimse":
            self._check_dimse()
        elif self.protocol == "dicomweb":
            self._check_dicomweb()
        else:
            raise ValueError(f"protocol must be 'dimse' or 'dicomweb'; got {self.protocol!r}")

    def _check_dimse(self) -> None:
        if not (isinstance(self.host, str) and self.host and self.host.isprintable() and " " not in self.host):
            raise ValueError(f"a DIMSE node needs a host name or address; got {self.host!r}")
        if not (type(self.port) is int and 0 < self.port < 65536):
            raise ValueError(f"the port must be 1-65535; got {self.port!r}")
        _check_aet("called", self.called_aet)
        _check_aet("calling", self.calling_aet)
        if self.url or self.username or self.password or self.token:
            raise ValueError("a DIMSE node takes no URL, user name, password or token")

    def _check_dicomweb(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname \
                or parts.query or parts.fragment or not self.url.isprintable() or " " in self.url:
            raise ValueError(f"a DICOMweb node needs an http(s) base URL such as http://pacs:8042/dicom-web; "
                             f"got {self.url!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError("put the user name and password in their own settings, not in the URL")
        try:
            port = self.endpoint[1]
        except ValueError:  # urllib's word for a port out of range
            port = 0
        if not 0 < port < 65536:
            raise ValueError(f"{self.url!r}: the port must be 1-65535")
        if self.host or self.port or self.called_aet:
            raise ValueError("a DICOMweb node takes no host, port or AE title: they are in its URL")
        if not all(isinstance(value, str) and value.isprintable() for value in (self.username, self.password, self.token)):
            raise ValueError("the user name, password and token must be printable text")
        if self.password and not self.username:
            raise ValueError("a password needs a user name")
        if self.token and self.username:
            raise ValueError("give a user name and password, or a token, not both")

    @property
    def endpoint(self) -> tuple[str, int]:
        """The host and port the node is reached at (a DICOMweb URL's, 80 or 443 by default)."""
        if self.protocol == "dimse":
            return self.host, self.port
        parts = urlsplit(self.url)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)

    @property
    def address(self) -> str:
        """Where the node is, for lists and messages: ``host:port (AE title)`` or the URL."""
        return f"{self.host}:{self.port} ({self.called_aet})" if self.protocol == "dimse" else self.url

    def as_dict(self) -> dict[str, Any]:
        """Every setting, the password and token included (for the node book's private file)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> Node:
        """Raises ValueError or TypeError for a record that is not a node."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in record.items() if k in known})


def _named(nodes: list[Node], name: str) -> Node:
    for node in nodes:
        if node.name == name:
            return node
    known = ", ".join(node.name for node in nodes) or "none yet"
    raise ValueError(f"no PACS node named {name!r} (known: {known}); add one with 'echoviewer pacs node add'")


class NodeBook:
    """The user's PACS nodes, by name, in ``pacs_nodes.json`` under ``root`` (default: data_dir())."""

    def __init__(self, root: Path | None = None) -> None:
        self.file = (root if root is not None else data_dir()) / "pacs_nodes.json"

    def nodes(self) -> list[Node]:
        """The saved nodes in the order added; entries that are not valid nodes are left out."""
        record = read_json(self.file)
        entries = record.get("nodes") if isinstance(record, dict) and record.get("version") == VERSION else None
        nodes: list[Node] = []
        for entry in entries if isinstance(entries, list) else []:
            try:
                nodes.append(Node.from_dict(entry))
            except (ValueError, TypeError):
                continue
        return nodes

    def get(self, name: str) -> Node:
        """The node called ``name``; ValueError naming the known ones when there is none."""
        return _named(self.nodes(), name)

    def add(self, node: Node) -> None:
        """Save ``node``, replacing the one of the same name."""
        self._save([n for n in self.nodes() if n.name != node.name] + [node])

    def remove(self, name: str) -> None:
        """Forget the node called ``name``; ValueError when there is none."""
        nodes = self.nodes()
        _named(nodes, name)
        self._save([n for n in nodes if n.name != name])

    def _save(self, nodes: list[Node]) -> None:
        self.file.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": VERSION, "nodes": [n.as_dict() for n in nodes]}, indent=1) + "\n"
        with atomic_output(self.file) as temporary:
            # created private, before the password is in it
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
