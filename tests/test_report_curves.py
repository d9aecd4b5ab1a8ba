"""`selfevolve report` on `exit iterate` runs: their K-step curves on one plot, and a table of each."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from selfevolve_lab.errors import UserError
from selfevolve_lab.evaluate.report import build_report


def _iterate_run(path, means, depth=None):
    path.mkdir(parents=True)
    steps = [{"step": k, "mean": m, "ci95": [m - 0.1, m + 0.1], "n": 8} for k, m in enumerate(means)]
    (path / "curve.json").write_text(json.dumps({"domain": "math", "model": "m", "mean_training_depth": depth,
                                                 "steps": steps}))
    return path


def test_curves_of_several_runs_on_one_plot(tmp_path):
    a = _iterate_run(tmp_path / "seed0" / "exit" / "iterate", [0.2, 0.5, 0.4], depth=1.25)
    b = _iterate_run(tmp_path / "seed0" / "grpo" / "iterate", [0.3, 0.1, 0.2])
    rep = build_report([a, b], tmp_path / "out")
    assert (tmp_path / "out" / "curves.png").stat().st_size > 0
    summary = json.loads((tmp_path / "out" / "report.json").read_text())
    assert list(summary) == ["exit/iterate", "grpo/iterate"]  # the shortest names that tell the runs apart
    assert summary["exit/iterate"]["best_step"] == 1 and summary["exit/iterate"]["best"] == 0.5
    assert summary["grpo/iterate"]["last"] == 0.2 and summary["grpo/iterate"]["first"] == 0.3
    assert "| exit/iterate | 1.25 | 0.200 | 0.400 (k=2) | 0.500 (k=1) |" in rep["markdown"]
    assert "| grpo/iterate | - | 0.300 | 0.200 (k=2) | 0.300 (k=0) |" in rep["markdown"]


def test_curve_runs_are_not_mixed_and_bad_curves_are_user_errors(tmp_path):
    good = _iterate_run(tmp_path / "good", [0.1, 0.2])
    train = tmp_path / "train"
    train.mkdir()
    (train / "metrics.jsonl").write_text('{"step": 1, "loss": 0.5}\n')
    with pytest.raises(UserError, match="not both"):
        build_report([good, train], tmp_path / "out")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "curve.json").write_text(json.dumps({"steps": [{"step": 0}]}))
    with pytest.raises(UserError, match="needs steps"):
        build_report([bad], tmp_path / "out")
    r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "report", str(good), str(bad), "--out",
                        str(tmp_path / "cli")], capture_output=True, text=True)
    assert r.returncode == 2 and "needs steps" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "report", str(good), "--out", str(tmp_path / "cli")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and (tmp_path / "cli" / "curves.png").is_file(), r.stderr
