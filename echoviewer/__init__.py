"""echoviewer: a clinical-research viewer for echocardiography cines."""

__version__ = "0.1.0"
