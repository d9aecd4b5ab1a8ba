"""Counts over a bench's task sets (pure)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from selfevolve.bench import SPLITS


def stats(bench: Any) -> dict[str, Any]:
    functions = {d.novel for d in bench.docs if d.kind == "function"}
    out: dict[str, Any] = {"function_apis": len(functions), "splits": {}}
    for split in SPLITS:
        if not bench.tasks_path(split).is_file():
            continue
        tasks = bench.tasks(split)
        per_api = Counter(a for t in tasks for a in t.apis)
        covered = functions & set(per_api)
        out["splits"][split] = {
            "tasks": len(tasks), "kinds": dict(Counter(t.kind for t in tasks)),
            "apis_covered": len(covered),
            "function_coverage_pct": round(100 * len(covered) / max(1, len(functions)), 1),
            "min_tasks_per_covered_api": min((per_api[a] for a in covered), default=0),
            "apis_per_task": dict(Counter(len(t.apis) for t in tasks)),
            "tests_per_task_mean": round(sum(len(t.tests) for t in tasks) / max(1, len(tasks)), 2),
        }
    return out
