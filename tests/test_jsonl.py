"""JSON Lines I/O: a killed writer loses at most the record it was writing, and never corrupts the file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import JsonlAppender, append_jsonl, read_jsonl


def test_a_torn_last_record_is_skipped_then_cut_on_the_next_append(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b"')  # the writer died mid-record
    with pytest.raises(UserError, match=r"s.jsonl:3"):
        read_jsonl(p)
    assert read_jsonl(p, tolerate_torn_tail=True) == [{"a": 1}, {"a": 2}]
    append_jsonl(p, [{"a": 4}])
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}, {"a": 4}]  # the torn record is gone, not buried mid-file


def test_a_complete_last_record_without_newline_is_kept(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"a": 1}\n{"a": 2}')  # e.g. written by hand
    append_jsonl(p, [{"a": 3}])
    assert read_jsonl(p) == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_a_malformed_record_mid_file_names_its_line(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text('{"a": 1}\nnot json\n{"a": 3}\n')
    with pytest.raises(UserError, match=r"s.jsonl:2: malformed record"):
        read_jsonl(p, tolerate_torn_tail=True)


def test_records_written_before_a_sigkill_survive(tmp_path):
    p = tmp_path / "s.jsonl"
    code = ("import os, signal, sys\nfrom selfevolve_lab.jsonl import JsonlAppender\n"
            "with JsonlAppender(sys.argv[1], sync_every=3600) as out:\n"
            "    for i in range(100):\n        out.write({'i': i})\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    r = subprocess.run([sys.executable, "-c", code, str(p)], env={**os.environ})
    assert r.returncode == -signal.SIGKILL
    assert [x["i"] for x in read_jsonl(p)] == list(range(100))  # flushed without fsync, still all there


def test_appender_syncs_on_a_timer(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd))
    with JsonlAppender(tmp_path / "s.jsonl", sync_every=3600) as out:
        for i in range(50):
            out.write({"i": i})
        assert synced == []  # not once per record
    assert len(synced) == 1  # and once on close


def test_numbered_records_count_blank_lines(tmp_path):
    from selfevolve_lab.jsonl import iter_numbered

    p = tmp_path / "s.jsonl"
    p.write_text('{"a": 1}\n\n  \n{"a": 2}\n')
    assert list(iter_numbered(p)) == [(1, {"a": 1}), (4, {"a": 2})]


def test_records_with_lone_surrogates_are_written(tmp_path):
    from selfevolve_lab.schema import Verdict

    p = tmp_path / "v.jsonl"
    append_jsonl(p, [Verdict(task_id="t", passed=False, status="runtime_error", detail="\udcff")])
    assert read_jsonl(p, Verdict)[0].detail == "\\udcff"
