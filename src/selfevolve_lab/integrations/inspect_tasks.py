"""Inspect AI tasks over a bench, scored by our judge: ``selfevolve_lab/closed_book`` and ``selfevolve_lab/open_book``.

    inspect eval selfevolve_lab/closed_book -T bench=demo-out/bench --model openai-api/local/M \\
        --model-base-url http://127.0.0.1:8000/v1          # LOCAL_API_KEY=... for the key
    inspect eval selfevolve_lab/open_book -T bench=demo-out/bench -T docs=bm25 --model vllm/Qwen/Qwen3-8B

The prompts are `selfevolve eval`'s (`Prompter`), and the score is the judge's verdict: the completion's code
runs in the judge's sandbox, never in Inspect's process. Each score's ``explanation`` and
``metadata["status"]`` give the judge's status (passed, wrong_answer, not_using_package, ...). Registered
through the ``inspect_ai`` entry point of pyproject.toml; ``inspect eval path/to/inspect_tasks.py@closed_book``
works without it. Inspect's own options pick the rest (``--limit``, ``--epochs``, ``--temperature``,
``--max-tokens``; the task's defaults are `selfevolve eval`'s). Needs the ``inspect`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inspect_ai import Task, task
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser, GenerateConfig
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer, stderr
from inspect_ai.solver import TaskState, generate

from selfevolve_lab.evaluate.run import EvalConfig
from selfevolve_lab.integrations.judges import close_judges, shared_judge

_DEFAULTS = EvalConfig(bench="", model="")
__all__ = ["close_judges", "closed_book", "judge_scorer", "open_book"]


def _tasks(bench: Any, split: str, tasks_file: str | None) -> list:
    from selfevolve_lab.bench import load_tasks

    return load_tasks(tasks_file) if tasks_file else bench.tasks(split)


@scorer(metrics=[accuracy(), stderr()])
def judge_scorer(bench: str, split: str = _DEFAULTS.split, tasks: str | None = None, workers: int | None = None):
    """The judge's verdict on the completion, for the task whose id is the sample's id: a task of the bench's
    ``split``, or of the tasks file ``tasks``. ``workers``: the judge's sandbox workers (default: per core)."""
    import anyio

    from selfevolve_lab.bench import Bench

    b = Bench.open(bench)
    root, by_id = str(b.root), {t.id: t for t in _tasks(b, split, tasks)}

    async def score(state: TaskState, target: Target) -> Score:
        task_ = by_id[str(state.sample_id)]
        judge = await anyio.to_thread.run_sync(shared_judge, root, workers)  # the first call starts its pool
        future = judge.submit(task_, state.output.completion, max(state.epoch - 1, 0))
        verdict = await anyio.to_thread.run_sync(future.result)
        return Score(value=CORRECT if verdict.passed else INCORRECT, explanation=f"{verdict.status}: {verdict.detail}" if verdict.detail else verdict.status,
                     metadata={"status": verdict.status, "tests_passed": sum(t.passed for t in verdict.tests),
                               "tests": len(verdict.tests)})

    return score


def _task(mode: str, bench: str, split: str, tasks_file: str | None, docs: str,
          prompt_style: str, doc_style: str, workers: int | None) -> Task:
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.evaluate.prompts import Prompter

    b = Bench.open(bench)
    chosen = _tasks(b, split, tasks_file)
    prompter = Prompter(b, mode, docs, prompt_style, doc_style=doc_style)
    samples = [Sample(id=t.id, input=[ChatMessageUser(content=m["content"]) for m in prompter.messages(t)],
                      target=t.reference, metadata={"apis": t.apis, "kind": t.kind}) for t in chosen]
    name = f"{b.package}-{mode}-{Path(tasks_file).stem if tasks_file else split}"
    return Task(dataset=MemoryDataset(samples, name=name), solver=generate(),
                scorer=judge_scorer(str(b.root), split, tasks_file, workers),
                config=GenerateConfig(temperature=_DEFAULTS.temperature, max_tokens=_DEFAULTS.max_tokens))


@task
def closed_book(bench: str, split: str = _DEFAULTS.split, tasks: str | None = None,
                prompt_style: str = _DEFAULTS.prompt_style, workers: int | None = None) -> Task:
    """Closed book: no documentation in the prompt; only what the model internalized about the package counts.
    ``tasks``: a tasks JSONL (e.g. from `tasks import-sebench`) instead of the bench's ``split``."""
    return _task("closed", bench, split, tasks, _DEFAULTS.docs, prompt_style, _DEFAULTS.doc_style, workers)


@task
def open_book(bench: str, split: str = _DEFAULTS.split, tasks: str | None = None,
              docs: str = _DEFAULTS.docs, prompt_style: str = _DEFAULTS.prompt_style,
              doc_style: str = _DEFAULTS.doc_style, workers: int | None = None) -> Task:
    """Open book: the prompt holds documentation (``docs``: task, all or bm25; ``doc_style``: full or summary)."""
    return _task("open", bench, split, tasks, docs, prompt_style, doc_style, workers)
