"""A PACS over DICOMweb, with dicomweb-client: QIDO-RS searches, WADO-RS retrieval one instance at a
time (in the transfer syntax it is stored in; progress and cancel between instances) and STOW-RS,
one file per request. Credentials live in the HTTP session, never in a URL, a message or a log; a
requests exception (whose request carries the Authorization header) is never chained to ours.

Two Orthanc 1.10 quirks shape the searches. Its DICOMweb plugin does not percent-decode query
values, so the wildcards ``*`` and ``?`` go out as themselves (the same to any server) rather than
as dicomweb-client's ``%2A`` and ``%3F``; a ``^``, a space or a non-ASCII letter in a searched name
still cannot match there (use ``*``, or DIMSE). And its QIDO ignores ``offset`` when
ModalitiesInStudy is a key, so a search is one request (dicomweb-client's paging,
``get_remaining``, would never end).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag
from requests.adapters import HTTPAdapter

from echoviewer.pacs.cache import PartialRetrieve
from echoviewer.pacs.client import Client, OutgoingFile
from echoviewer.pacs.errors import PacsError, cannot_connect, no_answer
from echoviewer.pacs.nodes import Node
from echoviewer.pacs.query import (INSTANCE_FIELDS, SERIES_FIELDS, STUDY_FIELDS, SeriesRecord, StudyQuery,
                                   StudyRecord, series_record, study_record, text)

# dicomweb-client logs every URL it requests, search keys (patient names) included.
logging.getLogger("dicomweb_client").setLevel(logging.CRITICAL)

_ORIGINAL_SYNTAX = (("application/dicom", "*"),)
T = TypeVar("T")


def _tags(keywords: Sequence[str]) -> list[str]:
    return [f"{Tag(keyword):08X}" for keyword in keywords]


class _RawWildcards(HTTPAdapter):
    """Sends ``*`` and ``?`` in a query string as themselves (see the module's docstring)."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.url and "?" in request.url:
            path, _, query = request.url.partition("?")
            request.url = f"{path}?{query.replace('%2A', '*').replace('%3F', '?')}"
        return super().send(request, *args, **kwargs)


def _save(ds: Dataset, path: Path) -> None:
    ds.save_as(path, enforce_file_format=True)


def _root_cause(exc: BaseException) -> BaseException:
    """The innermost exception under requests' and urllib3's wrappers: the OSError that says why."""
    seen = {id(exc)}
    while True:
        reason = getattr(exc, "reason", None)
        inner = reason if isinstance(reason, BaseException) else exc.__cause__ or exc.__context__
        if inner is None and exc.args and isinstance(exc.args[0], BaseException):
            inner = exc.args[0]
        if inner is None or id(inner) in seen:
            return exc
        seen.add(id(inner))
        exc = inner


class DicomwebClient(Client):
    """A DICOMweb PACS (see the module's docstring)."""

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self._session = requests.Session()
        for scheme in ("http://", "https://"):
            self._session.mount(scheme, _RawWildcards())
        if node.username:
            self._session.auth = (node.username, node.password)
        self._web = DICOMwebClient(node.url.rstrip("/"), session=self._session,
                                   headers={"Authorization": f"Bearer {node.token}"} if node.token else None,
                                   timeout=(node.connect_timeout, node.timeout))
        # its retries would repeat every failure, a refused connection or a timeout included
        self._web.set_http_retry_params(retry=False)

    def close(self) -> None:
        self._session.close()

    def _call(self, request: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``request(*args, **kwargs)`` with its network and HTTP failures as PacsErrors."""
        host, port = self.node.endpoint
        try:
            return request(*args, **kwargs)
        except requests.HTTPError as exc:
            error = self._http_error(exc.response)
        except requests.ConnectTimeout:
            error = cannot_connect(host, port, TimeoutError(), self.node.connect_timeout)
        except requests.Timeout:
            error = no_answer(host, port, self.node.timeout)
        except requests.ConnectionError as exc:
            error = cannot_connect(host, port, _root_cause(exc), self.node.connect_timeout)
        except (ValueError, InvalidDicomError) as exc:  # dicomweb-client's word for an answer it cannot read
            error = PacsError("http", f"{host}:{port} answered with something that is not DICOMweb ({exc})")
        raise error from None

    def _http_error(self, response: requests.Response | None) -> PacsError:
        host, port = self.node.endpoint
        code = response.status_code if response is not None else 0
        status = f"HTTP {code} {response.reason if response is not None else ''}".strip()
        if code == 401:
            if self.node.username or self.node.token:
                return PacsError("unauthorised", f"{host}:{port} refused the credentials ({status}); check the "
                                                 "user name and password (or the token)")
            return PacsError("unauthorised", f"{host}:{port} needs credentials ({status}); add a user name and "
                                             "password to the node")
        if code == 403:
            return PacsError("forbidden", f"{host}:{port} does not let this user do that ({status}); ask the "
                                          "PACS's administrator for the right")
        if code == 404:
            return PacsError("http", f"{self.node.url} has no such resource ({status}); check the DICOMweb base URL "
                                     "(such as http://pacs:8042/dicom-web)")
        if code >= 500:
            return PacsError("http", f"{host}:{port} failed ({status}); the PACS's log says why, try again later")
        return PacsError("http", f"{host}:{port} refused the request ({status})")

    def echo(self) -> None:
        self._call(self._web.search_for_studies, limit=1)

    def _search(self, search: Callable[..., list[dict]], *args: object, **kwargs: object) -> list[Dataset]:
        """A QIDO-RS search's answers as datasets."""
        return self._call(lambda: [Dataset.from_json(item) for item in search(*args, **kwargs)])

    def find_studies(self, query: StudyQuery) -> list[StudyRecord]:
        return [study_record(ds) for ds in self._search(self._web.search_for_studies, search_filters=query.keys(),
                                                        fields=_tags(STUDY_FIELDS))]

    def _find_series(self, study_uid: str, series_uid: str | None) -> list[SeriesRecord]:
        found = self._search(self._web.search_for_series, study_uid, fields=_tags(SERIES_FIELDS),
                             search_filters={"SeriesInstanceUID": series_uid} if series_uid else {})
        instances = self._search(self._web.search_for_instances, study_uid, series_uid, fields=_tags(INSTANCE_FIELDS))
        return [series_record(study_uid, series, [i for i in instances if text(i, "SeriesInstanceUID")
                                                  == text(series, "SeriesInstanceUID")]) for series in found]

    def _transfer(self, partial: PartialRetrieve) -> None:
        for series in partial.series:
            for sop_uid in series.instance_uids:
                instance = self._call(self._web.retrieve_instance, series.study_uid, series.series_uid, sop_uid,
                                      media_types=_ORIGINAL_SYNTAX)
                partial.write(sop_uid, functools.partial(_save, instance))

    def _store(self, files: Sequence[OutgoingFile], each: Iterator[OutgoingFile]) -> None:
        host, port = self.node.endpoint
        for file in each:
            answer = self._call(self._web.store_instances, [pydicom.dcmread(file.path)])
            failed = answer.get("FailedSOPSequence")
            if failed:
                reason = failed[0].get("FailureReason")
                raise PacsError("refused", f"{host}:{port} refused {file.path.name} (STOW-RS failure reason "
                                           f"{reason if reason is not None else 'not given'})")
