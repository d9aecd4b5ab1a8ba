"""`selfevolve exit train`, `selfevolve exit iterate`, `selfevolve exit plot`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from selfevolve_lab.evaluate.prompts import DOC_STYLES
from selfevolve_lab.exit.diversity import EMBEDDERS
from selfevolve_lab.exit.domains import DOMAINS
from selfevolve_lab.exit.trainer import VARIANTS
from selfevolve_lab.exit.trainer import ExItConfig as C  # each option's default is its field's
from selfevolve_lab.models import BACKENDS
from selfevolve_lab.train.run import CommonOptions, TrainerOptions
from selfevolve_lab.train.run import LoraOptions as L

exit_app = typer.Typer(help="ExIt: train a model to improve its own attempts, and measure K-step improvement.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from selfevolve_lab.configfile import enable

    enable(exit_app, "exit")
    app.add_typer(exit_app, name="exit")


def _domain(domain: str, bench: Path | None, mode: str, size: int, verifiable: bool, workers: int, subset: str,
            doc_style: str = "full", held_out: str = "test_single"):
    from selfevolve_lab.exit.domains import open_domain

    names = tuple(x for x in (subset or "").split(",") if x)
    kw: dict = {}
    if domain == "sebench":
        kw = {"mode": mode, "verifiable": verifiable, "workers": workers or None, "doc_style": doc_style,
              "test_split": held_out}
    elif domain == "math":
        from selfevolve_lab.exit.domains.math import FAMILIES

        kw = {"size": size, "families": names or FAMILIES}
    elif domain == "mle":
        from selfevolve_lab.exit.domains.mle import DATASETS

        kw = {"workers": workers or None, "datasets": names or tuple(DATASETS)}
    elif domain == "tools":
        kw = {"size": size}
    return open_domain(domain, bench=str(bench) if bench else None, **kw)


DOMAIN = typer.Option(..., "--domain", help="Where the tasks come from.")
BENCH = typer.Option(None, "--bench", help="The bench directory (sebench domain).")
MODE = typer.Option("closed", "--mode", help="sebench: closed (no docs) or open book.")
SIZE = typer.Option(64, "--size", min=1, help="math: base tasks per reasoning-gym family and split; tools: base tasks per split.")
VERIFIABLE = typer.Option(False, "--verifiable", help="sebench: score the pass (0/1) instead of the fraction passed.")
WORKERS = typer.Option(0, "--workers", min=0, help="Sandbox workers (0: one per core, plus one).")
SUBSET = typer.Option("", "--subset", help="math: reasoning-gym families; mle: datasets (comma-separated; default all).")
DOC_STYLE = typer.Option("full", "--doc-style", help="sebench, open book: summary is the micro model's.")
HELD_OUT = typer.Option("test_single", "--held-out", help="sebench: the split of the held-out tasks.")


@exit_app.command("train")
def train_cmd(
    domain: Literal[DOMAINS] = DOMAIN,
    model: str = typer.Option(..., "--model", help="A local Hugging Face model directory (or hub id)."),
    out: Path = typer.Option(..., "--out", help="Run directory: groups.jsonl, buffer.jsonl, curriculum.jsonl, "
                                                "metrics.jsonl, checkpoints/, model/."),
    bench: Path = BENCH,
    max_steps: int = typer.Option(C.max_steps, "--max-steps", min=1, help="GRPO steps."),
    variant: Literal[tuple(VARIANTS)] = typer.Option(C.variant, "--variant", help="A row of the paper's Table 1."),
    p: float = typer.Option(C.p, "--p", min=0.0, max=1.0, help="Probability an episode draws from the buffer (once it holds B_min)."),
    p_div: float = typer.Option(C.p_div, "--p-div", min=0.0, max=1.0, help="Probability a self-iteration step diverges."),
    buffer: int = typer.Option(C.buffer, "--buffer", min=1, help="Buffer capacity N (top N by learnability)."),
    buffer_min: int = typer.Option(C.buffer_min, "--buffer-min", min=0, help="B_min: the buffer is sampled once it holds "
                                                                      "this many."),
    kappa: float = typer.Option(C.kappa, "--kappa", min=0.0, help="Sampling ∝ exp(kappa * S)."),
    diversity: bool = typer.Option(C.diversity, "--diversity/--no-diversity", help="The diversity bonus (exit "
                                                                                   "variant)."),
    embedder: Literal[tuple(EMBEDDERS)] = typer.Option(C.embedder, "--embedder", help="The diversity bonus's embedder: minilm "
                                 "(all-MiniLM-L6-v2, offline; the paper's), static (MiniLM's token embeddings "
                                 "mean-pooled, ~100x cheaper) or hash (character trigrams)."),
    prompts: int = typer.Option(C.prompts, "--prompts", min=1, help="Groups (prompts) per step."),
    group: int = typer.Option(C.group, "--group", min=2, help="Responses per group (GRPO's num_generations)."),
    learning_rate: float = typer.Option(C.learning_rate, "--lr", min=0.0, help="Learning rate."),
    beta: float = typer.Option(C.beta, "--beta", min=0.0, help="KL coefficient."),
    max_completion_length: int = typer.Option(C.max_completion_length, "--max-tokens", min=1, help="Longest completion, "
                                                                                            "in tokens."),
    temperature: float = typer.Option(C.temperature, "--temperature", min=0.0, help="Sampling temperature."),
    micro_batch: int = typer.Option(C.micro_batch, "--micro-batch", min=0, help="Sequences per forward/backward pass "
                                    "(0: a step's prompts x group at once); gradients accumulate over the step."),
    seed: int = typer.Option(C.seed, "--seed", min=0, help="Seed of the curriculum's draws and of training."),
    use_vllm: bool = typer.Option(C.use_vllm, "--use-vllm", help="Generate with vLLM (colocated; GPU)."),
    resume: bool = typer.Option(False, "--resume", help="Continue OUT from its last checkpoint (buffer included)."),
    force: bool = typer.Option(False, "--force", help="Start over when OUT holds a run."),
    save_steps: int = typer.Option(CommonOptions.save_steps, "--save-steps", min=1, help="Checkpoint (model, optimizer, buffer) every N steps."),
    mode: Literal["closed", "open"] = MODE, size: int = SIZE, verifiable: bool = VERIFIABLE, workers: int = WORKERS,
    subset: str = SUBSET, doc_style: Literal[DOC_STYLES] = DOC_STYLE,
    held_out: Literal["test_single", "test_multi"] = HELD_OUT,
    lora: bool = typer.Option(False, "--lora", help="Train a LoRA adapter (PEFT); model/ is the adapter."),
    lora_r: int = typer.Option(L.r, "--lora-r", min=1, help="LoRA rank (with --lora)."),
    lora_alpha: int = typer.Option(L.alpha, "--lora-alpha", min=1, help="LoRA alpha (scale alpha / r)."),
    lora_dropout: float = typer.Option(L.dropout, "--lora-dropout", min=0.0, max=1.0, help="Dropout on the LoRA input."),
    lora_target_modules: str = typer.Option(L.target_modules, "--lora-target-modules", help="all-linear or module "
                                            "names, comma-separated."),
    gradient_checkpointing: bool = typer.Option(C.gradient_checkpointing,
                                                "--gradient-checkpointing/--no-gradient-checkpointing",
                                                help="Recompute activations in the backward pass (less memory)."),
    report_to: str = typer.Option(C.report_to, "--report-to", help="none, or tensorboard, wandb, trackio "
                                  "(comma-separated); they write under OUT unless their environment says where."),
    run_name: str = typer.Option(C.run_name, "--run-name", help="The tracker's run name."),
    log_completions: bool = typer.Option(C.log_completions, "--log-completions", help="TRL's completion tables "
                                         "(OUT/checkpoints/completions/*.parquet, and a W&B/trackio table)."),
) -> None:
    """Train with ExIt (or one of its ablations): single-step GRPO over a self-grown curriculum."""
    options = dict(locals())
    from dataclasses import fields

    from selfevolve_lab.configfile import recorded
    from selfevolve_lab.exit.trainer import train

    options.update(TrainerOptions.from_flags(lora, lora_r, lora_alpha, lora_dropout, lora_target_modules,
                                             gradient_checkpointing, report_to, run_name, log_completions))
    cfg = C(**{f.name: options[f.name] for f in fields(C) if f.name in options})
    cfg.check()  # before the domain opens (its sandbox pool takes seconds)
    dom = _domain(domain, bench, mode, size, verifiable, workers, subset, doc_style, held_out)
    try:
        c = train(dom, model, cfg, out, resume=resume, force=force, save_steps=save_steps, cli=recorded())
    finally:
        dom.close()
    typer.echo(f"{out}: {c.step} steps ({variant}); buffer {len(c.buffer)} instances; mean training depth "
               f"{c.mean_training_depth:.2f}; model in {out / 'model'}")


@exit_app.command("iterate")
def iterate_cmd(
    domain: Literal[DOMAINS] = DOMAIN,
    model: str = typer.Option(..., "--model", help="A local model directory or an OpenAI-compatible URL."),
    out: Path = typer.Option(..., "--out", help="Run directory: curve.json, curve.png, trajectories.jsonl."),
    bench: Path = BENCH,
    steps: int = typer.Option(16, "--steps", min=0, help="K: improvement steps after the first attempt."),
    samples: int = typer.Option(4, "--samples", min=1, help="Chains per task."),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the first N held-out tasks (0: all)."),
    temperature: float = typer.Option(0.7, "--temperature", min=0.0, help="Sampling temperature."),
    max_tokens: int = typer.Option(256, "--max-tokens", min=1, help="Longest completion, in tokens."),
    seed: int = typer.Option(0, "--seed", min=0, help="Sampling seed."),
    backend: Literal[BACKENDS] = typer.Option("auto", "--backend", help="auto: openai for a URL, transformers "
                                              "for a local path."),
    depth: float = typer.Option(None, "--training-depth", min=0.0,
                                help="Mean training depth to mark (default: read from the model's ExIt run)."),
    mode: Literal["closed", "open"] = MODE, size: int = SIZE, verifiable: bool = VERIFIABLE, workers: int = WORKERS,
    subset: str = SUBSET, doc_style: Literal[DOC_STYLES] = DOC_STYLE,
    held_out: Literal["test_single", "test_multi"] = HELD_OUT,
) -> None:
    """K-step self-improvement on held-out base tasks: score per step (mean, 95% CI) and net corrections."""
    from selfevolve_lab.evaluate.report import plot_curves
    from selfevolve_lab.exit import inference

    dom = _domain(domain, bench, mode, size, verifiable, workers, subset, doc_style, held_out)
    try:
        trajs, rec = inference.run(dom, inference.generator(model, backend, temperature, max_tokens), out,
                                   name=domain, model=model, steps=steps, samples=samples, limit=limit, seed=seed,
                                   depth=depth)
    finally:
        dom.close()
    recs = rec["steps"]
    plot_curves([(Path(model).name or model, recs)], out / "curve.png", depth=rec["mean_training_depth"],
                   title=f"ExIt {domain}")
    for r in recs:
        net = f", net corrections {r['net_corrections']:+d}" if "net_corrections" in r else ""
        typer.echo(f"step {r['step']}: {r['mean']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]{net}")
    total = sum(r.get("net_corrections", 0) for r in recs)
    typer.echo(f"{out}: {len(trajs)} chains on {recs[0]['tasks']} tasks (95% intervals resample tasks); scored on "
               f"{rec['scored_on']}; net corrections step 0 -> {steps}: {total:+d}")


@exit_app.command("plot")
def plot_cmd(
    runs: list[Path] = typer.Argument(..., help="`exit iterate` run directories."),
    out: Path = typer.Option(..., "--out", help="PNG file."),
    force: bool = typer.Option(False, "--force", help="Replace an existing --out."),
) -> None:
    """Several runs' K-step curves on one plot (the first known training depth marked)."""
    from selfevolve_lab.evaluate.report import load_curve, plot_curves
    from selfevolve_lab.jsonl import check_out

    check_out(out, force=force)
    curves = [load_curve(r) for r in runs]
    depth = next((c["mean_training_depth"] for c in curves if c.get("mean_training_depth") is not None), None)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot_curves([(r.name, c["steps"]) for r, c in zip(runs, curves, strict=True)], out, depth=depth)
    typer.echo(str(out))
