"""echoviewer.pacs against a real Orthanc (tests/orthanc_server.py), over DIMSE and DICOMweb alike:
search, series with frame counts, retrieve into the cache, store, and every fault as one line."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from echoviewer.io import load_cine
from echoviewer.pacs import Node, NodeBook, PacsError, StudyQuery, finished_series, open_client
from echoviewer.pacs.cache import PARTIAL, cache_dir, uid_key
from echoviewer.resources import SAMPLE_CINE
from tests.helpers import moving_frames, write_dicom
from tests.orthanc_server import NOT_INSTALLED, OrthancServer, free_port

PROTOCOLS = ("dimse", "dicomweb")


def node_for(server: OrthancServer, protocol: str, **changes) -> Node:
    if protocol == "dimse":
        return Node("orthanc", "dimse", host="127.0.0.1", port=server.dicom_port, called_aet=server.aet, **changes)
    return Node("orthanc-web", "dicomweb", url=server.dicomweb_url, username=server.user, password=server.password,
                **changes)


def retag(source: Path, target: Path, key: str, **attributes: object) -> Path:
    """``source`` with new UIDs (from ``key``) and these attributes; its pixel data untouched."""
    ds = pydicom.dcmread(source)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=["pacs-test", key])
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.save_as(target, enforce_file_format=True)
    return target


@dataclass
class Study:
    uid: str
    patient: dict[str, str]
    series: dict[str, list[Path]] = field(default_factory=dict)  # series UID → files, in instance order


def _study(folder: Path, name: str, patient: dict[str, str], series: dict[str, list[Path]]) -> Study:
    """A study of ``series`` (description → source files) for ``patient``, written into ``folder``."""
    patient = {"StudyTime": "120000", **patient}  # the same in every file: a PACS keeps one per study
    study = Study(generate_uid(entropy_srcs=["pacs-test", name]), patient)
    for number, (description, sources) in enumerate(series.items(), start=1):
        series_uid = generate_uid(entropy_srcs=["pacs-test", name, description])
        study.series[series_uid] = [
            retag(source, folder / f"{name}-{number}-{i}.dcm", f"{name}-{number}-{i}", StudyInstanceUID=study.uid,
                  SeriesInstanceUID=series_uid, SeriesDescription=description, SeriesNumber=number,
                  InstanceNumber=i, **patient)
            for i, source in enumerate(sources, start=1)]
    return study


@pytest.fixture(scope="module")
def studies(orthanc, tmp_path_factory) -> dict[str, Study]:
    """Four studies in the session's Orthanc: a synthetic echo (two cines in one series, the bundled
    sample in another), pydicom-data's US multi-frames (JPEG baseline, RLE), two single-frame US
    images (JPEG 2000, uncompressed) and a non-US secondary capture of the first patient."""
    folder = tmp_path_factory.mktemp("pacs-studies")
    cines = [write_dicom(folder / f"cine{n}.dcm", moving_frames(n, seed=n)) for n in (8, 5)]
    echo = {"PatientID": "EV-PACS-1", "PatientName": "Synthetic^Echo", "AccessionNumber": "ACC-PACS-1"}
    made = {
        "echo": _study(folder, "echo", {**echo, "StudyDate": "20240115", "StudyDescription": "Synthetic echo"},
                       {"A4C loops": cines, "Bundled sample": [SAMPLE_CINE]}),
        "colour": _study(folder, "colour", {"PatientID": "EV-PACS-2", "PatientName": "Colour^Doppler",
                                            "AccessionNumber": "ACC-PACS-2", "StudyDate": "20230601"},
                         {"YBR cine": [get_testdata_file("examples_ybr_color.dcm")],
                          "RLE cine": [get_testdata_file("OBXXXX1A_rle_2frame.dcm")]}),
        "images": _study(folder, "images", {"PatientID": "EV-PACS-3", "PatientName": "Two^Images",
                                            "StudyDate": "20040826"},
                         {"Two images": [get_testdata_file("US1_J2KR.dcm"), get_testdata_file("US1_UNCR.dcm")]}),
        "capture": _study(folder, "capture", {**echo, "AccessionNumber": "ACC-PACS-4", "StudyDate": "20240120",
                                              "Modality": "OT"},
                          {"Screenshot": [get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")]}),
    }
    for study in made.values():
        for files in study.series.values():
            for path in files:
                orthanc.upload(path)
    return made


def _uids(found) -> set[str]:
    return {study.study_uid for study in found}


# --- nodes ------------------------------------------------------------------------------------------


def test_nodes_are_saved_privately_and_never_show_the_password(tmp_path) -> None:
    book = NodeBook(tmp_path)
    web = Node("web", "dicomweb", url="https://pacs.example.org/dicom-web", username="ana", password="hunter2-secret")
    book.add(Node("pacs", "dimse", host="pacs.example.org", port=104, called_aet="PACS"))
    book.add(web)
    assert [n.name for n in book.nodes()] == ["pacs", "web"] and book.get("web") == web
    assert stat.S_IMODE(book.file.stat().st_mode) == 0o600
    assert "hunter2" not in repr(web) and "hunter2" not in str(web) and "hunter2" not in web.address
    book.add(Node("pacs", "dimse", host="other", port=11112, called_aet="OTHER"))  # same name: replaced
    assert [(n.name, n.host) for n in book.nodes()] == [("web", ""), ("pacs", "other")]
    book.remove("web")
    with pytest.raises(ValueError, match="no PACS node named 'web'"):
        book.get("web")
    book.file.write_text("{not json")
    assert book.nodes() == []


@pytest.mark.parametrize("settings, message", [
    ({"protocol": "dimse", "host": "pacs", "port": 104}, "called AE title"),
    ({"protocol": "dimse", "host": "pacs", "port": 70000, "called_aet": "PACS"}, "port must be 1-65535"),
    ({"protocol": "dimse", "host": "pacs", "port": 104, "called_aet": "A" * 17}, "1-16 printable"),
    ({"protocol": "dicomweb", "url": "ftp://pacs/dicom-web"}, "http"),
    ({"protocol": "dicomweb", "url": "http://ana:pw@pacs/dicom-web"}, "not in the URL"),
    ({"protocol": "dicomweb", "url": "http://pacs/dicom-web", "password": "pw"}, "needs a user name"),
    ({"protocol": "dicomweb", "url": "http://pacs/dicom-web", "timeout": 0}, "timeout"),
    ({"protocol": "smtp"}, "protocol"),
])
def test_a_node_that_cannot_work_is_refused_when_made(settings, message) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        Node("x", **settings)
    assert "pw" not in str(caught.value)  # a password is never echoed back


@pytest.mark.parametrize("settings, message", [
    ({"date_from": "2024-01-01"}, "YYYYMMDD"), ({"date_to": "20240230"}, "YYYYMMDD"),
    ({"date_from": "20240201", "date_to": "20240101"}, "empty"), ({"patient_name": "A\\B"}, "backslash"),
])
def test_a_malformed_query_is_refused(settings, message) -> None:
    with pytest.raises(ValueError, match=message):
        StudyQuery(**settings)


def test_the_cache_lives_in_the_data_folder_when_one_is_set(private_data_dir) -> None:
    assert cache_dir() == private_data_dir / "pacs-cache"


def test_without_orthanc_the_tests_fail_with_how_to_install_it(monkeypatch, tmp_path) -> None:
    import tests.orthanc_server as orthanc_server

    assert orthanc_server.missing() is None
    monkeypatch.setattr(orthanc_server, "BINARY", tmp_path / "Orthanc")
    assert orthanc_server.missing().startswith(NOT_INSTALLED)


# --- search -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_echo(orthanc, protocol) -> None:
    with open_client(node_for(orthanc, protocol)) as client:
        client.echo()


QUERIES = {  # query → the studies (of this module's) it finds
    "patient id": (StudyQuery(patient_id="EV-PACS-1"), {"echo", "capture"}),
    "name wildcard": (StudyQuery(patient_name="Synth*"), {"echo", "capture"}),
    "name wildcards, lower case": (StudyQuery(patient_name="two?imag*"), {"images"}),
    "date range": (StudyQuery(patient_id="EV-PACS-*", date_from="20230101", date_to="20240116"), {"echo", "colour"}),
    "open date range": (StudyQuery(patient_id="EV-PACS-1", date_from="20240116"), {"capture"}),
    "modality": (StudyQuery(patient_id="EV-PACS-1", modality="US"), {"echo"}),
    "accession": (StudyQuery(accession="ACC-PACS-2"), {"colour"}),
    "nothing": (StudyQuery(patient_id="NO-SUCH-PATIENT"), set()),
}


@pytest.mark.parametrize("name", QUERIES)
def test_find_studies_by_each_key_the_same_over_both_protocols(orthanc, studies, name) -> None:
    query, expected = QUERIES[name]
    ours = {study.uid: key for key, study in studies.items()}
    answers = []
    for protocol in PROTOCOLS:
        with open_client(node_for(orthanc, protocol)) as client:
            found = client.find_studies(query)
        assert {ours[uid] for uid in _uids(found) if uid in ours} == expected, protocol
        answers.append(sorted((s for s in found if s.study_uid in ours), key=lambda s: s.study_uid))
    assert answers[0] == answers[1]


def test_a_study_record_says_what_the_study_is(orthanc, studies) -> None:
    for protocol in PROTOCOLS:
        with open_client(node_for(orthanc, protocol)) as client:
            [study] = client.find_studies(StudyQuery(accession="ACC-PACS-1"))
        assert (study.study_uid, study.date, study.description, study.accession, study.patient_id,
                study.patient_name, study.modalities, study.n_series, study.n_instances) == (
            studies["echo"].uid, "20240115", "Synthetic echo", "ACC-PACS-1", "EV-PACS-1", "Synthetic^Echo",
            ("US",), 2, 3), protocol
        assert "EV-PACS-1" not in repr(study) and "Synthetic^Echo" not in repr(study)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_series_list_descriptions_and_the_frames_of_each_instance(orthanc, studies, protocol) -> None:
    with open_client(node_for(orthanc, protocol)) as client:
        echo, colour = client.find_series(studies["echo"].uid), client.find_series(studies["colour"].uid)
        assert client.find_series(generate_uid()) == []
    assert [(s.description, s.modality, s.number, s.n_instances, s.frame_counts, s.n_frames) for s in echo] == [
        ("A4C loops", "US", 1, 2, (8, 5), 13), ("Bundled sample", "US", 2, 1, (60,), 60)]
    assert [(s.description, s.frame_counts) for s in colour] == [("YBR cine", (30,)), ("RLE cine", (2,))]
    for series in echo + colour:
        files = studies["echo" if series in echo else "colour"].series[series.series_uid]
        assert series.instance_uids == tuple(pydicom.dcmread(p).SOPInstanceUID for p in files)
        assert series.frame_counts == tuple(int(pydicom.dcmread(p).get("NumberOfFrames", 1)) for p in files)


# --- retrieve ---------------------------------------------------------------------------------------


def _same_instances(retrieved, originals: list[Path]) -> None:
    """Same SOP Instance UIDs and byte-equal pixel data; the viewer opens every file."""
    by_uid = {pydicom.dcmread(p).SOPInstanceUID: pydicom.dcmread(p) for p in retrieved.files}
    expected = {ds.SOPInstanceUID: ds for ds in map(pydicom.dcmread, originals)}
    assert by_uid.keys() == expected.keys()
    for uid, ds in by_uid.items():
        assert ds.file_meta.TransferSyntaxUID == expected[uid].file_meta.TransferSyntaxUID
        assert ds.PixelData == expected[uid].PixelData
    for path in retrieved.files:
        assert load_cine(path).frames.shape[0] >= 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retrieve_a_series_then_a_whole_study_into_the_cache(orthanc, studies, protocol, tmp_path) -> None:
    echo, colour = studies["echo"], studies["colour"]
    loops = next(iter(echo.series))
    calls: list[tuple[int, int]] = []
    with open_client(node_for(orthanc, protocol)) as client:
        [series] = client.retrieve(echo.uid, loops, tmp_path, progress=lambda done, total: calls.append((done, total)))
        assert calls == [(1, 2), (2, 2)]
        assert (series.study_uid, series.series_uid, series.description, series.n_frames) == (
            echo.uid, loops, "A4C loops", 13)
        assert series.folder == tmp_path / uid_key(echo.uid) / uid_key(loops)
        assert sorted(p.name for p in series.files) == sorted(
            f"{uid_key(pydicom.dcmread(p).SOPInstanceUID)}.dcm" for p in echo.series[loops])
        _same_instances(series, echo.series[loops])
        whole = client.retrieve(colour.uid, cache_root=tmp_path)
        [capture] = client.retrieve(studies["capture"].uid, cache_root=tmp_path)
    assert [(s.description, s.n_frames) for s in whole] == [("YBR cine", 30), ("RLE cine", 2)]
    for retrieved in whole:
        _same_instances(retrieved, colour.series[retrieved.series_uid])
    _same_instances(capture, next(iter(studies["capture"].series.values())))  # a secondary capture
    assert sorted(finished_series(tmp_path), key=lambda s: s.description) == sorted(
        [series, *whole, capture], key=lambda s: s.description)
    names = "/".join(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert "EV-PACS" not in names and "Synthetic" not in names and "Colour" not in names
    assert list((tmp_path / PARTIAL).iterdir()) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retrieve_again_replaces_the_cached_series(orthanc, studies, protocol, tmp_path) -> None:
    images = studies["images"]
    with open_client(node_for(orthanc, protocol)) as client:
        first = client.retrieve(images.uid, cache_root=tmp_path)
        (first[0].folder / "stray.dcm").write_bytes(b"left over")
        second = client.retrieve(images.uid, cache_root=tmp_path)
    assert [s.folder for s in second] == [s.folder for s in first] and len(second[0].files) == 2
    assert not (second[0].folder / "stray.dcm").exists()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_cancelled_retrieve_leaves_nothing_finished_and_a_retry_finishes(orthanc, studies, protocol,
                                                                          tmp_path) -> None:
    images = studies["images"]
    done: list[int] = []
    with open_client(node_for(orthanc, protocol)) as client:
        with pytest.raises(PacsError) as caught:
            client.retrieve(images.uid, cache_root=tmp_path, progress=lambda n, _total: done.append(n),
                            cancelled=lambda: bool(done))
        assert caught.value.kind == "cancelled" and done == [1]
        assert str(caught.value) == "retrieve cancelled after 1 of 2 instances; nothing was kept"
        assert finished_series(tmp_path) == [] and list((tmp_path / PARTIAL).iterdir()) == []
        assert not list(tmp_path.rglob("*.dcm"))
        [series] = client.retrieve(images.uid, cache_root=tmp_path)
    assert finished_series(tmp_path) == [series] and len(series.files) == 2


def test_a_retrieve_cleans_the_partial_folders_of_dead_retrieves(orthanc, studies, tmp_path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    partials = tmp_path / PARTIAL
    for name in (f"{dead.stdout.strip()}-0000", f"{os.getpid()}-1111"):  # a dead process's; ours, not running
        (partials / name / "0123456789abcdef").mkdir(parents=True)
        (partials / name / "0123456789abcdef" / "0123456789abcdef.dcm").write_bytes(b"half a file")
    with open_client(node_for(orthanc, "dicomweb")) as client:
        client.retrieve(studies["images"].uid, cache_root=tmp_path)
    assert list(partials.iterdir()) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pacs_killed_mid_retrieve_leaves_nothing_finished_and_a_retry_after_restart_finishes(
        studies, protocol, tmp_path) -> None:
    server = OrthancServer(tmp_path / "orthanc")
    server.folder.mkdir()
    server.start()
    try:
        images = studies["images"]
        for path in next(iter(images.series.values())):
            server.upload(path)
        cache = tmp_path / "cache"
        with open_client(node_for(server, protocol, timeout=5)) as client:
            with pytest.raises(PacsError) as caught:
                client.retrieve(images.uid, cache_root=cache, progress=lambda done, _total: server.kill())
            assert caught.value.kind == "connection", server.log_tail()
            assert str(caught.value) == {  # DIMSE: the association drops; DICOMweb: the next request is refused
                "dimse": f"lost the connection to 127.0.0.1:{server.dicom_port}: the PACS stopped or dropped it; "
                         "try again",
                "dicomweb": f"cannot connect to 127.0.0.1:{server.http_port}: connection refused; is the PACS "
                            "running and the port right?"}[protocol]
            assert finished_series(cache) == [] and not list(cache.rglob("*.dcm"))
            server.start()
            [series] = client.retrieve(images.uid, cache_root=cache)
        assert finished_series(cache) == [series] and len(series.files) == 2
    finally:
        server.kill()  # its data goes with tmp_path: no need to wait 3 s for a clean stop


# --- store ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_store_a_file_then_find_it_over_the_other_protocol(orthanc, protocol, tmp_path) -> None:
    patient = f"EV-STORE-{protocol}"
    path = retag(write_dicom(tmp_path / "cine.dcm", moving_frames(6)), tmp_path / "stored.dcm", patient,
                 PatientID=patient, PatientName="Stored^Cine", StudyDate="20240301")
    sent: list[tuple[int, int]] = []
    with open_client(node_for(orthanc, protocol)) as client:
        assert client.store([path], progress=lambda done, total: sent.append((done, total))) == 1
    assert sent == [(1, 1)]
    other = "dicomweb" if protocol == "dimse" else "dimse"
    with open_client(node_for(orthanc, other)) as client:
        [study] = client.find_studies(StudyQuery(patient_id=patient))
        [series] = client.find_series(study.study_uid)
    assert study.study_uid == pydicom.dcmread(path).StudyInstanceUID and series.frame_counts == (6,)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_store_checks_every_file_before_sending_and_can_be_cancelled(orthanc, protocol, tmp_path) -> None:
    good = write_dicom(tmp_path / "good.dcm", moving_frames(2))
    (tmp_path / "notes.txt").write_text("not an image")
    with open_client(node_for(orthanc, protocol)) as client:
        with pytest.raises(ValueError, match="notes.txt: not a DICOM file"):
            client.store([good, tmp_path / "notes.txt"])
        with pytest.raises(PacsError, match="store cancelled after sending 0 of 1 files"):
            client.store([good], cancelled=lambda: True)


def test_a_class_the_pacs_does_not_take_is_refused_by_name(orthanc, tmp_path) -> None:
    good = write_dicom(tmp_path / "good.dcm", moving_frames(2))
    private = "1.2.826.0.1.3680043.8.498.1"  # a SOP class Orthanc does not know
    odd = retag(good, tmp_path / "odd.dcm", "odd", SOPClassUID=private)
    odd_ds = pydicom.dcmread(odd)
    odd_ds.file_meta.MediaStorageSOPClassUID = private
    odd_ds.save_as(odd, enforce_file_format=True)
    with open_client(node_for(orthanc, "dimse")) as client:
        with pytest.raises(PacsError) as caught:
            client.store([good, odd])
        assert str(caught.value) == (f"127.0.0.1:{orthanc.dicom_port} does not accept {private} in JPEG Baseline "
                                     "(Process 1) (odd.dcm)")
        with pytest.raises(PacsError, match="accepted the association but none of the SOP classes and transfer "
                                            "syntaxes proposed"):
            client.store([odd])


# --- faults -----------------------------------------------------------------------------------------


def test_nothing_found_is_an_empty_search_but_a_retrieve_error(orthanc, tmp_path) -> None:
    unknown = generate_uid()
    for protocol in PROTOCOLS:
        node = node_for(orthanc, protocol)
        with open_client(node) as client:
            assert client.find_studies(StudyQuery(patient_id="NOBODY-AT-ALL")) == []
            with pytest.raises(PacsError) as caught:
                client.retrieve(unknown, cache_root=tmp_path)
        assert caught.value.kind == "not_found"
        assert str(caught.value) == (f"nothing found on {node.name} for study {unknown}; check the UID "
                                     "(echoviewer pacs find)")
    assert finished_series(tmp_path) == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pacs_that_is_down_is_connection_refused(protocol) -> None:
    port = free_port()
    node = (Node("down", "dimse", host="127.0.0.1", port=port, called_aet="ORTHANC") if protocol == "dimse"
            else Node("down", "dicomweb", url=f"http://127.0.0.1:{port}/dicom-web"))
    with pytest.raises(PacsError) as caught:
        open_client(node).echo()
    assert caught.value.kind == "connection"
    assert str(caught.value) == (f"cannot connect to 127.0.0.1:{port}: connection refused; is the PACS running "
                                 "and the port right?")


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_pacs_that_never_answers_is_a_timeout(silent_port, protocol) -> None:
    node = (Node("mute", "dimse", host="127.0.0.1", port=silent_port, called_aet="ORTHANC", timeout=1)
            if protocol == "dimse" else Node("mute", "dicomweb", url=f"http://127.0.0.1:{silent_port}/", timeout=1))
    with pytest.raises(PacsError) as caught:
        open_client(node).find_studies(StudyQuery())
    assert caught.value.kind == "timeout"
    assert str(caught.value) == {
        "dimse": f"127.0.0.1:{silent_port} accepted the connection but did not answer the association request "
                 "within 1 s (timeout); is it a DICOM port?",
        "dicomweb": f"127.0.0.1:{silent_port} did not answer within 1 s (timeout); the PACS is busy or stuck, "
                    "try again later"}[protocol]


def test_a_wrong_called_ae_title_is_rejected_with_the_reason(orthanc) -> None:
    node = Node("wrong", "dimse", host="127.0.0.1", port=orthanc.dicom_port, called_aet="NOT_ORTHANC")
    with pytest.raises(PacsError) as caught:
        open_client(node).echo()
    assert caught.value.kind == "rejected"
    assert str(caught.value) == (f"127.0.0.1:{orthanc.dicom_port} rejected the association: Called AE title not "
                                 "recognised; check the PACS's AE title ('NOT_ORTHANC') and that it knows ours "
                                 "('ECHOVIEWER')")


def test_a_wrong_dicomweb_password_is_401_and_never_quoted(orthanc) -> None:
    password = "wrong-password-1234"
    node = Node("web", "dicomweb", url=orthanc.dicomweb_url, username=orthanc.user, password=password)
    for call in (lambda c: c.echo(), lambda c: c.find_studies(StudyQuery()), lambda c: c.store([SAMPLE_CINE])):
        with open_client(node) as client, pytest.raises(PacsError) as caught:
            call(client)
        # not chained to requests' exception, whose request holds the Authorization header
        assert caught.value.kind == "unauthorised" and caught.value.__cause__ is caught.value.__context__ is None
        assert str(caught.value) == (f"127.0.0.1:{orthanc.http_port} refused the credentials (HTTP 401 "
                                     "Unauthorized); check the user name and password (or the token)")
        assert password not in str(caught.value) and password not in repr(node)
    anonymous = Node("web", "dicomweb", url=orthanc.dicomweb_url)
    with pytest.raises(PacsError, match="needs credentials"):
        open_client(anonymous).echo()
