"""CLI commands of this stage: `selfevolve tasks generate|stats|import-sebench|export`."""

from __future__ import annotations

from pathlib import Path

import typer

tasks_app = typer.Typer(help="Task sets: generate, inspect, import and export.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the top-level app."""
    app.add_typer(tasks_app, name="tasks")


@tasks_app.command("generate")
def generate_cmd(bench_dir: Path = typer.Argument(..., help="bench directory"),
                 seed: int = typer.Option(0, help="generation seed"),
                 limit: int | None = typer.Option(None, help="only the first N function APIs"),
                 llm: str | None = typer.Option(None, "--llm", help="OpenAI-compatible base URL: LLM pipeline"),
                 model: str = typer.Option("", "--model", help="problem-writing model (with --llm)"),
                 models: str = typer.Option("", "--models", help="comma-separated solver models (with --llm)"),
                 split: str = typer.Option("train", "--split", help="split the LLM tasks go to")) -> None:
    """Generate and validate train/test_single/test_multi into DIR/tasks/ (or, with --llm, one split)."""
    import json
    import sys

    from selfevolve.bench import Bench
    from selfevolve.tasks.build import generate_all, write_split

    bench = Bench.open(bench_dir)
    if llm:
        from selfevolve.errors import UserError
        from selfevolve.judge import Judge
        from selfevolve.tasks.generate import function_apis
        from selfevolve.tasks.llm import generate_llm

        if not model:
            raise UserError("--llm needs --model")
        solvers = [m for m in models.split(",") if m] or [model]
        apis = function_apis(bench)[:limit] if limit else function_apis(bench)
        with Judge(bench) as judge:
            tasks, dropped = generate_llm(bench, llm, model, solvers, apis, judge, seed=seed)
        write_split(bench, split, tasks)
        typer.echo(json.dumps({"kept": len(tasks), "dropped": dropped}))
        return
    report = generate_all(bench, seed=seed, limit=limit, progress=sys.stderr.isatty())
    typer.echo(json.dumps(report.as_dict(), indent=2))


@tasks_app.command("stats")
def stats_cmd(bench_dir: Path = typer.Argument(..., help="bench directory")) -> None:
    """Counts per split: tasks, kinds, API coverage of function APIs, tests per task."""
    import sys

    from rich.console import Console
    from rich.table import Table

    from selfevolve.bench import Bench
    from selfevolve.tasks.stats import stats

    s = stats(Bench.open(bench_dir))
    table = Table(title=f"tasks ({s['function_apis']} function APIs)")
    for col in ("split", "tasks", "kinds", "APIs covered", "coverage %", "min/API", "APIs/task", "tests/task"):
        table.add_column(col)
    for split, d in s["splits"].items():
        table.add_row(split, str(d["tasks"]), str(d["kinds"]), str(d["apis_covered"]),
                      str(d["function_coverage_pct"]), str(d["min_tasks_per_covered_api"]),
                      str(d["apis_per_task"]), str(d["tests_per_task_mean"]))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@tasks_app.command("import-sebench")
def import_cmd(file: Path = typer.Argument(..., help="official SE-Bench JSONL"),
               bench_dir: Path = typer.Option(..., "--bench", help="bench directory"),
               out: Path = typer.Option(..., "--out", help="output tasks JSONL")) -> None:
    """Convert official records to tasks (references translated to the novel package)."""
    from selfevolve.bench import Bench
    from selfevolve.jsonl import atomic_write_text
    from selfevolve.tasks.official import import_records

    tasks = import_records(file, Bench.open(bench_dir))
    atomic_write_text(out, "".join(t.model_dump_json() + "\n" for t in tasks))
    typer.echo(f"imported {len(tasks)} tasks -> {out}")


@tasks_app.command("export")
def export_cmd(bench_dir: Path = typer.Argument(..., help="bench directory"),
               split: str = typer.Option(..., help="train|test_single|test_multi"),
               fmt: str = typer.Option("sebench", "--format", help="sebench|hf"),
               out: Path = typer.Option(..., "--out")) -> None:
    """Export a split as official JSONL records or a parquet dataset."""
    from selfevolve.bench import Bench
    from selfevolve.tasks.export import export

    tasks = Bench.open(bench_dir).tasks(split)
    export(tasks, fmt, out)
    typer.echo(f"exported {len(tasks)} tasks -> {out}")
