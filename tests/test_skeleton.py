import subprocess
import sys

from selfevolve_lab.schema import STATUSES, Verdict


def test_statuses_are_the_documented_set():
    assert STATUSES == (
        "passed", "wrong_answer", "runtime_error", "timeout", "memory", "no_code",
        "not_using_package", "uses_original_library", "sandbox_error",
    )
    assert Verdict(task_id="t", passed=False, status="timeout").reward == 0.0


def test_cli_help_runs():
    out = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "Usage" in out.stdout


def test_a_bench_opened_by_a_relative_path_has_an_absolute_root(mini_bench, monkeypatch):
    # its package path is handed to subprocesses (example runners, sandbox workers) that start elsewhere
    from selfevolve_lab.bench import Bench

    monkeypatch.chdir(mini_bench.root.parent)
    bench = Bench.open(mini_bench.root.name)
    assert bench.root.is_absolute() and bench.root == mini_bench.root.resolve()
