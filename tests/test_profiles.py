"""Library profiles: one library's knowledge in one module, and a second library (statistics) through the seam."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from selfevolve_lab import profiles
from selfevolve_lab.judge import Judge
from selfevolve_lab.obfuscate.translate import translate_code
from selfevolve_lab.sandbox import RunRequest
from selfevolve_lab.sandbox.guard import STDLIB, Guard

SRC = Path(__file__).resolve().parents[1] / "src" / "selfevolve_lab"


def test_numpy_is_named_only_by_its_profile():
    hits = [f"{p.relative_to(SRC)}:{i}" for p in sorted(SRC.rglob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if '"numpy"' in line]
    assert hits and all(h.startswith("profiles/numpy.py:") for h in hits), hits


def test_profiles_import_nothing_of_selfevolve_above_them():
    for path in (SRC / "profiles").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("selfevolve_lab") or name.startswith("selfevolve_lab.profiles"), (path.name, name)


def test_a_library_without_a_profile_gets_an_empty_one():
    p = profiles.get("json")
    assert (p.name, p.prefix, p.import_line, p.value_classes, p.overrides) == ("json", "json", "import json", (), {})
    assert profiles.get(profiles.DEFAULT).import_line == "import numpy as np"


@pytest.fixture(scope="module")
def stats(tmp_path_factory):
    from selfevolve_lab.obfuscate.build import build_bench
    from selfevolve_lab.tasks.generate import build_tasks

    bench = build_bench("statistics", tmp_path_factory.mktemp("stats") / "bench", seed=7, name="zwc")
    splits, _ = build_tasks(bench, 0, workers=2)
    return bench, splits


def test_statistics_gets_a_validated_task_set(stats):
    bench, splits = stats
    functions = {d.novel for d in bench.docs if d.kind == "function"}
    covered = {a for t in splits["test_single"] for a in t.apis} & functions
    assert len(functions) == 18 and len(covered) >= 0.8 * len(functions)
    tasks = [t for s in splits.values() for t in s]
    with Judge(bench, workers=2) as judge:
        verdicts = list(judge.judge_many((t, t.reference, i) for i, t in enumerate(tasks)))
        assert Counter(v.status for v in verdicts) == {"passed": len(tasks)}
        for t in splits["test_single"]:
            original = translate_code(t.reference, bench.mapping, library="statistics", package="zwc", reverse=True)
            assert "import statistics" in original and "np" not in original
            assert judge.judge(t, original).status == "uses_original_library"


def test_the_library_stays_closed_book_when_it_is_a_standard_module(stats):
    bench, _ = stats
    reach = ["import statistics\ndef solve():\n    return statistics.mean([1, 2])\n",
             "from statistics import mean\ndef solve():\n    return mean([1, 2])\n",
             "import random\ndef solve():\n    return getattr(random, 'statistics').mean([1, 2])\n"]
    with Judge(bench, workers=1) as judge:
        for code in reach:
            run = judge.pool.submit(RunRequest(code, "solve", [{}])).result()
            assert not (run.status == "ok" and run.outcomes[0].ok), (code, run)
    assert "statistics" in STDLIB  # admitted to runs of any other library's bench
    assert "statistics" not in Guard("zwc", [], library="statistics").modules
    assert "statistics" in Guard("zwc", [], library="numpy").modules
