"""`selfevolve eval`: generate completions, judge them as they arrive, write samples as they finish.

RUNDIR/config.json    what was asked (a re-run with another config refuses unless --force)
RUNDIR/samples.jsonl  one record per sample: task_id, sample_idx, prompt_hash, completion, verdict
RUNDIR/results.json   config, model, bench manifest hash, metrics (pass@k), versions, sandbox isolation
Re-running the same command skips the samples already in samples.jsonl, so a killed run resumes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

from selfevolve import __version__
from selfevolve.bench import Bench
from selfevolve.errors import UserError
from selfevolve.jsonl import JsonlAppender, atomic_write_text, read_jsonl
from selfevolve.perf import event_loop, frozen_heap
from selfevolve.schema import Sample, Task


@dataclass(frozen=True)
class EvalConfig:
    bench: str
    model: str
    mode: str = "closed"
    docs: str = "task"
    split: str = "test_single"
    tasks_file: str | None = None
    n_samples: int = 1
    temperature: float = 0.0
    max_tokens: int = 512
    seed: int = 0
    limit: int | None = None
    prompt_style: str = "default"
    doc_style: str = "full"
    source: str = "model"  # model | references | original-names


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimator of the Codex paper: 1 - C(n-c, k) / C(n, k)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod((n - c - i) / (n - i) for i in range(k))


def metrics(samples: list[dict], tasks: list[Task], n: int) -> dict:
    by_task: dict[str, list[bool]] = {}
    for s in samples:
        by_task.setdefault(s["task_id"], []).append(s["verdict"]["passed"])
    ks = sorted({1, n} | {k for k in (5, 10, 100) if k < n})
    out = {f"pass@{k}": sum(pass_at_k(len(v), sum(v), k) for v in by_task.values() if len(v) >= k)
           / max(1, sum(len(v) >= k for v in by_task.values())) for k in ks}
    out["n_tasks"] = len(by_task)
    out["n_samples"] = len(samples)
    out["status"] = dict(Counter(s["verdict"]["status"] for s in samples))
    kind = {t.id: t.kind for t in tasks}
    for k in sorted(set(kind.values())):
        group = [s for s in samples if kind.get(s["task_id"]) == k]
        out[f"pass@1/{k}"] = sum(s["verdict"]["passed"] for s in group) / max(1, len(group))
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"selfevolve": __version__}
    for pkg in ("numpy", "torch", "transformers", "httptools", "vllm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _tasks(bench: Bench, cfg: EvalConfig) -> list[Task]:
    tasks = read_jsonl(cfg.tasks_file, Task) if cfg.tasks_file else bench.tasks(cfg.split)
    if not tasks:
        raise UserError(f"{bench.root}: the task set is empty")
    return tasks[: cfg.limit] if cfg.limit else tasks


def _seed(cfg: EvalConfig, task_id: str, k: int) -> int:
    return (cfg.seed * 1_000_003 + zlib.crc32(task_id.encode()) * 31 + k) % (2 ** 31)


def run_eval(cfg: EvalConfig, out: Path, *, force: bool = False, progress: bool = True, workers: int | None = None,
             concurrency: int = 32, backend: str = "auto") -> dict:
    bench = Bench.open(cfg.bench)
    tasks = _tasks(bench, cfg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    conf_path = out / "config.json"
    conf = asdict(cfg)
    if conf_path.exists() and json.loads(conf_path.read_text()) != conf:
        if not force:
            raise UserError(f"{out} holds a run with another configuration; use --force to start it over")
        (out / "samples.jsonl").unlink(missing_ok=True)
    atomic_write_text(conf_path, json.dumps(conf, indent=1, sort_keys=True) + "\n")
    samples_path = out / "samples.jsonl"
    done = read_jsonl(samples_path, tolerate_torn_tail=True) if samples_path.exists() else []
    seen = {(s["task_id"], s["sample_idx"]) for s in done}
    todo = [(t, k) for t in tasks for k in range(cfg.n_samples) if (t.id, k) not in seen]
    samples = done  # what samples.jsonl holds, kept in memory rather than read back
    with event_loop() as loop:
        isolation = loop.run(_generate_and_judge(cfg, bench, todo, samples_path, progress, workers, concurrency,
                                                 backend, samples))
    ids = {t.id for t in tasks}
    samples = [s for s in samples if s["task_id"] in ids]
    results = {"config": conf, "model": cfg.model, "bench": str(bench.root),
               "bench_manifest_sha256": hashlib.sha256((bench.root / "manifest.json").read_bytes()).hexdigest(),
               "metrics": metrics(samples, tasks, cfg.n_samples), "versions": _versions(), "isolation": isolation}
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


async def _generate_and_judge(cfg, bench, todo, samples_path, progress, workers, concurrency, backend,
                              samples: list[dict]) -> str:
    """Appends each judged sample to ``samples_path``, and its task, index and verdict status to ``samples``."""
    from tqdm import tqdm

    from selfevolve.evaluate.prompts import Prompter, prompt_hash
    from selfevolve.judge import Judge
    from selfevolve.obfuscate.translate import translate_code

    prompter = Prompter(bench, cfg.mode, cfg.docs, cfg.prompt_style, doc_style=cfg.doc_style)
    model = None
    if cfg.source == "model" and todo:
        from selfevolve.models import load_backend

        model = load_backend(cfg.model, backend=backend, concurrency=concurrency)
    total = len(samples) + len(todo)
    bar = tqdm(total=total, initial=len(samples), desc="generate+judge", unit="sample", disable=not progress)
    # The sandbox pool takes about 0.4 s to start its workers: it starts in a thread while the first
    # requests go out, and each sample waits for it only once its completion is there.
    starting = asyncio.get_running_loop().run_in_executor(None, partial(Judge, bench, workers=workers))
    try:
        # The bench, its tasks and docs live for the whole run: keep the collector off them.
        with JsonlAppender(samples_path) as sink, frozen_heap():

            async def one(task: Task, k: int) -> None:
                msgs = prompter.messages(task)
                if cfg.source == "references":
                    text = f"```python\n{task.reference}```"
                elif cfg.source == "original-names":
                    text = "```python\n" + translate_code(task.reference, bench.mapping, library=bench.library,
                                                          package=bench.package, reverse=True) + "```"
                else:
                    text = await model.complete(msgs, temperature=cfg.temperature, max_tokens=cfg.max_tokens,
                                                seed=_seed(cfg, task.id, k))
                judge = await starting
                verdict = await asyncio.wrap_future(judge.submit(task, text, k))  # judging overlaps generation
                sink.write(Sample(task_id=task.id, sample_idx=k, prompt_hash=prompt_hash(msgs), completion=text,
                                  verdict=verdict))  # no await between here and the bar: records never interleave
                samples.append({"task_id": task.id, "sample_idx": k,
                                "verdict": {"passed": verdict.passed, "status": verdict.status}})
                bar.update(1)

            try:
                await asyncio.gather(*(one(t, k) for t, k in todo))
            finally:
                bar.close()
                if model is not None:
                    await model.close()
            return (await starting).isolation
    finally:
        await _close_when_started(starting)


async def _close_when_started(starting: asyncio.Future) -> None:
    try:
        judge = await starting
    except Exception:  # it never started; whoever waited for it has its error
        return
    judge.close()
