"""A PACS over DICOMweb, with dicomweb-client: QIDO-RS searches, WADO-RS retrieval one instance at a
time (in the transfer syntax it is stored in, so progress and cancel work between instances) and
STOW-RS, one file per request. Searches are single requests: dicomweb-client's paging
(``get_remaining``) never ends on Orthanc 1.10, whose QIDO ignores ``offset`` when ModalitiesInStudy
is a key. Credentials go in the HTTP session, never into a URL, a message or a
log; a requests exception (whose request carries the Authorization header) is never chained."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

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
        if node.username:
            self._session.auth = (node.username, node.password)
        self._web = DICOMwebClient(node.url.rstrip("/"), session=self._session,
                                   headers={"Authorization": f"Bearer {node.token}"} if node.token else None,
                                   timeout=(node.connect_timeout, node.timeout))
        self._web.set_http_retry_params(max_attempts=3, wait_exponential_multiplier=250)

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

    def find_studies(self, query: StudyQuery) -> list[StudyRecord]:
        found = self._call(self._web.search_for_studies, search_filters=query.keys(), fields=_tags(STUDY_FIELDS))
        return [study_record(Dataset.from_json(item)) for item in found]

    def _find_series(self, study_uid: str, series_uid: str | None) -> list[SeriesRecord]:
        filters = {"SeriesInstanceUID": series_uid} if series_uid else {}
        found = self._call(self._web.search_for_series, study_uid, search_filters=filters,
                           fields=_tags(SERIES_FIELDS))
        instances = [Dataset.from_json(item) for item in self._call(
            self._web.search_for_instances, study_uid, series_uid, fields=_tags(INSTANCE_FIELDS))]
        records = []
        for series in map(Dataset.from_json, found):
            uid = text(series, "SeriesInstanceUID")
            records.append(series_record(study_uid, series, [i for i in instances
                                                             if text(i, "SeriesInstanceUID") == uid]))
        return sorted(records, key=lambda s: (s.number is None, s.number or 0, s.series_uid))

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
