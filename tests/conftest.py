"""Shared fixtures: the real vendor DICOM files of pydicom-data, and the bundled sample."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from echoviewer.resources import SAMPLE_CINE  # noqa: E402


def pydicom_data_dir() -> Path:
    """pydicom-data installs its files in ``data_store/data`` (never downloaded at test time)."""
    spec = importlib.util.find_spec("data_store")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pydicom-data is not installed; install the test extras: pip install -e '.[test]'")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that drives Qt widgets (pytest-qt's ``qtbot``, also through a fixture) is marked
    ``gui``, so ``-m "not gui"`` runs the GUI-free core alone."""
    for item in items:
        if "qtbot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(scope="session")
def pydicom_data() -> Path:
    return pydicom_data_dir()


@pytest.fixture(scope="session")
def sample_cine_path() -> Path:
    return SAMPLE_CINE


@pytest.fixture(autouse=True)
def private_data_dir(tmp_path_factory, monkeypatch) -> Path:
    """Every test (and every child it starts) keeps the viewer's saved edits, recent files and
    user models in its own folder, never in the real user's."""
    folder = tmp_path_factory.mktemp("echoviewer-data")
    monkeypatch.setenv("ECHOVIEWER_DATA_DIR", str(folder))
    return folder


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    """A real Orthanc PACS (tests/orthanc_server.py) for the whole session: ``dicom_port``, ``aet``,
    ``rest_url``, ``dicomweb_url``, ``user`` and ``password`` on it. Without Orthanc the tests
    that need it fail, never skip."""
    from tests.orthanc_server import OrthancServer, missing

    reason = missing()
    if reason:
        pytest.fail(reason)
    server = OrthancServer(tmp_path_factory.mktemp("orthanc"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    yield server
    server.stop()
