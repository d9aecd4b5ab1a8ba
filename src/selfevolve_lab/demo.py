"""`selfevolve demo`: the embedded default job that `make demo` runs.

Build the NumPy pseudo-novel package (leak-linted), generate and validate its task sets, and check the
bench's validity: the tasks' reference solutions pass through the judge as written for the package and are
rejected when translated back to NumPy's names, so the bench measures knowledge of the package and nothing
else. Then the micro-world's quick experiments from the committed base (or, with ``--pretrain``, a base
pretrained here): every SE-Bench recipe with the three findings, and ExIt's grpo and exit curves. Every stage
is cached under OUT, so a second run resumes.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import typer

from selfevolve_lab import profiles


def _base_ready(base: Path) -> bool:
    """A base pretrained by an earlier demo whose preconditions all held."""
    import json

    try:
        pre = json.loads((base / "preconditions.json").read_text())
        return (base / "config.json").is_file() and bool(pre) and all(v["ok"] for v in pre.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Where the bench and the report go."),
    seed: int = typer.Option(42, "--seed", min=0, help="Name seed of the bench."),
    rebuild: bool = typer.Option(False, "--rebuild", help="Rebuild the bench even if one is there."),
    micro: bool = typer.Option(True, "--micro/--no-micro", help="Then run the micro-world's quick experiments "
                                                                "(every recipe, one seed; ExIt's grpo and exit) from "
                                                                "the committed base."),
    pretrain: bool = typer.Option(False, "--pretrain", help="Pretrain the micro base from scratch into OUT/base "
                                                            "with the committed base's recipe (about 35 min on 2 "
                                                            "cores) and use it instead of the committed one."),
) -> None:
    """Build the NumPy bench, generate its tasks, check the bench's validity (references vs originals), then
    run the micro-world's quick experiment: every SE-Bench recipe from the committed base, one seed, with the
    three findings (`selfevolve micro run` (3 seeds by default) is the full experiment), and ExIt's quick one: grpo and
    exit trained from the base, K=16 self-improvement curves (`selfevolve micro exit --seeds 3` is the full
    one). Finished stages are reused."""
    from rich.console import Console
    from rich.table import Table

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.jsonl import atomic_dir
    from selfevolve_lab.judge import Judge
    from selfevolve_lab.obfuscate.build import build_bench
    from selfevolve_lab.obfuscate.translate import translate_code
    from selfevolve_lab.tasks.generate import build_tasks

    console = Console()
    bench_dir = out / "bench"
    t0 = time.perf_counter()
    built = rebuild or not (bench_dir / "manifest.json").exists()
    if built:
        console.print(f"[bold]1/5[/] building the NumPy pseudo-novel package into {bench_dir} ...")
        bench = build_bench(profiles.DEFAULT, bench_dir, seed=seed, name="zwc", progress=True, force=True)
    else:
        bench = Bench.open(bench_dir)
        console.print(f"[bold]1/5[/] using the bench in {bench_dir} (--rebuild to rebuild)")
    t_build = time.perf_counter() - t0
    split_names = ("train", "test_single", "test_multi")
    if built or not all((bench.root / "tasks" / f"{s}.jsonl").is_file() for s in split_names):
        console.print("[bold]2/5[/] generating and validating task sets ...")
        splits, _ = build_tasks(bench, 0, progress=True)
        with atomic_dir(bench.root / "tasks") as tmp:
            for split, tasks in splits.items():
                (tmp / f"{split}.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in tasks))
    else:
        console.print(f"[bold]2/5[/] using the task sets in {bench.root / 'tasks'} (--rebuild to regenerate)")
        splits = {s: bench.tasks(s) for s in split_names}
    console.print("[bold]3/5[/] scoring the references, as written and with the original library's names ...")
    tests = splits["test_single"] + splits["test_multi"]
    with Judge(bench) as judge:
        failed: dict[str, str] = {}  # a reference that fails is the judge's defect or the machine's: say which
        as_written = Counter()
        for v in judge.judge_many((t, t.reference, 0) for t in tests):
            as_written[v.status] += 1
            if not v.passed:
                failed.setdefault(v.status, f"{v.task_id}: {v.detail}")
        originals = [translate_code(t.reference, bench.mapping, library=bench.library, package=bench.package, reverse=True)
                     for t in tests]
        original = Counter(v.status for v in judge.judge_many((t, c, 0) for t, c in zip(tests, originals, strict=True)))
        isolation = judge.isolation
    n = max(len(tests), 1)
    counts = bench.manifest.counts
    table = Table(title=f"SE-Bench on NumPy {bench.manifest.library_version}: package '{bench.package}' (seed {seed})")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("renamed APIs (functions / classes / methods+properties)",
                  f"{counts.get('function', 0)} / {counts.get('class', 0)} / "
                  f"{counts.get('method', 0) + counts.get('property', 0)}")
    table.add_row("build time (incl. leak lint: 0 findings)", f"{t_build:.1f} s")
    table.add_row("tasks: train / test_single / test_multi",
                  f"{len(splits['train'])} / {len(splits['test_single'])} / {len(splits['test_multi'])}")
    functions = {d.novel for d in bench.docs if d.kind == "function"}
    covered = functions & {a for t in splits["test_single"] for a in t.apis}
    table.add_row("function APIs with a test_single task", f"{len(covered)} / {len(functions)}")
    table.add_row("references pass (novel package)", f"{100 * as_written['passed'] / n:.1f}%")
    table.add_row("same solutions with NumPy's names pass", f"{100 * original['passed'] / n:.1f}%")
    table.add_row("  ... rejected as uses_original_library", f"{100 * original['uses_original_library'] / n:.1f}%")
    table.add_row("sandbox isolation", isolation)
    table.add_row("total time", f"{time.perf_counter() - t0:.1f} s")
    console.print(table)
    for status, first in failed.items():
        console.print(f"[red]references that did not pass: {as_written[status]} {status}[/] (first: {first})",
                      markup=True, highlight=False)
    console.print(f"bench: {bench.root}   tasks: {bench.root / 'tasks'}")
    if not micro:
        return
    from selfevolve_lab.micro import exit_world, experiment
    from selfevolve_lab.micro.base import DEFAULT_BASE
    from selfevolve_lab.micro.base import pretrain as pretrain_base
    from selfevolve_lab.micro.pretrain import PretrainConfig

    base = out / "base" if pretrain else DEFAULT_BASE
    if pretrain and _base_ready(base):
        console.print(f"[bold]3b[/] using the base pretrained in {base} (delete it to pretrain again)")
    elif pretrain:
        console.print(f"[bold]3b[/] pretraining the micro base into {base} (the committed recipe) ...")
        pretrain_base(bench, base, PretrainConfig(threads=1), log=console.print)  # exit 1 when a precondition fails
    console.print("[bold]4/5[/] the micro-world's quick experiment (every recipe, one seed) ...")
    experiment.Experiment(experiment.MicroRunConfig(bench=str(bench.root), base=str(base), out=str(out / "micro"),
                                                    seeds=1, quick=True), log=lambda m: console.print(f"[dim]{m}[/]")).run()
    typer.echo((out / "micro" / "report.md").read_text())
    console.print("[bold]5/5[/] ExIt in the micro-world, quick (grpo and exit, one seed, K=16) ...")
    exit_world.ExitWorld(exit_world.MicroExitConfig(bench=str(bench.root), base=str(base), out=str(out / "micro-exit"),
                                                    seeds=1, quick=True), log=lambda m: console.print(f"[dim]{m}[/]")).run()
    typer.echo((out / "micro-exit" / "report.md").read_text())
