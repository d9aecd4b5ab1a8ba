"""Shared pieces of the ExIt tests: a small bench with tasks, and the responses every domain must survive."""

from __future__ import annotations

import shutil
from pathlib import Path

from selfevolve.schema import Task, TestCase

LOOP = ("```python\nimport zwc\n\ndef solve(x):\n    while True:\n        pass\n    return zwc.falekef(x).gifune()\n```")
BAD = {"empty": "", "garbage": "\x00\x01 ### ??? ünïcode ]]]", "no code": "I am not sure how to do this."}


def abs_task(i: int, xs: list[list[int]]) -> Task:
    return Task(id=f"abs-{i}", kind="single", apis=["zwc.falekef"],
                prompt="Return the absolute value of every number in the list x, as a list.",
                entry_point="solve", signature="def solve(x):",
                tests=[TestCase(input={"x": x}, output=[abs(v) for v in x]) for x in xs],
                reference="import zwc\n\ndef solve(x):\n    return zwc.falekef(x).gifune()\n")


def bench_with_tasks(mini_bench, root: Path):
    """A copy of the mini bench with train and test_single tasks (absolute values)."""
    from selfevolve.bench import Bench

    shutil.copytree(mini_bench.root, root)
    (root / "tasks").mkdir()
    xs = [[-1, 2, -3], [0, -5], [4], [-7, -8, 9, 10]]
    for split, ids in (("train", range(3)), ("test_single", range(3, 5))):
        text = "".join(abs_task(i, xs).model_dump_json() + "\n" for i in ids)
        (root / "tasks" / f"{split}.jsonl").write_text(text)
    return Bench.open(root)


SOLVED = "```python\nimport zwc\n\ndef solve(x):\n    return zwc.falekef(x).gifune()\n```"
HALF = ("```python\nimport zwc\n\ndef solve(x):\n    if len(x) > 2:\n        return zwc.falekef(x).gifune()\n"
        "    return zwc.yitaf(x).gifune()\n```")
