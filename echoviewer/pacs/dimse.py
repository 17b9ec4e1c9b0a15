"""A PACS over DIMSE, with pynetdicom: C-ECHO, Study Root C-FIND, C-GET (we take the storage SCP
role on the same association) and C-STORE. Each call opens its own association and releases it.

C-GET proposes one presentation context per storage class and transfer syntax (71, and one for
C-GET itself, of the 128 an association may carry): a PACS accepts a single transfer syntax per context, so one context
listing several would make it convert every instance to the syntax it picked (Orthanc 1.10 does,
and fails on what it cannot convert); this way the files arrive byte for byte as stored.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, cast

from pydicom import uid
from pydicom.dataset import Dataset
from pynetdicom import AE, build_context, build_role, evt
from pynetdicom.association import Association
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import (StudyRootQueryRetrieveInformationModelFind,  # type: ignore[attr-defined]
                                  StudyRootQueryRetrieveInformationModelGet, Verification)
from pynetdicom.status import (QR_FIND_SERVICE_CLASS_STATUS, QR_GET_SERVICE_CLASS_STATUS,
                               STORAGE_SERVICE_CLASS_STATUS, VERIFICATION_SERVICE_CLASS_STATUS, code_to_category)

from echoviewer.pacs.cache import PartialRetrieve
from echoviewer.pacs.client import Client, OutgoingFile, refused_status
from echoviewer.pacs.errors import PacsError, cannot_connect, connection_lost, no_answer
from echoviewer.pacs.query import (INSTANCE_FIELDS, SERIES_FIELDS, STUDY_FIELDS, SeriesRecord, StudyQuery,
                                   StudyRecord, series_record, study_record, text, uid_name)

# pynetdicom's log quotes identifiers (patient names in debug dumps); every failure is a PacsError.
logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)

IMAGE_CLASSES = (uid.UltrasoundImageStorage, uid.UltrasoundMultiFrameImageStorage, uid.EnhancedUSVolumeStorage,
                 uid.SecondaryCaptureImageStorage, uid.MultiFrameTrueColorSecondaryCaptureImageStorage,
                 uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage)
IMAGE_SYNTAXES = (uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian, uid.JPEGBaseline8Bit, uid.JPEGLossless,
                  uid.JPEGLosslessSV1, uid.JPEGLSLossless, uid.JPEGLSNearLossless, uid.JPEG2000Lossless,
                  uid.JPEG2000, uid.RLELossless)
SEGMENTATION_SYNTAXES = (uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian, uid.RLELossless,
                         uid.JPEGLSLossless, uid.JPEG2000Lossless)
REPORT_CLASSES = (uid.ComprehensiveSRStorage, uid.EnhancedSRStorage, uid.Comprehensive3DSRStorage)
REPORT_SYNTAXES = (uid.ImplicitVRLittleEndian, uid.ExplicitVRLittleEndian)
STORAGE = ([(c, s) for c in IMAGE_CLASSES for s in IMAGE_SYNTAXES]
           + [(uid.SegmentationStorage, s) for s in SEGMENTATION_SYNTAXES]
           + [(c, s) for c in REPORT_CLASSES for s in REPORT_SYNTAXES])
MAX_CONTEXTS = 128
_PENDING = (0xFF00, 0xFF01)
_REFUSED = 0xA700  # what our storage SCP answers to an instance it does not keep


def _status_text(code: int, table: dict[int, tuple[str, str]]) -> str:
    return table.get(code, ("", ""))[1]


class DimseClient(Client):
    """A DIMSE PACS (see the module's docstring)."""

    @contextmanager
    def _association(self, contexts: Sequence[PresentationContext], roles: Sequence[Any] = (),
                     handlers: Sequence[Any] = ()) -> Iterator[Association]:
        """An established association, released after the block (aborted if the block fails)."""
        node = self.node
        ae = AE(ae_title=node.calling_aet)
        ae.connection_timeout = node.connect_timeout
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = node.timeout
        ae.requested_contexts = list(contexts)
        connected = threading.Event()
        start = time.monotonic()
        try:
            assoc = ae.associate(node.host, node.port, ae_title=node.called_aet, ext_neg=list(roles),
                                 evt_handlers=[(evt.EVT_CONN_OPEN, lambda _: connected.set()), *handlers])
        except OSError as exc:  # the host name does not resolve
            raise cannot_connect(node.host, node.port, exc, node.connect_timeout) from None
        if not assoc.is_established:
            raise self._not_associated(assoc, connected.is_set(), time.monotonic() - start)
        try:
            yield assoc
        except BaseException:
            assoc.abort()
            raise
        assoc.release()

    def _not_associated(self, assoc: Association, connected: bool, elapsed: float) -> PacsError:
        node = self.node
        where = f"{node.host}:{node.port}"
        answer = assoc.acceptor.primitive
        if assoc.is_rejected and answer is not None:
            return PacsError("rejected", f"{where} rejected the association: {answer.reason_str}; check the PACS's "
                                         f"AE title ({node.called_aet!r}) and that it knows ours ({node.calling_aet!r})")
        if answer is not None:
            return PacsError("refused", f"{where} accepted the association but none of the SOP classes and transfer "
                                        "syntaxes proposed: it does not support this")
        if not connected:
            if elapsed >= node.connect_timeout:
                return cannot_connect(node.host, node.port, TimeoutError(), node.connect_timeout)
            try:  # pynetdicom only logs why the connection failed: ask the network
                socket.create_connection((node.host, node.port), timeout=node.connect_timeout).close()
            except OSError as exc:
                return cannot_connect(node.host, node.port, exc, node.connect_timeout)
            return connection_lost(node.host, node.port)
        if elapsed >= node.timeout:
            return PacsError("timeout", f"{where} accepted the connection but did not answer the association "
                                        f"request within {node.timeout:g} s (timeout); is it a DICOM port?")
        return PacsError("connection", f"{where} closed the connection during the association request; is it a "
                                       f"DICOM port, and does the PACS accept our AE title ({node.calling_aet!r})?")

    def _silence(self, since: float) -> PacsError:
        """Why a response did not come (pynetdicom hands back an empty status either way)."""
        if time.monotonic() - since >= self.node.timeout:
            return no_answer(self.node.host, self.node.port, self.node.timeout)
        return connection_lost(self.node.host, self.node.port)

    def close(self) -> None:
        """Nothing is held between calls: each has its own association."""

    def echo(self) -> None:
        with self._association([build_context(Verification)]) as assoc:
            start = time.monotonic()
            code = assoc.send_c_echo().get("Status")
            if code is None:
                raise self._silence(start)
            if code != 0x0000:
                raise refused_status(self.node.host, self.node.port, "C-ECHO", code,
                                     _status_text(code, VERIFICATION_SERVICE_CLASS_STATUS))

    def _find(self, assoc: Association, level: str, keys: dict[str, str], returned: Sequence[str]) -> list[Dataset]:
        identifier = Dataset()
        identifier.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, for names beyond ASCII
        identifier.QueryRetrieveLevel = level
        for keyword in returned:
            setattr(identifier, keyword, "")
        for keyword, value in keys.items():
            setattr(identifier, keyword, value)
        found = []
        since = time.monotonic()
        for status, answer in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            code = status.get("Status")
            if code is None:
                raise self._silence(since)
            since = time.monotonic()
            if code in _PENDING:
                if answer is not None:
                    found.append(answer)
            elif code != 0x0000:
                raise refused_status(self.node.host, self.node.port, "search", code,
                                     _status_text(code, QR_FIND_SERVICE_CLASS_STATUS))
        return found

    def find_studies(self, query: StudyQuery) -> list[StudyRecord]:
        with self._association([build_context(StudyRootQueryRetrieveInformationModelFind)]) as assoc:
            return [study_record(ds) for ds in self._find(assoc, "STUDY", query.keys(), STUDY_FIELDS)]

    def _find_series(self, study_uid: str, series_uid: str | None) -> list[SeriesRecord]:
        keys = {"StudyInstanceUID": study_uid} | ({"SeriesInstanceUID": series_uid} if series_uid else {})
        with self._association([build_context(StudyRootQueryRetrieveInformationModelFind)]) as assoc:
            records = []
            for series in self._find(assoc, "SERIES", keys, SERIES_FIELDS):
                one = {"StudyInstanceUID": study_uid, "SeriesInstanceUID": text(series, "SeriesInstanceUID")}
                records.append(series_record(study_uid, series, self._find(assoc, "IMAGE", one, INSTANCE_FIELDS)))
            return records

    def _transfer(self, partial: PartialRetrieve) -> None:
        def on_store(event: Event) -> int:
            data = event.encoded_dataset()
            try:
                kept = partial.write(str(cast(C_STORE, event.request).AffectedSOPInstanceUID), lambda p: p.write_bytes(data))
            except BaseException:  # kept in partial.failure for the waiting thread
                return _REFUSED
            return 0x0000 if kept else _REFUSED

        contexts = [build_context(StudyRootQueryRetrieveInformationModelGet)]
        contexts += [build_context(sop_class, [syntax]) for sop_class, syntax in STORAGE]
        roles = [build_role(sop_class, scp_role=True) for sop_class in dict.fromkeys(c for c, _ in STORAGE)]
        with self._association(contexts, roles, [(evt.EVT_C_STORE, on_store)]) as assoc:
            for series in partial.series:
                identifier = Dataset()
                identifier.QueryRetrieveLevel = "SERIES"
                identifier.StudyInstanceUID, identifier.SeriesInstanceUID = series.study_uid, series.series_uid
                self._get(assoc, identifier, partial)

    def _get(self, assoc: Association, identifier: Dataset, partial: PartialRetrieve) -> None:
        since = time.monotonic()
        for status, _ in assoc.send_c_get(identifier, StudyRootQueryRetrieveInformationModelGet):
            partial.check_cancelled()  # or a failure to write, on the network thread
            code = status.get("Status")
            if code is None:
                raise self._silence(since)
            since = time.monotonic()
            if code not in _PENDING and code_to_category(code) == "Failure":
                raise refused_status(self.node.host, self.node.port, "retrieve (C-GET)", code,
                                     _status_text(code, QR_GET_SERVICE_CLASS_STATUS))

    def _store(self, files: Sequence[OutgoingFile], each: Iterator[OutgoingFile]) -> None:
        pairs = list(dict.fromkeys((f.sop_class, f.transfer_syntax) for f in files))
        if len(pairs) > MAX_CONTEXTS:
            raise ValueError(f"these files need {len(pairs)} kinds of presentation context, more than the "
                             f"{MAX_CONTEXTS} an association can carry; send them in smaller groups")
        host, port = self.node.host, self.node.port
        with self._association([build_context(c, [s]) for c, s in pairs]) as assoc:
            for file in each:
                start = time.monotonic()
                try:
                    code = assoc.send_c_store(file.path).get("Status")
                except ValueError:  # pynetdicom: no accepted context for this class and syntax
                    raise PacsError("refused", f"{host}:{port} does not accept {uid_name(file.sop_class)} in "
                                               f"{uid_name(file.transfer_syntax)} ({file.path.name})") from None
                if code is None:
                    raise self._silence(start)
                if code_to_category(code) not in ("Success", "Warning"):
                    raise refused_status(host, port, f"store of {file.path.name}", code,
                                         _status_text(code, STORAGE_SERVICE_CLASS_STATUS))
