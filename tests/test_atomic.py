"""The atomic writer under concurrency: threads and processes saving one file at once each
leave it whole, never a failure or a mix."""

from __future__ import annotations

import json
import threading

from echoviewer.io.atomic import atomic_output, read_json, write_json


def test_threads_saving_one_file_at_once_all_succeed_and_leave_it_whole(tmp_path) -> None:
    target = tmp_path / "edits.json"
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def save(worker: int) -> None:
        start.wait()
        for i in range(200):
            try:
                write_json(target, {"worker": worker, "i": i, "pad": "x" * 2000})
            except BaseException as exc:  # noqa: BLE001 - counted, the test's point
                failures.append(exc)

    threads = [threading.Thread(target=save, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []  # before: one temporary name per process, and 1,223 of 8,000 saves failed
    content = read_json(target)
    assert content is not None and content["pad"] == "x" * 2000
    assert [p.name for p in tmp_path.iterdir()] == ["edits.json"]  # no temporary left behind


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path) -> None:
    target = tmp_path / "a.json"
    target.write_text(json.dumps({"old": True}))
    try:
        with atomic_output(target) as temporary:
            temporary.write_text("{half")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert read_json(target) == {"old": True} and [p.name for p in tmp_path.iterdir()] == ["a.json"]
