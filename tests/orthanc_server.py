"""A real Orthanc PACS for the tests: DIMSE (C-ECHO, C-FIND, C-GET, C-STORE) and DICOMweb (its
plugin), on free loopback ports, with its data and log in a test's folder.

``OrthancServer(folder).start()`` writes ``orthanc.json`` and runs ``/usr/sbin/Orthanc`` until its
REST ``/system`` answers; ``stop()`` (terminate, then kill) or ``kill()`` ends it and ``start()``
runs it again on the same ports and data. The called AE title is checked (a wrong one is
rejected) and HTTP needs a user and password (``user``, ``password``).
"""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import time
from pathlib import Path

import requests

BINARY = Path("/usr/sbin/Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
NOT_INSTALLED = "Orthanc is not installed: apt-get install orthanc orthanc-dicomweb (see .ci/run)"
AET = "ORTHANC"
START_TIMEOUT = 20.0


def missing() -> str | None:
    """Why Orthanc cannot run here, or None."""
    absent = [str(p) for p in (BINARY, DICOMWEB_PLUGIN) if not p.is_file()]
    return f"{NOT_INSTALLED}; missing {', '.join(absent)}" if absent else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OrthancServer:
    """One Orthanc process and its folder (see the module's docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.dicom_port, self.http_port = free_port(), free_port()
        self.aet = AET
        self.user, self.password = "echo", secrets.token_urlsafe(12)
        self.rest_url = f"http://127.0.0.1:{self.http_port}"
        self.dicomweb_url = f"{self.rest_url}/dicom-web"
        self.log = folder / "orthanc.log"
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> dict:
        return {
            "Name": "echoviewer-tests", "StorageDirectory": str(self.folder / "db"),
            "IndexDirectory": str(self.folder / "db"), "StorageCompression": False,
            "DicomAet": self.aet, "DicomPort": self.dicom_port, "DicomCheckCalledAet": True,
            "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowFind": True, "DicomAlwaysAllowGet": True,
            "DicomAlwaysAllowStore": True, "DicomScpTimeout": 10,
            "HttpPort": self.http_port, "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True, "RegisteredUsers": {self.user: self.password},
            "Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            "SaveJobs": False,
        }

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def start(self) -> OrthancServer:
        """Run Orthanc and wait until its REST API answers; RuntimeError with its log if it does not."""
        config = self.folder / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=1))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(BINARY), str(config)], stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with status {self.process.returncode}:\n{self.log_tail()}")
            try:
                if self.rest("GET", "/system").ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {START_TIMEOUT:g} s:\n{self.log_tail()}")

    def rest(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, self.rest_url + path, auth=(self.user, self.password), timeout=10, **kwargs)

    def upload(self, path: Path) -> str:
        """Store a file through the REST API; returns Orthanc's instance id."""
        response = self.rest("POST", "/instances", data=Path(path).read_bytes())
        response.raise_for_status()
        return response.json()["ID"]

    def stop(self) -> None:
        """End Orthanc: SIGTERM, and SIGKILL if it has not exited within 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.process = None

    def kill(self) -> None:
        """End Orthanc at once (SIGKILL), as a crash or a pulled cable would."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None
