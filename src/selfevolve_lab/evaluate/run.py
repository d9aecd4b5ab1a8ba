"""`selfevolve eval`: generate completions, judge them as they arrive, write samples as they finish.

RUNDIR/config.json    what was asked (a re-run with another config refuses unless --force)
RUNDIR/samples.jsonl  one record per sample: task_id, sample_idx, prompt_hash, completion, verdict, and what the
                      backend said of it (reasoning, finish_reason, token usage); answer_from says what was judged
RUNDIR/results.json   config, model, served model id, bench manifest hash, metrics (pass@k, truncations),
                      versions, sandbox isolation
Re-running the same command skips the samples already in samples.jsonl, so a killed run resumes. A kept
sample's verdict must be of its completion (the verdict records the hash of the text judged: the completion,
or the reasoning when the completion was empty; with --references or --original-names the completion must
also still be the one the tasks give): otherwise the sample is judged again, without generating anew.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import zlib
from collections import Counter
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from selfevolve_lab import __version__, profiles
from selfevolve_lab.bench import Bench, load_tasks
from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import JsonlAppender, atomic_write_text, read_jsonl, write_jsonl
from selfevolve_lab.models import Reply
from selfevolve_lab.perf import event_loop, frozen_heap
from selfevolve_lab.schema import Sample, Task, completion_hash


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
    target: str = "package"  # package | library: the paper's "same tasks in NumPy" row asks for the original library
    source: str = "model"  # model | references | original-names
    top_p: float | None = None  # None: the server's default
    stop: tuple[str, ...] = ()
    extra_body: dict[str, Any] | None = None  # fields merged into every request body (a server's own options)
    protocol: str = "default"  # a name in PROTOCOLS: its settings for the fields not given explicitly


# The sampling settings of a published evaluation protocol; sebench: the official SE-Bench evaluation
PROTOCOLS: dict[str, dict[str, Any]] = {"default": {}, "sebench": {"max_tokens": 8192, "temperature": 0.6}}


def apply_protocol(cfg: EvalConfig, given: set[str]) -> EvalConfig:
    """``cfg`` with its protocol's settings, except for the fields in ``given`` (those the user set)."""
    if cfg.protocol not in PROTOCOLS:
        raise UserError(f"protocol {cfg.protocol!r}: not one of {', '.join(PROTOCOLS)}")
    return replace(cfg, **{k: v for k, v in PROTOCOLS[cfg.protocol].items() if k not in given})


def _request_fields(cfg: EvalConfig) -> dict[str, Any]:
    """What the requests carry beyond the messages and the settings every backend takes (servers only)."""
    fields = {"top_p": cfg.top_p, "stop": list(cfg.stop) or None}
    return {**{k: v for k, v in fields.items() if v is not None}, **(cfg.extra_body or {})}


def _judged(reply: Reply) -> tuple[str, str]:
    """The text to judge and its Sample.answer_from: the answer, or the reasoning when the answer is empty
    (a reasoning model cut off while thinking has no answer, and may have written its code while thinking)."""
    if not reply.text.strip() and reply.reasoning:
        return reply.reasoning, "reasoning"
    return reply.text, "completion"


def _reply(record: dict) -> Reply:
    """The reply a samples.jsonl record kept."""
    return Reply(text=record["completion"], reasoning=record.get("reasoning"),
                 finish_reason=record.get("finish_reason"), prompt_tokens=record.get("prompt_tokens"),
                 completion_tokens=record.get("completion_tokens"))


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
    out["truncated"] = sum(s.get("finish_reason") == "length" for s in samples)  # cut off at max_tokens
    kind = {t.id: t.kind for t in tasks}
    for k in sorted(set(kind.values())):
        group = [s for s in samples if kind.get(s["task_id"]) == k]
        out[f"pass@1/{k}"] = sum(s["verdict"]["passed"] for s in group) / max(1, len(group))
    return out


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"selfevolve": __version__}
    for pkg in (profiles.DEFAULT, "torch", "transformers", "aiohttp", "vllm"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def _tasks(bench: Bench, cfg: EvalConfig) -> list[Task]:
    tasks = load_tasks(cfg.tasks_file) if cfg.tasks_file else bench.tasks(cfg.split)
    if not tasks:
        raise UserError(f"{bench.root}: the task set is empty")
    if cfg.tasks_file:
        bench.check_tasks(tasks, cfg.tasks_file)
    return tasks[: cfg.limit] if cfg.limit else tasks


def _seed(cfg: EvalConfig, task_id: str, k: int) -> int:
    return (cfg.seed * 1_000_003 + zlib.crc32(task_id.encode()) * 31 + k) % (2 ** 31)


def _fixed_text(cfg: EvalConfig, bench: Bench, task: Task) -> str | None:
    """The completion of a sample that needs no model (--references, --original-names), else None."""
    if cfg.source == "references":
        return f"```python\n{task.reference}```"
    if cfg.source == "original-names":
        from selfevolve_lab.obfuscate.translate import translate_code

        return "```python\n" + translate_code(task.reference, bench.mapping, library=bench.library,
                                              package=bench.package, reverse=True) + "```"
    return None


def _check_run_dir(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: not a directory; --out is a run directory (new or from an earlier run)")
    for name in ("config.json", "samples.jsonl"):
        if (out / name).exists() and not (out / name).is_file():
            raise UserError(f"{out / name}: not a regular file")


def _resume(samples_path: Path, cfg: EvalConfig, bench: Bench, tasks: list[Task]) -> tuple[list[dict], list[tuple]]:
    """The samples kept from ``samples_path`` and those to judge again as (task, k, reply, prompt hash).

    A sample is kept when its verdict records the hash of its completion, and (for the sources that need
    no model) that completion is still the one its task gives. The file is rewritten without the others,
    and without a second record of one sample (the last one written stands), so it holds one per sample."""
    records = read_jsonl(samples_path, tolerate_torn_tail=True) if samples_path.exists() else []
    by_id = {t.id: t for t in tasks}
    latest = {(r["task_id"], r["sample_idx"]): r for r in records}
    keep, redo = [], []
    for (tid, k), r in latest.items():
        task = by_id.get(tid)
        fixed = _fixed_text(cfg, bench, task) if task is not None else None
        if task is None or (completion_hash(_judged(_reply(r))[0]) == r["verdict"].get("completion_hash")
                            and fixed in (None, r["completion"])):
            keep.append(r)
        elif k < cfg.n_samples:
            redo.append((task, k, _reply(r) if fixed is None else Reply(fixed),
                         r["prompt_hash"] if fixed is None else None))
    if len(keep) != len(records):
        write_jsonl(samples_path, keep)
    return keep, redo


def _identity(conf: dict) -> dict:
    """What makes two configurations the same run: all but --limit."""
    return {k: v for k, v in conf.items() if k != "limit"}


def run_eval(cfg: EvalConfig, out: Path, *, force: bool = False, progress: bool = True, workers: int | None = None,
             concurrency: int = 32, backend: str = "auto", api_key: str | None = None) -> dict:
    """``api_key``: the model server's (None: $OPENAI_API_KEY); not part of the config, which runs keep."""
    out = Path(out)
    _check_run_dir(out)
    if cfg.source == "model" and not cfg.model.startswith(("http://", "https://")) and backend != "openai":
        from selfevolve_lab.models import check_model_dir

        check_model_dir(cfg.model)  # said before OUT is written: a typo leaves nothing behind
    bench = Bench.open(cfg.bench)
    tasks = _tasks(bench, cfg)
    out.mkdir(parents=True, exist_ok=True)
    conf_path = out / "config.json"
    conf = json.loads(json.dumps(asdict(cfg)))  # as config.json holds it (a tuple is a list there)
    # a run from before a field existed has that field's default
    defaults = json.loads(json.dumps(asdict(EvalConfig(bench=cfg.bench, model=cfg.model))))
    samples_path = out / "samples.jsonl"
    # --limit only picks the first tasks: a larger one extends the run. A run with no sample yet (a start that
    # failed: a path that is no model, an unreachable server) holds nothing to protect.
    if conf_path.exists() and _identity({**defaults, **json.loads(conf_path.read_text())}) != _identity(conf) \
            and samples_path.is_file() and samples_path.stat().st_size:
        if not force:
            raise UserError(f"{out} holds a run with another configuration; use --force to start it over")
        samples_path.unlink()
    atomic_write_text(conf_path, json.dumps(conf, indent=1, sort_keys=True) + "\n")
    done, redo = _resume(samples_path, cfg, bench, tasks)
    seen = {(s["task_id"], s["sample_idx"]) for s in done} | {(t.id, k) for t, k, _, _ in redo}
    todo = redo + [(t, k, None, None) for t in tasks for k in range(cfg.n_samples) if (t.id, k) not in seen]
    samples = done  # what samples.jsonl holds, kept in memory rather than read back
    with event_loop() as loop:
        isolation, served = loop.run(_generate_and_judge(cfg, bench, todo, samples_path, progress, workers,
                                                         concurrency, backend, samples, api_key))
    if served is None and (out / "results.json").is_file():  # nothing generated now: the model of the run so far
        served = json.loads((out / "results.json").read_text()).get("served_model")
    ids = {t.id for t in tasks}
    samples = [s for s in samples if s["task_id"] in ids]
    results = {"config": conf, "model": cfg.model, "served_model": served, "bench": str(bench.root),
               "bench_manifest_sha256": hashlib.sha256((bench.root / "manifest.json").read_bytes()).hexdigest(),
               "metrics": metrics(samples, tasks, cfg.n_samples), "versions": _versions(), "isolation": isolation}
    atomic_write_text(out / "results.json", json.dumps(results, indent=1, sort_keys=True) + "\n")
    return results


async def _generate_and_judge(cfg, bench, todo, samples_path, progress, workers, concurrency, backend,
                              samples: list[dict], api_key: str | None) -> tuple[str, str | None]:
    """Appends each judged sample to ``samples_path``, and its task, index, verdict status and finish reason to
    ``samples``. Returns the sandbox isolation and the model's name as served (None: no model was asked)."""
    from tqdm import tqdm

    from selfevolve_lab.evaluate.prompts import Prompter, prompt_hash
    from selfevolve_lab.judge import Judge, start_judge

    prompter = Prompter(bench, cfg.mode, cfg.docs, cfg.prompt_style, doc_style=cfg.doc_style,
                        target=cfg.target)
    model = None
    if any(reply is None and cfg.source == "model" for _, _, reply, _ in todo):
        from selfevolve_lab.models import load_backend

        model = load_backend(cfg.model, backend=backend, concurrency=concurrency, api_key=api_key,
                             extra_body=_request_fields(cfg))
    total = len(samples) + len(todo)
    bar = tqdm(total=total, initial=len(samples), desc="generate+judge", unit="sample", disable=not progress)
    # The sandbox pool takes about 0.4 s to start its workers: it starts in a thread while the first
    # requests go out, and each sample waits for it only once its completion is there.
    starting = asyncio.get_running_loop().run_in_executor(None, partial(start_judge, partial(Judge, target=cfg.target), bench, workers))
    try:
        # The bench, its tasks and docs live for the whole run: keep the collector off them.
        with JsonlAppender(samples_path) as sink, frozen_heap():

            async def one(task: Task, k: int, reply: Reply | None, asked: str | None) -> None:
                """``reply``: a completion to judge again (``asked``: the hash of the prompt it answered)."""
                msgs = prompter.messages(task)
                if reply is None:
                    fixed = _fixed_text(cfg, bench, task)
                    reply = Reply(fixed) if fixed is not None else await model.complete(
                        msgs, temperature=cfg.temperature, max_tokens=cfg.max_tokens, seed=_seed(cfg, task.id, k))
                text, answer_from = _judged(reply)
                judge = await starting
                verdict = await asyncio.wrap_future(judge.submit(task, text, k))  # judging overlaps generation
                verdict.completion_hash = completion_hash(text)
                # no await from here to the bar: records never interleave
                sink.write(Sample(task_id=task.id, sample_idx=k, prompt_hash=asked or prompt_hash(msgs),
                                  completion=reply.text, verdict=verdict, reasoning=reply.reasoning,
                                  finish_reason=reply.finish_reason, prompt_tokens=reply.prompt_tokens,
                                  completion_tokens=reply.completion_tokens, answer_from=answer_from))
                samples.append({"task_id": task.id, "sample_idx": k, "finish_reason": reply.finish_reason,
                                "verdict": {"passed": verdict.passed, "status": verdict.status}})
                bar.update(1)

            try:
                await asyncio.gather(*(one(*item) for item in todo))
            finally:
                bar.close()
                if model is not None:
                    await model.close()
            return (await starting).isolation, None if model is None else model.name
    finally:
        await _close_when_started(starting)


async def _close_when_started(starting: asyncio.Future) -> None:
    try:
        judge = await starting
    except Exception:  # it never started; whoever waited for it has its error
        return
    judge.close()


def evaluate_model(bench: str | Path, model: str, *, out: str | Path, force: bool = False, progress: bool = False,
                   api_key: str | None = None, **config: Any) -> dict:
    """Evaluate ``model`` (a local path or an OpenAI-compatible URL) on ``bench``, as `selfevolve eval` does.

    ``config`` holds `EvalConfig`'s other fields (mode, docs, split, n_samples, temperature, limit, protocol,
    ...). Writes ``out`` (samples.jsonl, results.json; resumable) and returns results.json's content.
    """
    cfg = apply_protocol(EvalConfig(bench=str(bench), model=str(model), **config), set(config))
    return run_eval(cfg, Path(out), force=force, progress=progress, api_key=api_key)
