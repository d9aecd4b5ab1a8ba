"""Usage errors end in typer's short message and exit 2; flags that combine do what they say."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from selfevolve_lab.schema import Task, TestCase


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], capture_output=True, text=True,
                          **kw)


@pytest.mark.parametrize("args, message", [
    (["foo"], "No such command 'foo'"),
    (["tasks", "import"], "No such command 'import'"),
    (["build", "--bogus"], "No such option: --bogus"),
    (["eval", "--bench"], "Option '--bench' requires an argument"),
], ids=["unknown_command", "unknown_subcommand", "unknown_option", "missing_value"])
def test_usage_errors_are_short_and_exit_2(args, message):
    r = _cli(*args)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and message in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) <= 6  # the usage line, a hint and the boxed message


def test_main_returns_on_success_and_exits_with_the_code_otherwise(capsys):
    from selfevolve_lab.cli import main

    assert main(["--version"]) is None and "selfevolve" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["build", "--out"])
    assert exc.value.code == 2 and "requires an argument" in capsys.readouterr().err


def test_original_names_modifies_references(mini_bench, tmp_path):
    ref = "import zwc\n\ndef solve(x1, x2):\n    return zwc.bafuro(x1, x2).gifune()\n"
    task = Task(id="t/and", kind="single", apis=["zwc.bafuro"], prompt="bitwise and of two lists", entry_point="solve",
                signature="def solve(x1, x2):", reference=ref,
                tests=[TestCase(input={"x1": [12, 10], "x2": [10, 6]}, output=[8, 2])])
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text(task.model_dump_json() + "\n")
    common = ["eval", "--bench", mini_bench.root, "--tasks", tasks, "--workers", "1"]
    refs = _cli(*common, "--references", "--out", tmp_path / "refs")
    both = _cli(*common, "--references", "--original-names", "--out", tmp_path / "both")
    alone = _cli(*common, "--original-names", "--out", tmp_path / "alone")
    assert "pass@1 100.0%" in refs.stdout, refs.stderr[-1500:]
    for r, run in ((both, "both"), (alone, "alone")):
        assert r.returncode == 0 and "pass@1 0.0%" in r.stdout, r.stderr[-1500:]
        (sample,) = map(json.loads, (tmp_path / run / "samples.jsonl").read_text().splitlines())
        assert sample["verdict"]["status"] == "uses_original_library"
        assert "bitwise_and(x1, x2).tolist()" in sample["completion"]
