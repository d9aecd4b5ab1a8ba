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
and point `custom_reward_function.path` at this file (`name: compute_score`, or `compute_score_batch` with
`reward_model.reward_manager=batch`). A row that cannot be judged scores 0 with the reason; it never
raises into the trainer.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

from selfevolve_lab.errors import UserError
from selfevolve_lab.integrations.judges import shared_judge

DATA_SOURCE = "selfevolve"


def rows(bench: Any, tasks: list, split: str, mode: str) -> list[dict]:
    from selfevolve_lab.train.data import TaskPrompts

    prompts = TaskPrompts(bench)
    return [{"data_source": DATA_SOURCE, "prompt": prompts.messages(t, mode), "ability": "code",
             "reward_model": {"style": "rule", "ground_truth": t.id},
             "extra_info": {"split": split, "index": i, "task_id": t.id, "bench": str(bench.root), "mode": mode}}
            for i, t in enumerate(tasks)]


def export_verl(bench_dir: Path, out: Path, *, split: str = "train", limit: int | None = None,
                force: bool = False) -> dict[str, int]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.jsonl import atomic_dir
    from selfevolve_lab.train.data import train_tasks

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
    from selfevolve_lab.bench import SPLITS, Bench

    bench = Bench.open(bench_root)
    return {t.id: t for s in SPLITS if bench.tasks_path(s).is_file() for t in bench.tasks(s)}


def compute_score(data_source: str, solution_str: str, ground_truth: str, extra_info: dict | None = None) -> dict:
    """verl's custom reward (the naive reward manager, one row a call): the judge's verdict on
    ``solution_str`` for task ``ground_truth``. See `compute_score_batch`."""
    return compute_score_batch([data_source], [solution_str], [ground_truth], [extra_info])[0]


def compute_score_batch(data_sources: list, solution_strs: list[str], ground_truths: list, extra_infos: list,
                        **_: Any) -> list[dict]:
    """verl's custom reward under its batch reward manager (``reward_model.reward_manager=batch``,
    ``custom_reward_function.name=compute_score_batch``): one dict per row, judged concurrently.

    Each dict is ``{"score": 0/1, "status": ..., "detail": ...}``, with the same keys on every row (verl
    appends each key's values into one list per key, so rows with other keys would misalign its logs). The
    bench comes from ``extra_info["bench"]``, else the environment variable SELFEVOLVE_BENCH. A row that
    cannot be judged (no bench, an unknown task, a sandbox failure) scores 0 with status ``error`` and the
    reason as its detail: it never stops the trainer, and the reason is logged beside the score.
    """
    import concurrent.futures as cf

    out: list[dict | cf.Future] = []
    for solution, truth, info in zip(solution_strs, ground_truths, extra_infos, strict=True):
        try:
            root, task = _task_of(truth, info)
            out.append(shared_judge(root).submit(task, solution if isinstance(solution, str) else ""))
        except Exception as e:  # noqa: BLE001 - a reward function must not crash the trainer: the row says why
            out.append(_error(e))
    scores = []
    for item in out:
        if isinstance(item, cf.Future):
            try:
                verdict = item.result()
                item = {"score": verdict.reward, "status": verdict.status, "detail": verdict.detail}
            except Exception as e:  # noqa: BLE001
                item = _error(e)
        scores.append(item)
    return scores


def _error(e: Exception) -> dict:
    reason = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
    return {"score": 0.0, "status": "error", "detail": "compute_score: " + " ".join(reason.split())}


def _task_of(ground_truth: Any, extra_info: Any) -> tuple[str, Any]:
    import os

    try:
        info = extra_info if isinstance(extra_info, dict) else json.loads(extra_info or "{}")
    except (TypeError, ValueError):
        raise UserError(f"extra_info is neither a dict nor JSON: {str(extra_info)[:80]!r}") from None
    root = (info.get("bench") if isinstance(info, dict) else None) or os.environ.get("SELFEVOLVE_BENCH")
    if not root:
        raise UserError("no bench (extra_info['bench'] or SELFEVOLVE_BENCH)")
    task = _tasks(str(root)).get(ground_truth)
    if task is None:
        raise UserError(f"task {ground_truth!r} is not in {root}")
    return str(root), task
