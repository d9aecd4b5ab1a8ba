"""`selfevolve micro`: the micro-world's base model (pretrain, check) and its two experiments (run, exit). Each
option's default is its config's field (`PretrainConfig`, `MicroRunConfig`, `MicroExitConfig`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from selfevolve_lab.errors import UserError
from selfevolve_lab.exit.diversity import EMBEDDERS
from selfevolve_lab.micro.base import DEFAULT_BASE
from selfevolve_lab.micro.exit_world import MicroExitConfig as E
from selfevolve_lab.micro.exit_world import MicroExitScale as ES
from selfevolve_lab.micro.experiment import MicroRunConfig as R
from selfevolve_lab.micro.experiment import MicroRunScale as RS
from selfevolve_lab.micro.pretrain import PretrainConfig as P

micro_app = typer.Typer(help="The CPU micro-world: a base model trained in minutes, for the whole experiment.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from selfevolve_lab.configfile import enable

    enable(micro_app, "micro")
    app.add_typer(micro_app, name="micro")


@micro_app.command("pretrain")
def pretrain_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory with tasks."),
    out: Path = typer.Option(..., "--out", help="Where the base model directory goes."),
    apis: int = typer.Option(P.apis, "--apis", min=1, help="How many function APIs the subset has."),
    subset_seed: int = typer.Option(P.subset_seed, "--subset-seed", min=0, help="Seed of the subset's draw."),
    seed: int = typer.Option(P.seed, "--seed", min=0, help="Seed of the corpus, the initialisation and the batches."),
    steps: int = typer.Option(P.steps, "--steps", min=1, help="Training steps (the committed base's recipe)."),
    hidden: int = typer.Option(P.hidden, "--hidden", min=1, help="Hidden size."),
    layers: int = typer.Option(P.layers, "--layers", min=1, help="Decoder layers."),
    examples: int = typer.Option(P.examples, "--examples", min=1, help="Corpus size, in examples."),
    draft_seeds: str = typer.Option(",".join(map(str, P.draft_seeds)), "--draft-seeds",
                                    help="Task-generator seeds of the corpus prompts, comma-separated."),
    threads: int = typer.Option(P.threads, "--threads", min=1, help="CPU threads for training."),
    check: bool = typer.Option(True, "--check/--no-check", help="Measure the preconditions after training."),
    force: bool = typer.Option(False, "--force", help="Overwrite a base already in --out."),
) -> None:
    """Pretrain the micro-world's base from scratch on three corpora (the original library's names, doc reading
    on other renamings, writing and revising tasks), save it as a HF model directory with its subset's tasks,
    and measure the preconditions with the real eval on the subset's test_single. Exit 1 when one fails."""
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.micro.base import pretrain

    b = Bench.open(bench)
    for split in ("train", "test_single"):
        b.tasks(split)  # a bench without tasks is bad input, said before anything heavy starts
    if (out / "config.json").exists() and not force:
        raise UserError(f"{out} already holds a model; use --force to overwrite it")
    try:
        seeds = tuple(int(x) for x in draft_seeds.split(","))
    except ValueError:
        raise UserError(f"--draft-seeds {draft_seeds!r}: expected comma-separated integers") from None
    cfg = P(apis=apis, subset_seed=subset_seed, seed=seed, steps=steps, hidden=hidden, layers=layers,
            examples=examples, draft_seeds=seeds, threads=threads)
    pretrain(b, out, cfg, checked=check, log=lambda m: typer.echo(m, err=True))


@micro_app.command("check")
def check_cmd(
    bench: Path = typer.Option(..., "--bench", help="The bench the base was built on."),
    base: Path = typer.Option(..., "--base", help="A base directory written by `micro pretrain`."),
) -> None:
    """Measure a base's preconditions on its subset's test_single: original library >= 80%, open book
    (summary docs) >= 60%, closed book <= 2%. Exit 1 when one fails."""
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.micro.base import check, open_base

    b = Bench.open(bench)
    open_base(base)
    check(b, base, log=lambda m: typer.echo(m, err=True))


BENCH = typer.Option(..., "--bench", help="Bench directory (the base's subset becomes its tasks).")
BASE = typer.Option(DEFAULT_BASE, "--base", help="The micro base (`micro pretrain`; default: the committed one).")
WORKERS = typer.Option(0, "--workers", min=0, help="Sandbox workers (0: one per core, plus one).")


def _names(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


@micro_app.command("run")
def run_cmd(
    bench: Path = BENCH, base: Path = BASE,
    out: Path = typer.Option(..., "--out", help="Where every stage, results.json, report.md and the plots go."),
    seeds: int = typer.Option(R.seeds, "--seeds", min=1, help="Training seeds per recipe."),
    quick: bool = typer.Option(R.quick, "--quick", help=(
        f"The quick budget, no RL-Gap ablations: SFT {RS.quick().sft_epochs:g} epochs (full: {RS.sft_epochs:g}) on "
        f"{RS.quick().data_samples} samples per task ({RS.data_samples}), RL {RS.quick().rl_steps} steps "
        f"({RS.rl_steps}), self-play on {RS.quick().selfplay_tasks} docs ({RS.selfplay_tasks}).")),
    recipes: str = typer.Option("", "--recipes", help="Comma-separated subset of the recipes (default: all)."),
    workers: int = WORKERS,
    jobs: int = typer.Option(R.jobs, "--jobs", min=1, help="Seeds trained at once, each in its own process (same numbers)."),
) -> None:
    """Every SE-Bench recipe from the micro base (base, Open/Closed-SFT, Open-RL, Closed-RL official and TIS,
    Closed-SFT->RL, self-play+SFT/RL, and in the full run the RL-Gap ablations), each scored closed- and
    open-book on the subset's test_single and test_multi over the seeds; the findings with 95%
    intervals. Finished stages are reused, so a second run resumes."""
    from selfevolve_lab.micro.experiment import Experiment

    cfg = R(bench=str(bench), base=str(base), out=str(out), seeds=seeds, quick=quick, recipes=_names(recipes),
            workers=workers or None, jobs=jobs)
    Experiment(cfg, log=lambda m: typer.echo(m, err=True)).run()
    typer.echo((out / "report.md").read_text())


@micro_app.command("exit")
def exit_cmd(
    bench: Path = BENCH, base: Path = BASE,
    out: Path = typer.Option(..., "--out", help="Where every stage, results.json, report.md and curves.png go."),
    seeds: int = typer.Option(E.seeds, "--seeds", min=1, help="Training seeds per variant."),
    quick: bool = typer.Option(E.quick, "--quick", help=(
        f"Short training ({ES.quick().steps} steps; full: {ES.steps}), the first {ES.quick().eval_limit} held-out "
        "tasks, grpo and exit only.")),
    variants: str = typer.Option("", "--variants", help="Comma-separated ExIt variants (default: grpo,exit with "
                                                        "--quick, all five otherwise)."),
    workers: int = WORKERS,
    threads: int = typer.Option(E.threads, "--threads", min=1, help="torch threads (with --jobs above 1, each "
                                "job takes cores // jobs)."),
    jobs: int = typer.Option(E.jobs, "--jobs", min=1, help="Seeds trained at once, each in its own process."),
    embedder: Literal[tuple(EMBEDDERS)] = typer.Option(E.embedder, "--embedder", help="The diversity bonus's "
                                 "embedder: minilm (the paper's all-MiniLM-L6-v2), static (MiniLM's token embeddings, "
                                 "~100x cheaper) or hash."),
) -> None:
    """ExIt in the micro-world: the variants of the paper's Table 1 trained from the micro base with `exit train`
    (sebench domain, open book), then K=16 self-improvement steps with `exit iterate` on the held-out tasks for
    each trained model and the base, over the seeds; the curves with 95% intervals and the mean training depth,
    and whether exit improves beyond that depth and beats grpo at K=16. Finished stages are reused."""
    from selfevolve_lab.micro.exit_world import ExitWorld

    cfg = E(bench=str(bench), base=str(base), out=str(out), seeds=seeds, quick=quick, variants=_names(variants),
            workers=workers or None, threads=threads, embedder=embedder, jobs=jobs)
    ExitWorld(cfg, log=lambda m: typer.echo(m, err=True)).run()
    typer.echo((out / "report.md").read_text())
