"""``echoviewer pacs``: the PACS nodes you use, and echo, find, get (retrieve into the local cache)
and send against one of them, over DIMSE or DICOMweb."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from echoviewer.cli.errors import report_error
from echoviewer.io.errors import one_line
from echoviewer.pacs import Node, NodeBook, PacsError, SeriesRecord, StudyQuery, StudyRecord, open_client
from echoviewer.pacs.nodes import CALLING_AET, CONNECT_TIMEOUT, TIMEOUT

_EPILOG = """\
Nodes are saved in pacs_nodes.json in the viewer's data folder (mode 0600: it holds a DICOMweb
password or token when given; they are never printed). 'get' writes into the cache
(ECHOVIEWER_DATA_DIR/pacs-cache when that is set, else the user cache folder), one folder per
series named by a hash of its UIDs, and prints the folders; a series appears there only once all
its instances have arrived, so Ctrl-C or a failure leaves nothing half-retrieved.

Exit status: 0 on success, 1 when the PACS or the network failed (one line on stderr), 2 for a bad
command line or an unknown node, 130 on Ctrl-C."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="echoviewer pacs", epilog=_EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description="Query, retrieve and store studies on a PACS (DIMSE or DICOMweb).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    node = commands.add_parser("node", help="add, list or remove the PACS nodes you use")
    actions = node.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="save a node (replacing one of the same name)")
    add.add_argument("name", help="the name to use in the other commands")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--dimse", metavar="HOST:PORT", help="a DIMSE PACS (C-FIND, C-GET, C-STORE)")
    where.add_argument("--dicomweb", metavar="URL", help="a DICOMweb base URL, e.g. http://pacs:8042/dicom-web")
    add.add_argument("--aet", help="the PACS's AE title (DIMSE, required)")
    add.add_argument("--calling-aet", default=CALLING_AET, help=f"our AE title (DIMSE; default {CALLING_AET})")
    add.add_argument("--user", default="", help="DICOMweb user name")
    secret = add.add_mutually_exclusive_group()
    secret.add_argument("--password-env", metavar="VAR", help="the environment variable that holds the password")
    secret.add_argument("--token-env", metavar="VAR", help="the environment variable that holds a bearer token")
    add.add_argument("--connect-timeout", type=float, default=CONNECT_TIMEOUT, metavar="S",
                     help=f"seconds to connect (default {CONNECT_TIMEOUT:g})")
    add.add_argument("--timeout", type=float, default=TIMEOUT, metavar="S",
                     help=f"seconds to wait for an answer (default {TIMEOUT:g})")
    actions.add_parser("list", help="list the saved nodes")
    remove = actions.add_parser("remove", help="forget a node")
    remove.add_argument("name")

    echo = commands.add_parser("echo", help="check that a node answers (C-ECHO, or a DICOMweb search)")
    echo.add_argument("node", metavar="NODE", help="a saved node's name (echoviewer pacs node list)")

    find = commands.add_parser("find", help="search a node's studies, or list a study's series")
    find.add_argument("node", metavar="NODE", help="a saved node's name (echoviewer pacs node list)")
    find.add_argument("--patient-id", default="", metavar="ID", help="patient ID; wildcards * and ?")
    find.add_argument("--name", default="", help="patient name; wildcards * and ? (e.g. 'DOE*')")
    find.add_argument("--from", dest="date_from", default="", metavar="YYYYMMDD", help="studies on or after")
    find.add_argument("--to", dest="date_to", default="", metavar="YYYYMMDD", help="studies on or before")
    find.add_argument("--accession", default="", metavar="NUMBER")
    find.add_argument("--modality", default="", metavar="MOD", help="a modality in the study, e.g. US")
    find.add_argument("--series", metavar="STUDY_UID", help="list this study's series (instances, frames)")
    find.add_argument("--json", action="store_true", help="one JSON object per line")

    get = commands.add_parser("get", help="retrieve a study or one series into the local cache")
    get.add_argument("node", metavar="NODE", help="a saved node's name (echoviewer pacs node list)")
    get.add_argument("study_uid", metavar="STUDY_UID")
    get.add_argument("--series", metavar="SERIES_UID", help="only this series")
    get.add_argument("--cache", type=Path, metavar="DIR", help="the cache folder (default: the user cache)")

    send = commands.add_parser("send", help="store DICOM files on a node (C-STORE or STOW-RS)")
    send.add_argument("node", metavar="NODE", help="a saved node's name (echoviewer pacs node list)")
    send.add_argument("files", nargs="+", type=Path, metavar="FILE")
    return parser


def _secret(variable: str | None) -> str:
    if variable is None:
        return ""
    value = os.environ.get(variable)
    if not value:
        raise ValueError(f"the environment variable {variable} is not set or empty")
    return value


def _node_from(args: argparse.Namespace) -> Node:
    timeouts = {"connect_timeout": args.connect_timeout, "timeout": args.timeout}
    if args.dimse is not None:
        if not args.aet:
            raise ValueError("--dimse needs --aet, the PACS's AE title")
        if args.user or args.password_env or args.token_env:
            raise ValueError("--user, --password-env and --token-env are for --dicomweb")
        host, _, port = args.dimse.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"--dimse takes HOST:PORT, e.g. pacs.example.org:104; got {args.dimse!r}")
        return Node(args.name, "dimse", host=host.strip("[]"), port=int(port), called_aet=args.aet,
                    calling_aet=args.calling_aet, **timeouts)
    if args.aet or args.calling_aet != CALLING_AET:
        raise ValueError("--aet and --calling-aet are for --dimse")
    return Node(args.name, "dicomweb", url=args.dicomweb, username=args.user,
                password=_secret(args.password_env), token=_secret(args.token_env), **timeouts)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    cells = [list(header)] + [[one_line("" if value is None else value) for value in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip())


def _node(args: argparse.Namespace) -> int:
    book = NodeBook()
    if args.action == "add":
        node = _node_from(args)
        book.add(node)
        print(f"saved {node.name}: {node.address}")
    elif args.action == "remove":
        book.remove(args.name)
        print(f"removed {args.name}")
    elif nodes := book.nodes():
        _table(("NAME", "PROTOCOL", "ADDRESS", "CREDENTIALS"),
               [(n.name, n.protocol, n.address, f"user {n.username}" if n.username else "token" if n.token else "")
                for n in nodes])
    else:
        print("no PACS node yet; add one with 'echoviewer pacs node add'", file=sys.stderr)
    return 0


def _echo(args: argparse.Namespace) -> int:
    node = NodeBook().get(args.node)
    with open_client(node) as client:
        client.echo()
    print(f"{node.name} ({node.address}) answered")
    return 0


def _print_series(found: Sequence[SeriesRecord], as_json: bool) -> None:
    if as_json:
        for series in found:
            print(json.dumps({**asdict(series), "n_instances": series.n_instances, "n_frames": series.n_frames}))
    else:
        _table(("SERIES UID", "MODALITY", "NUMBER", "INSTANCES", "FRAMES", "DESCRIPTION"),
               [(s.series_uid, s.modality, s.number, s.n_instances, s.n_frames, s.description) for s in found])


def _print_studies(found: Sequence[StudyRecord], as_json: bool) -> None:
    if as_json:
        for study in found:
            print(json.dumps(asdict(study)))
    else:
        _table(("DATE", "PATIENT ID", "PATIENT NAME", "ACCESSION", "MODALITIES", "SERIES", "INSTANCES",
                "DESCRIPTION", "STUDY UID"),
               [(s.date, s.patient_id, s.patient_name, s.accession, "\\".join(s.modalities), s.n_series,
                 s.n_instances, s.description, s.study_uid) for s in found])


def _find(args: argparse.Namespace) -> int:
    node = NodeBook().get(args.node)
    query = StudyQuery(patient_id=args.patient_id, patient_name=args.name, date_from=args.date_from,
                       date_to=args.date_to, modality=args.modality, accession=args.accession)
    if args.series is not None and query.keys():
        raise ValueError("--series lists one study's series: it takes no search keys")
    with open_client(node) as client:
        if args.series is not None:
            series = client.find_series(args.series)
            _print_series(series, args.json)
            count = f"{len(series)} series"
        else:
            studies = client.find_studies(query)
            _print_studies(studies, args.json)
            count = f"{len(studies)} {'study' if len(studies) == 1 else 'studies'}"
    print(f"{count} found on {node.name}", file=sys.stderr)
    return 0


def _get(args: argparse.Namespace) -> int:
    node = NodeBook().get(args.node)
    with open_client(node) as client, \
            tqdm(desc="get", unit="instance", file=sys.stderr, disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        retrieved = client.retrieve(args.study_uid, args.series, args.cache, progress=progress)
    for series in retrieved:
        print(series.folder)
    return 0


def _send(args: argparse.Namespace) -> int:
    node = NodeBook().get(args.node)
    with open_client(node) as client, \
            tqdm(desc="send", unit="file", total=len(args.files), file=sys.stderr, disable=None) as bar:
        sent = client.store(args.files, progress=lambda done, _total: bar.update(done - bar.n))
    print(f"sent {sent} file(s) to {node.name}")
    return 0


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "node": _node, "echo": _echo, "find": _find, "get": _get, "send": _send}


def pacs_main(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except ValueError as exc:  # a bad argument, an unknown node, a file that is not DICOM
        report_error(one_line(exc))
        return 2
    except PacsError as exc:
        report_error(str(exc))
        return 1
    except OSError as exc:  # the data or cache folder: no permission, a full disk
        report_error(one_line(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")))
        return 1
    except KeyboardInterrupt:
        report_error("cancelled" + ("; nothing of the unfinished retrieve was kept" if args.command == "get" else ""))
        return 130
