"""What the judge is handed, from files and from runs (issue 12): text that cannot be encoded, completions
files with duplicate or negative indices, an --out that is no file, completions that changed since a run,
and broken benches and task files. Each is a verdict that can be written, or a one-line error (exit 2)
naming the file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import append_jsonl, read_jsonl
from selfevolve_lab.sandbox.protocol import to_tagged
from selfevolve_lab.schema import Sample, Task, TestCase, TestResult, Verdict, completion_hash

GOOD = "```python\nimport zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()\n```"
LONE = "\udcff"  # a lone surrogate: what decoding bytes with errors="surrogateescape" leaves


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], capture_output=True, text=True,
                          **kw)


def _one_line_error(r, *needles):
    """Exit 2 and one error line (after eval's progress bar, when it drew one), holding ``needles``."""
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = [line for line in r.stderr.strip().splitlines() if not line.startswith("generate+judge:")]
    assert "Traceback" not in r.stderr and len(lines) == 1 and lines[0].startswith("error:"), r.stderr
    err = lines[0]
    for n in needles:
        assert n in err, err


def _task(tid="t1", tests=None):
    tests = [({"x": [-1, 2]}, [1, 2]), ({"x": [0]}, [0])] if tests is None else tests
    return Task(id=tid, kind="single", apis=["zwc.falekef"], prompt="absolute values", entry_point="solve",
                signature="def solve(x):", reference="import zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()\n",
                tests=[TestCase(input={k: to_tagged(v) for k, v in i.items()}, output=to_tagged(o)) for i, o in tests])


def _write(path, records):
    path.write_text("".join((r.model_dump_json() if hasattr(r, "model_dump_json") else json.dumps(r)) + "\n"
                            for r in records))
    return path


# ---------------------------------------------------------------- text that cannot be encoded


def test_verdict_text_is_always_serializable(tmp_path):
    tr = TestResult(index=0, passed=False, status="runtime_error", detail=f"ValueError: {LONE}x")
    v = Verdict(task_id="t", passed=False, status="runtime_error", tests=[tr], detail=f"1/1 failed: {LONE}")
    s = Sample(task_id="t", prompt_hash="h", completion=f"def solve(x):\n    return '{LONE}'\n", verdict=v)
    for record in (tr, v, s):
        record.model_dump_json()  # raised PydanticSerializationError
    assert v.detail == "1/1 failed: \\udcff" and tr.detail == "ValueError: \\udcffx"
    p = tmp_path / "v.jsonl"
    append_jsonl(p, [v, s])
    assert read_jsonl(p)[0]["detail"] == v.detail
    assert Verdict(task_id="t", passed=True, status="passed", detail="ünïcode ✓").detail == "ünïcode ✓"
    assert completion_hash(LONE) != completion_hash("\\udcff")  # the hash is of the text as given


def test_lone_surrogate_in_an_exception_is_a_verdict_and_resumes(tmp_path, mini_bench):
    tasks = _write(tmp_path / "tasks.jsonl", [_task()])
    bad = ("```python\nimport zwc\ndef solve(x):\n    y = zwc.falekef(x).gifune()\n    if len(y) == 1:\n"
           "        raise ValueError('\\udcff' * 3)\n    return y\n```")
    in_code = GOOD.replace("def solve(x):\n", f"def solve(x):\n    s = '{LONE}'\n")  # in the program itself
    comps = _write(tmp_path / "c.jsonl", [{"task_id": "t1", "completion": c} for c in (bad, GOOD, in_code)])
    out = tmp_path / "v.jsonl"
    args = ["judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", comps, "--out", out]
    for _ in range(2):  # the run, then the resume
        r = _cli(*args)
        assert r.returncode == 0, r.stderr[-2000:]
        verdicts = {v.sample_idx: v for v in read_jsonl(out, Verdict)}
        assert len(out.read_text().splitlines()) == 3
        assert verdicts[0].status == "runtime_error" and verdicts[0].tests[1].detail.startswith("ValueError: ")
        assert verdicts[1].status == "passed"
        assert verdicts[2].status == "runtime_error"  # source that is not UTF-8 does not compile: a verdict


# ---------------------------------------------------------------- the completions file and --out


@pytest.mark.parametrize("records,line,needle", [
    ([{"task_id": "t1", "completion": "a", "sample_idx": 0}, {"task_id": "t1", "completion": "b", "sample_idx": 0}],
     2, "sample_idx 0 again (first on line 1)"),
    ([{"task_id": "t1", "completion": "a"}, {"task_id": "t1", "completion": "b", "sample_idx": 0}],
     2, "sample_idx 0 again"),  # counted per task when absent: the second record names index 0 again
    ([{"task_id": "t1", "completion": "a", "sample_idx": 1}, {"task_id": "t1", "completion": "b"},
      {"task_id": "t1", "completion": "c"}], 2, "sample_idx 1 again"),  # the second record counts as index 1
    ([{"task_id": "t1", "completion": "a", "sample_idx": -1}], 1, "non-negative"),
    ([{"task_id": "t1", "completion": "a", "sample_idx": 1.5}], 1, "non-negative integer"),
    ([{"task_id": "t1", "completion": "a", "sample_idx": True}], 1, "non-negative integer"),
])
def test_completion_indices(tmp_path, mini_bench, records, line, needle):
    from selfevolve_lab.judge.cli import load_completions

    comps = _write(tmp_path / "c.jsonl", records)
    with pytest.raises(UserError, match=rf"c.jsonl:{line}: .*{needle}".replace("(", r"\(").replace(")", r"\)")):
        load_completions(comps, {"t1"})


def test_duplicate_and_negative_indices_on_the_command_line(tmp_path, mini_bench):
    tasks = _write(tmp_path / "tasks.jsonl", [_task()])
    out = tmp_path / "v.jsonl"
    comps = tmp_path / "c.jsonl"
    comps.write_text('{"task_id": "t1", "completion": "x"}\n\n{"task_id": "t1", "completion": "y", "sample_idx": 0}\n')
    r = _cli("judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", comps, "--out", out)
    _one_line_error(r, "c.jsonl:3:", "'t1' sample_idx 0 again")  # blank lines count: the line number is the file's
    _write(comps, [{"task_id": "t1", "completion": "x", "sample_idx": -3}])
    r = _cli("judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", comps, "--out", out)
    _one_line_error(r, "c.jsonl:1:", "non-negative integer, got -3")
    assert not out.exists()  # nothing judged


def _not_a_file(tmp_path, target):
    import os

    if target == "dir":
        target = tmp_path / "d"
        target.mkdir()
    elif target == "fifo":
        target = tmp_path / "p"
        os.mkfifo(target)
    elif target == "symlink":
        target = tmp_path / "link.jsonl"
        target.symlink_to("/dev/full")
    return Path(target)


@pytest.mark.parametrize("target", ["/dev/full", "fifo"])
def test_out_must_be_a_regular_file(tmp_path, mini_bench, target):
    target = _not_a_file(tmp_path, target)
    tasks = _write(tmp_path / "tasks.jsonl", [_task()])
    comps = _write(tmp_path / "c.jsonl", [{"task_id": "t1", "completion": GOOD}])
    r = _cli("judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", comps, "--out", target,
             timeout=60)  # /dev/full was read without end until the OOM killer came
    _one_line_error(r, f"{target}: not a regular file")


@pytest.mark.parametrize("target", ["/dev/zero", "dir", "symlink"])
def test_out_variants_that_are_no_file(tmp_path, target):
    from selfevolve_lab.judge.cli import check_out_path

    target = _not_a_file(tmp_path, target)
    with pytest.raises(UserError, match="not a regular file"):
        check_out_path(target)
    check_out_path(tmp_path / "new" / "v.jsonl")  # a path still to create is fine


def test_inputs_that_are_devices_are_refused(tmp_path, mini_bench):
    tasks = _write(tmp_path / "tasks.jsonl", [_task()])
    r = _cli("judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", "/dev/zero", "--out",
             tmp_path / "v.jsonl", timeout=60)  # read without end, like --out /dev/full
    _one_line_error(r, "/dev/zero: a device, not a file")


def test_appender_refuses_what_is_not_a_file():
    from selfevolve_lab.jsonl import JsonlAppender

    with pytest.raises(UserError, match="not a regular file"), JsonlAppender("/dev/full"):
        pass


def test_eval_out_must_be_a_directory(tmp_path, mini_bench):
    (tmp_path / "file").write_text("")
    for target in ("/dev/full", tmp_path / "file"):
        r = _cli("eval", "--bench", mini_bench.root, "--references", "--out", target)
        _one_line_error(r, "not a directory")


# ---------------------------------------------------------------- resume onto changed completions


def test_a_changed_completion_is_judged_again(tmp_path, mini_bench):
    tasks = _write(tmp_path / "tasks.jsonl", [_task("t1"), _task("t2")])
    recs = [{"task_id": t, "completion": GOOD} for t in ("t1", "t2") for _ in range(2)]
    comps = _write(tmp_path / "c.jsonl", recs)
    out = tmp_path / "v.jsonl"
    args = ["judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", comps, "--out", out]
    assert _cli(*args).returncode == 0
    first = read_jsonl(out, Verdict)
    assert [v.status for v in first] == ["passed"] * 4
    assert {v.completion_hash for v in first} == {completion_hash(GOOD)}

    recs[1]["completion"] = "no code any more"  # t1 sample 1 changed
    _write(comps, recs)
    r = _cli(*args)
    assert r.returncode == 0 and "3 verdicts already" in r.stderr and "1 to go" in r.stderr, r.stderr
    final = {(v.task_id, v.sample_idx): v for v in read_jsonl(out, Verdict)}
    assert len(out.read_text().splitlines()) == 4 == len(final)  # the stale verdict is gone, not shadowed
    assert final["t1", 1].status == "no_code" and final["t1", 1].completion_hash == completion_hash(recs[1]["completion"])
    assert sum(v.status == "passed" for v in final.values()) == 3
    assert "75.0%" in r.stdout

    # a file written before verdicts recorded their completion: nothing in it can be trusted, all is redone
    old = [json.loads(line) for line in out.read_text().splitlines()]
    for v in old:
        del v["completion_hash"]
        v["status"], v["passed"] = "wrong_answer", False
    _write(out, old)
    assert all(v.completion_hash == "" for v in read_jsonl(out, Verdict))  # old files still load
    r = _cli(*args)
    assert r.returncode == 0 and "4 to go" not in r.stderr  # not "resuming": none was kept
    final = read_jsonl(out, Verdict)
    assert len(final) == 4 and sum(v.status == "passed" for v in final) == 3


def test_eval_resume_rejudges_samples_whose_completion_changed(tmp_path, mini_bench):
    tasks = _write(tmp_path / "tasks.jsonl", [_task("t1"), _task("t2"), _task("t3")])
    out = tmp_path / "run"
    args = ["eval", "--bench", mini_bench.root, "--tasks", tasks, "--references", "--out", out, "--workers", "1"]
    r = _cli(*args)
    assert r.returncode == 0 and "pass@1 100.0%" in r.stdout, r.stderr[-2000:]
    path = out / "samples.jsonl"
    samples = [json.loads(line) for line in path.read_text().splitlines()]
    assert all(s["verdict"]["completion_hash"] == completion_hash(s["completion"]) for s in samples)

    samples[0]["completion"] = "tampered"  # the verdict no longer belongs to its completion
    samples[1]["verdict"]["completion_hash"] = ""  # as written before verdicts recorded it
    _write(path, samples + [samples[2]])  # and one sample twice
    r = _cli(*args)
    assert r.returncode == 0 and "pass@1 100.0%" in r.stdout, r.stderr[-2000:]
    again = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(s["task_id"] for s in again) == ["t1", "t2", "t3"]  # one record per sample
    assert all(s["completion"] == f"```python\n{_task().reference}```" for s in again)  # the task's own text
    assert all(s["verdict"]["completion_hash"] == completion_hash(s["completion"]) for s in again)


# ---------------------------------------------------------------- broken benches and task files


def _broken_bench(tmp_path, mini_bench, how):
    root = tmp_path / "bench"
    shutil.copytree(mini_bench.root, root)
    if how == "no_package":
        shutil.rmtree(root / "package")
    elif how == "empty_package_dir":
        shutil.rmtree(root / "package" / "zwc")
        (root / "package" / "zwc").mkdir()
    elif how in ("import_error", "syntax_error", "runtime_error", "exit"):
        body = {"import_error": "import zwc_missing_dependency\n", "syntax_error": "def broken(:\n",
                "runtime_error": "raise RuntimeError('half-built')\n", "exit": "import os\nos._exit(3)\n"}[how]
        init = root / "package" / "zwc" / "__init__.py"
        init.write_text(body + init.read_text())
    elif how.startswith("mapping"):
        data = json.loads((root / "mapping.json").read_text())
        if how == "mapping_names_int":
            data["names"] = 5
        elif how == "mapping_value_int":
            data["names"]["numpy.abs"] = 5
        elif how == "mapping_list":
            data = [data]
        elif how == "mapping_no_names":
            del data["names"]
        (root / "mapping.json").write_text(json.dumps(data) if how != "mapping_not_json" else "{names")
    elif how == "manifest_package":
        m = json.loads((root / "manifest.json").read_text())
        m["package"] = "zwc; import os"
        (root / "manifest.json").write_text(json.dumps(m))
    elif how == "manifest_types":
        (root / "manifest.json").write_text('{"library": 5}')
    return root


BROKEN = [
    ("no_package", ["bench/package/zwc: no such package"]),
    ("empty_package_dir", ["bench/package/zwc: no such package"]),
    ("import_error", ["bench/package/zwc: the package fails to import:", "No module named 'zwc_missing_dependency'"]),
    ("syntax_error", ["the package fails to import: SyntaxError"]),
    ("runtime_error", ["the package fails to import: RuntimeError: half-built"]),
    ("exit", ["the package fails to import: the interpreter exited with code 3"]),
    ("mapping_names_int", ["bench/mapping.json: malformed: 'names' must map original names to novel names, got int"]),
    ("mapping_value_int", ["bench/mapping.json: malformed: 'names' maps 'numpy.abs' to int"]),
    ("mapping_list", ["bench/mapping.json: malformed:", "got list"]),
    ("mapping_no_names", ["bench/mapping.json: malformed:", "got nothing"]),
    ("mapping_not_json", ["bench/mapping.json: unreadable"]),
    ("manifest_package", ["bench/manifest.json: malformed: package 'zwc; import os' is not a Python name"]),
    ("manifest_types", ["bench/manifest.json: malformed"]),
]


@pytest.mark.parametrize("how,needles", BROKEN)
def test_a_broken_bench_is_a_user_error_naming_the_file(tmp_path, mini_bench, how, needles):
    from selfevolve_lab.bench import Bench

    root = _broken_bench(tmp_path, mini_bench, how)
    with pytest.raises(UserError) as e:
        Bench.open(root).check_package()
    assert "\n" not in str(e.value)
    for n in needles:
        assert n in str(e.value)


@pytest.mark.parametrize("how,needles", [b for b in BROKEN if b[0] in ("no_package", "import_error", "runtime_error",
                                                                          "mapping_names_int")])
def test_a_broken_bench_is_one_line_on_the_command_line(tmp_path, mini_bench, how, needles):
    bench = _broken_bench(tmp_path, mini_bench, how)
    tasks = _write(tmp_path / "tasks.jsonl", [_task()])
    comps = _write(tmp_path / "c.jsonl", [{"task_id": "t1", "completion": GOOD}])
    r = _cli("judge", "--bench", bench, "--tasks", tasks, "--completions", comps, "--out", tmp_path / "v.jsonl",
             timeout=120)
    _one_line_error(r, *needles)


def test_a_broken_package_stops_eval_too(tmp_path, mini_bench):
    bench = _broken_bench(tmp_path, mini_bench, "runtime_error")
    tasks = _write(tmp_path / "tasks.jsonl", [_task()])
    r = _cli("eval", "--bench", bench, "--tasks", tasks, "--references", "--out", tmp_path / "run", timeout=120)
    _one_line_error(r, "the package fails to import: RuntimeError: half-built")


@pytest.mark.parametrize("how,needle", [
    ("duplicate", "tasks.jsonl:3: duplicate task id 't1' (first on line 1)"),
    ("no_tests", "tasks.jsonl:2: task 't2' has no tests"),
])
def test_a_broken_task_file_is_one_line_naming_it(tmp_path, mini_bench, how, needle):
    recs = [_task("t1"), _task("t2", tests=[] if how == "no_tests" else None), _task("t1")]
    tasks = _write(tmp_path / "tasks.jsonl", recs[:2] if how == "no_tests" else recs)
    comps = _write(tmp_path / "c.jsonl", [{"task_id": "t1", "completion": GOOD}])
    r = _cli("judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", comps, "--out", tmp_path / "v")
    _one_line_error(r, needle)
    if how == "duplicate":  # eval reads task files the same way
        r = _cli("eval", "--bench", mini_bench.root, "--tasks", tasks, "--references", "--out", tmp_path / "run")
        _one_line_error(r, needle)
