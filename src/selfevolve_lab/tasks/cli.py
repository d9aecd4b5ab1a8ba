"""`selfevolve tasks ...`: generate, stats, import-sebench, export."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from selfevolve_lab.bench import SPLITS

tasks_app = typer.Typer(help="Task sets: generate, inspect, import and export.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tasks_app, name="tasks")


@tasks_app.command("generate")
def generate_cmd(
    bench: Path = typer.Argument(..., help="Bench directory (from `selfevolve build`)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed of inputs, templates and compositions."),
    limit: int = typer.Option(0, "--limit", min=0, help="Keep only the first N drafts (quick runs)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Sandbox workers (0: one per core, plus one)."),
    llm: str = typer.Option(None, "--llm", help="OpenAI-compatible base URL: use the LLM pipeline instead."),
    model: str = typer.Option("", "--model", help="With --llm: the model that writes problems."),
    models: str = typer.Option("", "--models", help="With --llm: comma-separated solver models (default: --model)."),
    split: Literal[SPLITS] = typer.Option("train", "--split", help="With --llm: the split the LLM tasks go to."),
    force: bool = typer.Option(False, "--force", help="Replace the task sets BENCH already has."),
) -> None:
    """Generate train / test_single / test_multi, each task validated in the sandbox and the judge.

    Writes BENCH/tasks/{train,test_single,test_multi}.jsonl and report.json (what was dropped and why),
    all at once: an interrupted run leaves the previous tasks in place.
    """
    import json

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.jsonl import atomic_dir, write_jsonl
    from selfevolve_lab.tasks.generate import build_tasks

    b = Bench.open(bench)
    # what this run would replace: every split (templates), or the one split the LLM tasks go to
    existing = [p.name for p in ([b.tasks_path(split)] if llm else [b.tasks_path(s) for s in SPLITS]) if p.exists()]
    if existing and not force:  # checked before minutes of generation
        raise UserError(f"{b.root / 'tasks'} holds {', '.join(existing)}; use --force to generate them again")
    if llm:  # the paper's pipeline: a model writes problems, --models solve them, agreed tests are kept
        from selfevolve_lab.judge import Judge
        from selfevolve_lab.tasks.llm import generate_llm

        if not model:
            raise UserError("--llm needs --model")
        solvers = [m for m in models.split(",") if m] or [model]
        apis = [d.original for d in b.docs if d.kind == "function"]
        with Judge(b, workers=workers or None) as judge:
            tasks, dropped = generate_llm(b, llm, model, solvers, apis[:limit] if limit else apis, judge, seed=seed)
        path = b.tasks_path(split)
        path.parent.mkdir(exist_ok=True)
        write_jsonl(path, tasks)
        typer.echo(json.dumps({"kept": len(tasks), "dropped": dropped}))
        return
    splits, report = build_tasks(b, seed, limit=limit or None, workers=workers or None, progress=True)
    with atomic_dir(b.root / "tasks") as tmp:
        for split, tasks in splits.items():
            (tmp / f"{split}.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in tasks))
        (tmp / "report.json").write_text(json.dumps(report.as_dict(), indent=1, sort_keys=True) + "\n")
    typer.echo(f"generated in {report.seconds:.1f}s: " + ", ".join(f"{k} {v}" for k, v in report.kept.items()))
    if report.dropped:
        typer.echo("dropped: " + "; ".join(f"{v} {k}" for k, v in report.dropped.items()))
    typer.echo(f"APIs without a task: {len(report.uncovered)} (see {b.root / 'tasks' / 'report.json'})")


@tasks_app.command("stats")
def stats_cmd(bench: Path = typer.Argument(..., help="Bench directory with tasks.")) -> None:
    """Counts per split and kind, API coverage, tests per task."""
    from collections import Counter

    from selfevolve_lab.bench import SPLITS, Bench

    b = Bench.open(bench)
    functions = {d.novel for d in b.docs if d.kind == "function"}
    for split in SPLITS:
        tasks = b.tasks(split)
        apis = Counter(a for t in tasks for a in t.apis)
        kinds = Counter(t.kind for t in tasks)
        sizes = Counter(len(t.apis) for t in tasks)
        tests = [len(t.tests) for t in tasks] or [0]
        cov = len(set(apis) & functions) / max(len(functions), 1)
        typer.echo(f"{split:<12} {len(tasks):5d} tasks  kinds {dict(kinds)}  APIs per task {dict(sorted(sizes.items()))}  "
                   f"tests per task {min(tests)}-{max(tests)}  function APIs covered {len(set(apis) & functions)}/"
                   f"{len(functions)} ({100 * cov:.1f}%)  min tasks per covered API {min(apis.values(), default=0)}")


@tasks_app.command("import-sebench")
def import_cmd(
    file: str = typer.Argument(..., help="Official SE-Bench records: a JSONL or parquet file, a directory "
                                       "(`save_to_disk`, or holding such files), or online a Hub dataset id "
                                       "(jintailin/SE-Bench)."),
    bench: Path = typer.Option(..., "--bench", help="A bench built with the official mapping (--mapping)."),
    out: Path = typer.Option(..., "--out", help="Tasks JSONL to write."),
    config: Literal["train", "single_test", "multiple_test"] = typer.Option("single_test", "--config",
                               help="The dataset's config (train, single_test, multiple_test): picks the Hub "
                                    "config, or the file of that name in a directory."),
    split: str = typer.Option("train", "--split", help="The split of a Hub or saved dataset (the official "
                                                       "configs hold theirs in 'train')."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out."),
) -> None:
    """Convert official SE-Bench records, as they ship, into Tasks (ground truth from right_exe_result).

    Repeated official ids get their occurrence number (sebench/7, sebench/7-2); bare submodule names
    (cholesky) are found in the mapping's section. A record that cannot be read is skipped and reported
    with its line number; the rest are imported.
    """
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.jsonl import check_out, write_jsonl
    from selfevolve_lab.tasks.formats import Skipped, import_sebench

    check_out(out, force=force)
    skipped: list[Skipped] = []
    tasks = import_sebench(file, Bench.open(bench), skipped, config=config, split=split)
    for s in skipped:
        typer.echo(f"{file}:{s.line}: skipped: {s.reason}", err=True)
    if not tasks:
        raise UserError(f"{file}: no record could be imported ({len(skipped)} skipped)")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(out, tasks)
    typer.echo(f"imported {len(tasks)} tasks into {out}" + (f"; skipped {len(skipped)} record(s)" if skipped else ""))


@tasks_app.command("export")
def export_cmd(
    bench: Path = typer.Argument(..., help="Bench directory with tasks."),
    split: Literal[SPLITS] = typer.Option(None, "--split", help="The task set to write (sebench: default "
                                          "test_single; hf: default every split the bench has)."),
    fmt: Literal["sebench", "hf"] = typer.Option("sebench", "--format", help="sebench: the official JSONL, to a "
                                                  "file; hf: a Hugging Face dataset directory with its card and bench."),
    out: Path = typer.Option(..., "--out", help="The JSONL file (sebench) or dataset directory (hf) to write."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out."),
    push_to_hub: str = typer.Option(None, "--push-to-hub", metavar="REPO",
                                    help="hf: then upload the directory to this Hub dataset repo (needs HF_TOKEN "
                                         "or `hf auth login`)."),
    private: bool = typer.Option(False, "--private", help="With --push-to-hub: create the repo private."),
) -> None:
    """Write a split in the official SE-Bench shape, or the bench's task sets as a Hugging Face dataset.

    --format hf writes OUT/README.md (the dataset card), OUT/data/SPLIT.parquet (`datasets.load_dataset(OUT)`
    loads every split) and OUT/bench/ (the package, docs, mapping and manifest the judge needs).
    """
    from selfevolve_lab.bench import SPLITS, Bench
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.jsonl import check_out, write_jsonl
    from selfevolve_lab.tasks.formats import export_sebench

    if push_to_hub and fmt != "hf":
        raise UserError("--push-to-hub needs --format hf")
    if fmt == "hf":
        from selfevolve_lab.integrations import hub

        token = hub.hub_token() if push_to_hub else None  # refused before any work
        b = Bench.open(bench)
        counts = hub.write_dataset(b, out, [split] if split else list(SPLITS), force=force)
        typer.echo(f"wrote {', '.join(f'{s} {n}' for s, n in counts.items())} tasks to {out}")
        typer.echo(f"note: {out}/bench holds the name mapping and the original docs (the judge needs them): once "
                   f"published, models trained on the Hub can learn the package, so its closed-book tasks stop "
                   f"testing what a model learned from your training", err=True)
        if push_to_hub and token:
            typer.echo(f"pushed to {hub.push(out, push_to_hub, token, private=private)}")
        return
    check_out(out, force=force)
    b = Bench.open(bench)
    tasks = b.tasks(split or "test_single")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl(out, export_sebench(tasks, b))
    typer.echo(f"wrote {len(tasks)} tasks to {out}")
