"""`selfevolve micro pretrain`: the micro-world's base model, built and checked against its preconditions."""

from __future__ import annotations

from pathlib import Path

import typer

micro_app = typer.Typer(help="The CPU micro-world: a base model trained in minutes, for the whole experiment.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(micro_app, name="micro")


@micro_app.command("pretrain")
def pretrain_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory with tasks."),
    out: Path = typer.Option(..., "--out", help="Where the base model directory goes."),
    apis: int = typer.Option(48, "--apis", help="How many function APIs the subset has."),
    subset_seed: int = typer.Option(0, "--subset-seed", help="Seed of the subset's draw."),
    seed: int = typer.Option(0, "--seed", help="Seed of the corpus, the initialisation and the batches."),
    steps: int = typer.Option(None, "--steps", help="Training steps (default: the committed base's recipe)."),
    hidden: int = typer.Option(None, "--hidden", help="Hidden size."),
    layers: int = typer.Option(None, "--layers", help="Decoder layers."),
    examples: int = typer.Option(None, "--examples", help="Corpus size, in examples."),
    draft_seeds: str = typer.Option(None, "--draft-seeds", help="Task-generator seeds of the corpus prompts, "
                                                                "comma-separated (default 101,102,103)."),
    threads: int = typer.Option(2, "--threads", help="CPU threads for training."),
    check: bool = typer.Option(True, "--check/--no-check", help="Measure the preconditions after training."),
    force: bool = typer.Option(False, "--force", help="Overwrite a base already in --out."),
) -> None:
    """Pretrain the micro-world's base from scratch on three corpora (the original library's names, doc reading
    on other renamings, writing and revising tasks), save it as a HF model directory with its subset's tasks,
    and measure the preconditions with the real eval on the subset's test_single. Exit 1 when one fails."""
    from selfevolve.bench import Bench
    from selfevolve.errors import UserError
    from selfevolve.micro.base import build_base, measure_preconditions, write_card
    from selfevolve.micro.pretrain import PretrainConfig

    b = Bench.open(bench)
    for split in ("train", "test_single"):
        b.tasks(split)  # a bench without tasks is bad input, said before anything heavy starts
    if apis < 1 or steps is not None and steps < 1:
        raise UserError("--apis and --steps must be at least 1")
    if (out / "config.json").exists() and not force:
        raise UserError(f"{out} already holds a model; use --force to overwrite it")
    overrides = {k: v for k, v in {"steps": steps, "hidden": hidden, "layers": layers, "examples": examples}.items()
                 if v is not None}
    if draft_seeds is not None:
        try:
            overrides["draft_seeds"] = tuple(int(x) for x in draft_seeds.split(","))
        except ValueError:
            raise UserError(f"--draft-seeds {draft_seeds!r}: expected comma-separated integers") from None
    cfg = PretrainConfig(apis=apis, subset_seed=subset_seed, seed=seed, threads=threads, **overrides)
    info = build_base(b, out, cfg, log=lambda m: typer.echo(m, err=True))
    typer.echo(f"{out}: base trained in {info['timings']['train_s']:.0f} s ({info['tokens_per_s']} tokens/s); "
               f"model sha256 {info['sha256'][:16]}")
    if check:
        pre = measure_preconditions(b, out, log=lambda m: typer.echo(m, err=True))
    write_card(out)
    if check:
        _report(pre, out)


@micro_app.command("check")
def check_cmd(
    bench: Path = typer.Option(..., "--bench", help="The bench the base was built on."),
    base: Path = typer.Option(..., "--base", help="A base directory written by `micro pretrain`."),
) -> None:
    """Measure a base's preconditions on its subset's test_single: original library >= 80%, open book
    (summary docs) >= 60%, closed book <= 2%. Exit 1 when one fails."""
    from selfevolve.bench import Bench
    from selfevolve.micro.base import measure_preconditions, open_base, write_card

    b = Bench.open(bench)
    open_base(base)
    pre = measure_preconditions(b, base, log=lambda m: typer.echo(m, err=True))
    write_card(base)
    _report(pre, base)


def _report(pre: dict, base: Path) -> None:
    typer.echo(" ".join(f"{k} {100 * v['value']:.1f}% ({'ok' if v['ok'] else 'FAILS: needs ' + v['needs']})"
                        for k, v in pre.items()))
    failed = [k for k, v in pre.items() if not v["ok"]]
    if failed:
        typer.echo(f"error: preconditions not met: {', '.join(failed)} (see {base}/preconditions.json)", err=True)
        raise typer.Exit(1)


DEFAULT_BASE = Path(__file__).resolve().parents[3] / "micro-base"  # the committed base, in a source checkout


@micro_app.command("run")
def run_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory (the base's subset becomes its tasks)."),
    base: Path = typer.Option(DEFAULT_BASE, "--base", help="The micro base (`micro pretrain`; default: the committed one)."),
    out: Path = typer.Option(..., "--out", help="Where every stage, results.json, report.md and the plots go."),
    seeds: int = typer.Option(3, "--seeds", help="Training seeds per recipe (the full experiment: 5)."),
    quick: bool = typer.Option(False, "--quick", help="Smaller training budgets and no RL-Gap ablations."),
    recipes: str = typer.Option("", "--recipes", help="Comma-separated subset of the recipes (default: all)."),
    workers: int = typer.Option(0, "--workers", help="Sandbox workers (0: one per core, plus one)."),
    jobs: int = typer.Option(1, "--jobs", help="Seeds trained at once, each in its own process (same numbers)."),
) -> None:
    """Every SE-Bench recipe from the micro base (base, Open/Closed-SFT, Open-RL, Closed-RL official and TIS,
    Closed-SFT->RL, self-play+SFT/RL, and in the full run the RL-Gap ablations), each scored closed- and
    open-book on the subset's test_single and test_multi over the seeds; the three findings with 95%
    intervals. Finished stages are reused, so a second run resumes."""
    from rich.console import Console
    from rich.table import Table

    from selfevolve.micro.experiment import LABELS, Experiment, RunConfig

    cfg = RunConfig(bench=str(bench), base=str(base), out=str(out), seeds=seeds, quick=quick,
                    recipes=[r.strip() for r in recipes.split(",") if r.strip()], workers=workers or None,
                    jobs=jobs)
    console = Console()
    results = Experiment(cfg, log=lambda m: console.print(f"[dim]{m}[/]")).run()
    table = Table(title=f"pass@1 on test_single (%), closed and open book, {seeds} seed(s)")
    for col in ("recipe", "closed", "open"):
        table.add_column(col)
    for r, by_mode in results["recipes"].items():
        table.add_row(LABELS.get(r, r), f"{by_mode['closed']['test_single']['mean']:.1f}",
                      f"{by_mode['open']['test_single']['mean']:.1f}")
    console.print(table)
    for name, f in results["findings"].items():
        console.print(f"{name}: {f['difference']:+.1f} [{f['ci95'][0]:+.1f}, {f['ci95'][1]:+.1f}] -> {f['verdict']}")
    console.print(f"report: {Path(out) / 'report.md'}")


@micro_app.command("exit")
def exit_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory (the base's subset becomes its tasks)."),
    base: Path = typer.Option(DEFAULT_BASE, "--base", help="The micro base (`micro pretrain`; default: the committed one)."),
    out: Path = typer.Option(..., "--out", help="Where every stage, results.json, report.md and curves.png go."),
    seeds: int = typer.Option(3, "--seeds", help="Training seeds per variant."),
    quick: bool = typer.Option(False, "--quick", help="Short training, 16 held-out tasks, grpo and exit only."),
    variants: str = typer.Option("", "--variants", help="Comma-separated ExIt variants (default: grpo,exit with "
                                                        "--quick, all five otherwise)."),
    workers: int = typer.Option(0, "--workers", help="Sandbox workers (0: one per core, plus one)."),
    threads: int = typer.Option(1, "--threads", help="torch threads."),
    embedder: str = typer.Option("minilm", "--embedder", help="The diversity bonus's embedder: minilm (the "
                                 "paper's all-MiniLM-L6-v2), static (MiniLM's token embeddings, ~100x cheaper) or "
                                 "hash."),
) -> None:
    """ExIt in the micro-world: the variants of the paper's Table 1 trained from the micro base with `exit train`
    (sebench domain, open book), then K=16 self-improvement steps with `exit iterate` on the held-out tasks for
    each trained model and the base, over the seeds; the curves with 95% intervals and the mean training depth,
    and whether exit improves beyond that depth and beats grpo at K=16. Finished stages are reused."""
    from rich.console import Console

    from selfevolve.errors import UserError
    from selfevolve.micro.exit_world import ExitConfig, ExitWorld, sentence

    if threads < 1:
        raise UserError("--threads must be at least 1")
    cfg = ExitConfig(embedder=embedder, bench=str(bench), base=str(base), out=str(out), seeds=seeds, quick=quick,
                     variants=[v.strip() for v in variants.split(",") if v.strip()], workers=workers or None,
                     threads=threads)
    console = Console()
    results = ExitWorld(cfg, log=lambda m: console.print(f"[dim]{m}[/]")).run()
    for name, r in results["variants"].items():
        first, last = r["curve"][0], r["curve"][-1]
        console.print(f"{name}: step 0 {first['mean']:.3f} -> step {last['step']} {last['mean']:.3f} "
                      f"[{last['ci95'][0]:.3f}, {last['ci95'][1]:.3f}]")
    for name, s in results["statement"].items():
        console.print(sentence(name, s))
    console.print(f"report: {Path(out) / 'report.md'}")
