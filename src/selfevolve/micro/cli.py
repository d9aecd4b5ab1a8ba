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
