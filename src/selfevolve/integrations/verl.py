"""The verl route: our bench as verl's RL parquet, and a `compute_score` over our judge.

`selfevolve export verl --bench B --out DIR` writes, one row per task (verl's columns: `data_source`,
`prompt` (chat messages), `ability`, `reward_model {style, ground_truth}`, `extra_info {split, index, ...}`):

* `train_nodocs.parquet`: the train split without docs: Closed-RL's training side (the sequence its loss
  uses), and the official validation setting (greedy, no docs) when written for a test split;
* `train_docs.parquet`: the same rows, same order, with docs: Open-RL's data, and the prompts Closed-RL's
  generation side takes, as the official trainer (two dataloaders over one sampler) wants them;
* `test_single_nodocs.parquet`: closed-book validation.

`ground_truth` is the task id; `extra_info` carries the bench path, so `compute_score` finds the task.
verl needs a GPU and pins an older transformers: run it in its own environment with selfevolve installed,
and point `custom_reward_function.path` at this file (`name: compute_score`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from selfevolve.errors import UserError
from selfevolve.integrations.judges import shared_judge

DATA_SOURCE = "selfevolve"


def rows(bench: Any, tasks: list, split: str, mode: str) -> list[dict]:
    from selfevolve.train.data import TaskPrompts

    prompts = TaskPrompts(bench)
    return [{"data_source": DATA_SOURCE, "prompt": prompts.messages(t, mode), "ability": "code",
             "reward_model": {"style": "rule", "ground_truth": t.id},
             "extra_info": {"split": split, "index": i, "task_id": t.id, "bench": str(bench.root), "mode": mode}}
            for i, t in enumerate(tasks)]


def export_verl(bench_dir: Path, out: Path, *, split: str = "train", limit: int | None = None,
                force: bool = False) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from selfevolve.bench import Bench
    from selfevolve.jsonl import atomic_dir
    from selfevolve.train.data import train_tasks

    bench = Bench.open(bench_dir)
    if Path(out).exists() and not force:
        raise UserError(f"{out} exists; use --force to replace it")
    tables = {}
    tasks = train_tasks(bench, split, limit)
    tables[f"{split}_nodocs"] = rows(bench, tasks, split, "closed")
    tables[f"{split}_docs"] = rows(bench, tasks, split, "open")
    if split == "train" and bench.tasks_path("test_single").is_file():
        test = train_tasks(bench, "test_single", limit)
        tables["test_single_nodocs"] = rows(bench, test, "test_single", "closed")
    with atomic_dir(out) as tmp:
        for name, data in tables.items():
            pq.write_table(pa.Table.from_pylist(data), tmp / f"{name}.parquet")
    return {f"{k}.parquet": len(v) for k, v in tables.items()}


@functools.lru_cache(maxsize=16)
def _tasks(bench_root: str) -> dict:
    from selfevolve.bench import SPLITS, Bench

    bench = Bench.open(bench_root)
    return {t.id: t for s in SPLITS if bench.tasks_path(s).is_file() for t in bench.tasks(s)}


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: dict | None = None) -> dict:
    """verl's custom reward: the judge's verdict on ``solution_str`` for task ``ground_truth``.

    Returns ``{"score": 0/1, "status": ...}`` (verl logs the other keys). The bench comes from
    ``extra_info["bench"]``, else the environment variable SELFEVOLVE_BENCH.
    """
    import os

    info = extra_info if isinstance(extra_info, dict) else json.loads(extra_info or "{}")
    root = info.get("bench") or os.environ.get("SELFEVOLVE_BENCH")
    if not root:
        raise UserError("compute_score: no bench (extra_info['bench'] or SELFEVOLVE_BENCH)")
    task = _tasks(str(root)).get(ground_truth)
    if task is None:
        raise UserError(f"compute_score: task {ground_truth!r} is not in {root}")
    verdict = shared_judge(str(root)).judge(task, solution_str)
    return {"score": verdict.reward, "status": verdict.status}
