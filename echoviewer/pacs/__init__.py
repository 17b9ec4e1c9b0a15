"""Query, retrieve and store against a PACS, over DIMSE (pynetdicom) or DICOMweb (dicomweb-client),
without a GUI: :func:`open_client` gives a :class:`Client` for a :class:`Node`; retrieved series
land in the cache (:mod:`echoviewer.pacs.cache`); a failure is a :class:`PacsError` of one line."""

from __future__ import annotations

from echoviewer.pacs.cache import RetrievedSeries, cache_dir, finished_series
from echoviewer.pacs.client import Cancelled, Client, Progress
from echoviewer.pacs.errors import PacsError
from echoviewer.pacs.nodes import Node, NodeBook
from echoviewer.pacs.query import SeriesRecord, StudyQuery, StudyRecord


def open_client(node: Node) -> Client:
    """A client for ``node``'s protocol (nothing is sent until a method is called)."""
    if node.protocol == "dimse":
        from echoviewer.pacs.dimse import DimseClient

        return DimseClient(node)
    from echoviewer.pacs.dicomweb import DicomwebClient

    return DicomwebClient(node)


__all__ = ["Cancelled", "Client", "Node", "NodeBook", "PacsError", "Progress", "RetrievedSeries", "SeriesRecord",
           "StudyQuery", "StudyRecord", "cache_dir", "finished_series", "open_client"]
