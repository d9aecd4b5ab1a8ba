import subprocess
import sys

from selfevolve.schema import STATUSES, Verdict


def test_statuses_are_the_documented_set():
    assert STATUSES == (
        "passed", "wrong_answer", "runtime_error", "timeout", "memory", "no_code",
        "not_using_package", "uses_original_library", "sandbox_error",
    )
    assert Verdict(task_id="t", passed=False, status="timeout").reward == 0.0


def test_cli_help_runs():
    out = subprocess.run([sys.executable, "-m", "selfevolve.cli", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "Usage" in out.stdout
