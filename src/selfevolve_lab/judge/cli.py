"""`selfevolve judge`: score a completions file against a bench's tasks, resumably."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from selfevolve_lab.errors import UserError

if TYPE_CHECKING:
    from selfevolve_lab.schema import Verdict


def register(app: typer.Typer) -> None:
    app.command("judge")(judge_cmd)


def load_completions(path: Path, task_ids: set[str]) -> list[tuple[str, str, int]]:
    """(task_id, completion, sample_idx) per record. Follows human-eval: sample_idx counts per task when absent.
    A (task_id, sample_idx) pair given twice, or a negative index, is a UserError naming the line."""
    from selfevolve_lab.jsonl import iter_numbered

    seen: Counter[str] = Counter()
    first: dict[tuple[str, int], int] = {}
    out = []
    for lineno, rec in iter_numbered(path):
        if not isinstance(rec, dict) or not isinstance(rec.get("task_id"), str) or not isinstance(
                rec.get("completion"), str):
            raise UserError(f"{path}:{lineno}: a completion needs string fields 'task_id' and 'completion'")
        tid = rec["task_id"]
        if tid not in task_ids:
            raise UserError(f"{path}:{lineno}: completion for unknown task {tid!r}")
        idx = rec.get("sample_idx", seen[tid])
        if not isinstance(idx, int) or isinstance(idx, bool) or idx < 0:
            raise UserError(f"{path}:{lineno}: sample_idx must be a non-negative integer, got {idx!r}"[:300])
        if (tid, idx) in first:
            raise UserError(f"{path}:{lineno}: task {tid!r} sample_idx {idx} again (first on line {first[tid, idx]})")
        first[tid, idx] = lineno
        seen[tid] += 1
        out.append((tid, rec["completion"], idx))
    return out


def check_out_path(out: Path) -> None:
    """--out is appended to and read back on resume: it must be a regular file or a path still to create
    (a device such as /dev/full or /dev/zero would be read without end)."""
    if out.exists() and not out.is_file():
        raise UserError(f"{out}: not a regular file; --out must be a file (new or from an earlier run)")


def resumable(out: Path, hashes: dict[tuple[str, int], str]) -> dict[tuple[str, int], Verdict]:
    """The verdicts in ``out`` still valid for the completions whose hashes are ``hashes``, by
    (task_id, sample_idx). A verdict for a completion that changed since (or written before verdicts
    recorded their completion's hash) is stale: it is dropped, and ``out`` is rewritten without it, so
    the file keeps one verdict per sample."""
    from selfevolve_lab.jsonl import iter_jsonl, write_jsonl
    from selfevolve_lab.schema import Verdict

    if not out.exists():
        return {}
    done: dict[tuple[str, int], Verdict] = {}
    stale = 0
    for v in iter_jsonl(out, Verdict, tolerate_torn_tail=True):
        key = (v.task_id, v.sample_idx)
        stale += key in done  # an earlier verdict of the same sample: the last one written stands
        if key in hashes and v.completion_hash != hashes[key]:
            done.pop(key, None)
            stale += 1
        else:
            done[key] = v
    if stale:
        write_jsonl(out, done.values())
    return done


def judge_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory (from `selfevolve build`)."),
    tasks: Path = typer.Option(..., "--tasks", help="Tasks JSONL (e.g. BENCH/tasks/test_single.jsonl)."),
    completions: Path = typer.Option(..., "--completions", help='JSONL of {"task_id", "completion"[, "sample_idx"]}.'),
    out: Path = typer.Option(..., "--out", help="Verdicts JSONL; appended as verdicts finish, so re-running resumes."),
    workers: int = typer.Option(0, "--workers", min=0, help="Sandbox workers (0: one per core, plus one)."),
) -> None:
    """Judge completions in the sandbox: extraction, usage check, run, compare.

    Each verdict is appended to --out as soon as it is known, with a hash of the completion it judged.
    Re-running the same command skips the (task_id, sample_idx) pairs already in --out whose completion
    is unchanged, so an interrupted run resumes where it stopped; a changed completion is judged again.
    """
    from rich.console import Console
    from tqdm import tqdm

    from selfevolve_lab.bench import Bench, load_tasks
    from selfevolve_lab.jsonl import JsonlAppender
    from selfevolve_lab.judge import Judge, start_judge
    from selfevolve_lab.schema import completion_hash

    check_out_path(out)
    b = Bench.open(bench)
    task_list = load_tasks(tasks)
    b.check_tasks(task_list, tasks)
    by_id = {t.id: t for t in task_list}
    items = load_completions(completions, set(by_id))
    hashes = {(t, i): completion_hash(c) for t, c, i in items}
    done = resumable(out, hashes)
    todo = [(by_id[t], c, i) for t, c, i in items if (t, i) not in done]
    console = Console(stderr=True)
    if done:
        console.print(f"resuming: {len(done)} verdicts already in {out}, {len(todo)} to go")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.touch()
    except OSError as e:
        raise UserError(f"cannot write {out}: {e.strerror}") from None
    with start_judge(Judge, b, workers or None) as judge:
        if judge.isolation == "none":
            console.print("[bold red]WARNING: sandbox isolation is 'none'[/] (install bubblewrap)")
        with tqdm(total=len(todo), desc="judging", unit="sample", disable=not todo) as bar, \
                JsonlAppender(out) as sink:
            for v in judge.judge_many(todo):
                v.completion_hash = hashes[v.task_id, v.sample_idx]
                sink.write(v)
                done[(v.task_id, v.sample_idx)] = v
                bar.update(1)
        isolation = judge.isolation
    _summary([done[(t, i)] for t, _, i in items if (t, i) in done], isolation)


def _summary(verdicts: list, isolation: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from selfevolve_lab.schema import STATUSES

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
