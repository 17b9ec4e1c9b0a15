"""``viewer.ini``: where the viewer keeps its layout, view options and model between sessions.

Its own module, importing Qt's core and the data folder only, so that the start window
(:mod:`echoviewer.gui.start_window`) opens at the saved size before the rest of the viewer loads.
"""

from __future__ import annotations

from PySide6.QtCore import QSettings

from echoviewer.user_data import data_dir


def viewer_settings() -> QSettings:
    """``viewer.ini`` in the user's data folder: the window's layout, the view options, the model."""
    return QSettings(str(data_dir() / "viewer.ini"), QSettings.Format.IniFormat)
