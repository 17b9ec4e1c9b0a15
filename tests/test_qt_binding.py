"""The Qt binding the viewer runs on keeps Python's reference counts intact.

PySide6 6.12.0 under Python < 3.12 dropped a reference to ``None`` on most calls into Qt; the
viewer then died ("deallocating None") after about a minute of playback. pyproject.toml excludes
that release; this test fails if such a binding is installed again.
"""

from __future__ import annotations

import sys

import pytest
from PySide6.QtWidgets import QApplication, QLabel

from tests.helpers import immortal_singletons

pytestmark = pytest.mark.gui


@immortal_singletons
def test_qt_calls_do_not_leak_references_to_none() -> None:
    app = QApplication.instance() or QApplication([])
    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("frame")
        app.processEvents()
    assert abs(sys.getrefcount(None) - before) < 100
