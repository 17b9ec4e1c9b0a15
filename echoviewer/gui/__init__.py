"""The desktop viewer (PySide6 + pyqtgraph): Qt widgets and workers over the GUI-free core.

Nothing here computes analysis results; views draw what :class:`~echoviewer.study.Study` holds,
as the one :class:`~echoviewer.gui.view_options.ViewOptions` asks, and send the user's actions to
the one :class:`~echoviewer.gui.controller.StudyController`.
"""
