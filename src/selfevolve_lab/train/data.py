"""`selfevolve train data`: rejection-sampled SFT data, as in the paper, and the prompts every recipe uses.

The model answers each train task open-book (the docs of its APIs in the prompt) through the evaluation
harness, with the same prompts, backends, seeds and resume as `selfevolve eval`; the judge keeps what
passes. Each kept sample becomes one `SFTRecord`: the request with docs (`prompt_open`), the same request
without docs (`prompt_closed`), the completion and its verdict. `--from-references` uses the tasks' own
reference solutions as the completions (still judged), for a model that cannot yet solve with docs.

The harness run lives in a temporary directory, or in ``run_dir`` (`--run-dir`): then a killed `train data`
resumes from it. Nothing else is written beside the output.
"""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from selfevolve_lab.bench import Bench
from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import check_out, read_jsonl, write_jsonl
from selfevolve_lab.schema import Task, Verdict

Messages = list[dict[str, str]]


class SFTRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_id: str
    sample_idx: int = 0
    prompt_open: Messages  # the request with the docs of the task's APIs (where the completion was sampled)
    prompt_closed: Messages  # the same request without docs
    completion: str
    verdict: Verdict


class TaskPrompts:
    """Closed-book and open-book chat prompts of a bench's tasks: `selfevolve_lab.evaluate.prompts`, unchanged."""

    def __init__(self, bench: Bench, docs: str = "task", style: str = "default", doc_style: str = "full"):
        from selfevolve_lab.evaluate.prompts import Prompter

        self.closed = Prompter(bench, "closed", docs, style, doc_style=doc_style)
        self.open = Prompter(bench, "open", docs, style, doc_style=doc_style)

    def messages(self, task: Task, mode: str) -> Messages:
        return (self.open if mode == "open" else self.closed).messages(task)


def train_tasks(bench: Bench, split: str = "train", limit: int | None = None) -> list[Task]:
    path = bench.tasks_path(split)
    if not path.is_file():
        raise UserError(f"{bench.root}: no {split} tasks; run `selfevolve tasks generate {bench.root}`")
    tasks = read_jsonl(path, Task)
    if not tasks:
        raise UserError(f"{path}: no {split} tasks")
    return tasks[:limit] if limit else tasks


def build_data(bench_dir: Path, out: Path, *, model: str | None, split: str = "train", n_samples: int = 5,
               temperature: float = 0.6, max_tokens: int = 512, seed: int = 0, limit: int | None = None,
               from_references: bool = False, backend: str = "auto", force: bool = False,
               progress: bool = True, doc_style: str = "full", run_dir: Path | None = None) -> dict:
    """Generate open-book, judge, keep what passes; write ``out`` atomically. Returns counts."""
    from selfevolve_lab.evaluate.run import EvalConfig, run_eval

    bench = Bench.open(bench_dir)
    tasks = train_tasks(bench, split, limit)
    if not from_references and not model:
        raise UserError("--model is required (or --from-references)")
    check_out(out, force=force)
    source = "references" if from_references else "model"
    cfg = EvalConfig(bench=str(bench.root), model=model or source, mode="open", docs="task", split=split,
                     n_samples=1 if from_references else n_samples, temperature=temperature, max_tokens=max_tokens,
                     seed=seed, limit=limit, source=source, doc_style=doc_style)
    with contextlib.ExitStack() as stack:
        eval_dir = Path(run_dir) if run_dir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        results = run_eval(cfg, eval_dir, force=force, progress=progress, backend=backend)
        samples = read_jsonl(eval_dir / "samples.jsonl", tolerate_torn_tail=True)
    by_id = {t.id: t for t in tasks}
    prompts = TaskPrompts(bench, doc_style=doc_style)
    kept, statuses = [], results["metrics"]["status"]
    for s in samples:
        task = by_id.get(s["task_id"])
        if task is None or not s["verdict"]["passed"]:
            continue
        kept.append(SFTRecord(task_id=task.id, sample_idx=s["sample_idx"], prompt_open=prompts.messages(task, "open"),
                              prompt_closed=prompts.messages(task, "closed"), completion=s["completion"],
                              verdict=Verdict.model_validate(s["verdict"])))
    if not kept:
        raise UserError(f"no sample passed the judge ({statuses}); nothing to train on (try --from-references)")
    order = {t.id: i for i, t in enumerate(tasks)}
    kept.sort(key=lambda r: (order[r.task_id], r.sample_idx))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(out, kept)
    return {"records": len(kept), "tasks": len({r.task_id for r in kept}), "samples": results["metrics"]["n_samples"],
            "status": statuses}


def read_data(path: Path, limit: int | None = None) -> list[SFTRecord]:
    """SFT records (those of the first ``limit`` tasks); only passing ones train. A file with none is bad input."""
    records = [r for r in read_jsonl(path, SFTRecord) if r.verdict.passed]
    if not records:
        raise UserError(f"{path}: no passing samples to train on")
    if limit:
        first = list(dict.fromkeys(r.task_id for r in records))[:limit]
        records = [r for r in records if r.task_id in set(first)]
    return records
