"""selfevolve: measure how language models internalize new knowledge and improve themselves.

The Python API (the README's example)::

    from selfevolve_lab import Bench, Judge, evaluate_model

    bench = Bench.open("demo-out/bench")                   # a bench from `selfevolve build` / `make demo`
    task = bench.tasks("test_single")[0]
    with Judge(bench) as judge:                            # a Bench or its path
        print(judge.judge(task, task.reference).status)    # passed
    results = evaluate_model("demo-out/bench", "micro-base", out="runs/py", mode="closed", limit=8)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["Bench", "Judge", "Task", "Verdict", "EvalConfig", "evaluate_model", "load_tasks"]

# Loaded on first use, so `import selfevolve_lab` (and the CLI's start) stays light.
_LAZY = {"Bench": "selfevolve_lab.bench", "load_tasks": "selfevolve_lab.bench", "Judge": "selfevolve_lab.judge",
         "Task": "selfevolve_lab.schema", "Verdict": "selfevolve_lab.schema", "EvalConfig": "selfevolve_lab.evaluate.run",
         "evaluate_model": "selfevolve_lab.evaluate.run"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'selfevolve_lab' has no attribute {name!r}")

