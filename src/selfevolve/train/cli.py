"""`selfevolve train data|sft|rl|selfplay` and `selfevolve export verl`. Heavy imports stay in the bodies."""

from __future__ import annotations

from pathlib import Path

import typer

from selfevolve.train.run import LoraOptions as _L  # each option's default is its field's
from selfevolve.train.run import TrainerOptions

train_app = typer.Typer(help="Training recipes: SFT data, Open/Closed SFT and RL, self-play (TRL).",
                        no_args_is_help=True)
export_app = typer.Typer(help="Export a bench to another training engine.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.add_typer(export_app, name="export")


# The options every `train` command takes (typer has no option groups: each command lists them).
_MAX_STEPS = typer.Option(-1, "--max-steps", help="Stop after N optimizer steps (-1: the epochs decide).")
_EPOCHS = typer.Option(None, "--epochs", help="Epochs over the data (default: the recipe's official value).")
_LR = typer.Option(None, "--lr", help="Learning rate (default: the recipe's official value).")
_LIMIT = typer.Option(0, "--limit", help="Only the first N tasks (or data records); 0: all.")
_SEED = typer.Option(0, "--seed", help="Seed; on CPU the same seed gives the same run.")
_RESUME = typer.Option(False, "--resume", help="Continue RUN from its last checkpoint.")
_FORCE = typer.Option(False, "--force", help="Replace an existing RUN.")
_DUMP = typer.Option(0, "--dump-batches", help="Write RUN/batches.jsonl for the first N steps.")
_SAVE = typer.Option(50, "--save-steps", help="Checkpoint every N steps (the last two are kept).")
_BATCH = typer.Option(0, "--batch-size", help="0: the recipe's default. RL: completions per forward pass on one "
                      "device; SFT: the global batch.")
_VLLM = typer.Option(False, "--use-vllm", help="Generate with vLLM (GPU).")
_VLLM_MODE = typer.Option("colocate", "--vllm-mode", help="colocate or server (`trl vllm-serve`).")
# LoRA, memory and tracking (`TrainerOptions`, `LoraOptions`): `train sft|rl|selfplay` and `exit train` take them.
_LORA = typer.Option(False, "--lora", help="Train a LoRA adapter (PEFT) instead of every weight; RUN/model is the "
                     "adapter (eval and serve merge it into its base).")
_LORA_R = typer.Option(_L.r, "--lora-r", help="LoRA rank (with --lora).")
_LORA_ALPHA = typer.Option(_L.alpha, "--lora-alpha", help="LoRA alpha: the update is scaled by alpha / r.")
_LORA_DROPOUT = typer.Option(_L.dropout, "--lora-dropout", help="Dropout on the LoRA input.")
_LORA_TARGETS = typer.Option(_L.target_modules, "--lora-target-modules", help="all-linear (every linear layer "
                             "but the output head) or module names, comma-separated (e.g. q_proj,v_proj).")
_GRAD_CKPT = typer.Option(TrainerOptions.gradient_checkpointing, "--gradient-checkpointing/--no-gradient-checkpointing",
                          help="Recompute activations in the backward pass: less memory, more compute.")
_REPORT_TO = typer.Option(TrainerOptions.report_to, "--report-to", help="none, or tensorboard, wandb, trackio (comma-separated); "
                          "they write under RUN (tensorboard/, wandb/) unless their environment says where.")
_RUN_NAME = typer.Option(TrainerOptions.run_name, "--run-name", help="The tracker's run name.")
_LOG_COMPLETIONS = typer.Option(TrainerOptions.log_completions, "--log-completions", help="GRPO: TRL's completion tables "
                                "(RUN/checkpoints/completions/*.parquet, and a W&B/trackio table).")


def _opts(max_steps, epochs, lr, limit, seed, resume, force, dump_batches, save_steps, batch_size, use_vllm=False,
          vllm_mode="colocate", **trainer: object):
    from selfevolve.errors import UserError
    from selfevolve.train.run import CommonOptions

    if resume and force:
        raise UserError("--resume and --force exclude each other")
    if vllm_mode not in ("colocate", "server"):
        raise UserError("--vllm-mode is colocate or server")
    return CommonOptions(max_steps=max_steps, epochs=epochs, lr=lr, limit=limit or None, seed=seed, resume=resume,
                         force=force, dump_batches=dump_batches, save_steps=save_steps, batch_size=batch_size or None,
                         use_vllm=use_vllm, vllm_mode=vllm_mode, **trainer)


@train_app.command("data")
def data_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory with a train split."),
    out: Path = typer.Option(..., "--out", help="The SFT data file (JSONL) to write."),
    model: str = typer.Option(None, "--model", help="Model path or OpenAI-compatible URL(s) that answers open-book."),
    split: str = typer.Option("train", "--split"),
    n_samples: int = typer.Option(5, "--n-samples", help="Samples per task (the paper: 5)."),
    temperature: float = typer.Option(0.6, "--temperature", help="Sampling temperature (the paper: 0.6)."),
    max_tokens: int = typer.Option(512, "--max-tokens"),
    from_references: bool = typer.Option(False, "--from-references", help="Use the tasks' reference solutions."),
    backend: str = typer.Option("auto", "--backend", help="auto, openai, transformers or vllm."),
    limit: int = _LIMIT, seed: int = _SEED, force: bool = _FORCE,
) -> None:
    """Rejection-sampled SFT data: answer open-book through the eval harness, keep what the judge passes."""
    from selfevolve.train.data import build_data

    res = build_data(bench, out, model=model, split=split, n_samples=n_samples, temperature=temperature,
                     max_tokens=max_tokens, seed=seed, limit=limit or None, from_references=from_references,
                     backend=backend, force=force)
    typer.echo(f"{out}: {res['records']} passing samples of {res['tasks']} tasks (of {res['samples']} judged; "
               f"statuses {res['status']})")


@train_app.command("sft")
def sft_cmd(
    bench: Path = typer.Option(..., "--bench"),
    model: str = typer.Option(..., "--model", help="A local Hugging Face model directory."),
    data: Path = typer.Option(..., "--data", help="SFT data from `selfevolve train data`."),
    mode: str = typer.Option(..., "--mode", help="open: train on the prompt with docs; closed: without docs."),
    out: Path = typer.Option(..., "--out", help="Run directory; RUN/model is the trained model."),
    max_steps: int = _MAX_STEPS, epochs: float = _EPOCHS, lr: float = _LR, limit: int = _LIMIT, seed: int = _SEED,
    resume: bool = _RESUME, force: bool = _FORCE, dump_batches: int = _DUMP, save_steps: int = _SAVE,
    batch_size: int = typer.Option(0, "--batch-size", help="Global batch (0: the official 32); per device = "
                                   "global / (devices x --grad-accum)."),
    grad_accum: int = typer.Option(0, "--grad-accum", help="Gradient accumulation steps (0: none)."),
    max_length: int = typer.Option(0, "--max-length", help="Tokens of prompt + completion (0: the official 20000)."),
    truncate: bool = typer.Option(False, "--truncate", help="Cut longer examples' completions instead of refusing "
                                  "them (counted in RUN/stats.json)."),
    lora: bool = _LORA, lora_r: int = _LORA_R, lora_alpha: int = _LORA_ALPHA, lora_dropout: float = _LORA_DROPOUT,
    lora_target_modules: str = _LORA_TARGETS, gradient_checkpointing: bool = _GRAD_CKPT, report_to: str = _REPORT_TO,
    run_name: str = _RUN_NAME,
) -> None:
    """Open-SFT or Closed-SFT on TRL's SFTTrainer (loss on the completion tokens only)."""
    from selfevolve.errors import UserError
    from selfevolve.train.sft import SFTHyper, train_sft

    if grad_accum < 0 or max_length < 0:
        raise UserError("--grad-accum and --max-length are positive (or 0: the default)")
    opts = _opts(max_steps, epochs, lr, limit, seed, resume, force, dump_batches, save_steps, batch_size,
                 **TrainerOptions.from_flags(lora, lora_r, lora_alpha, lora_dropout, lora_target_modules,
                                            gradient_checkpointing, report_to, run_name))
    set_ = {k: v for k, v in (("grad_accum", grad_accum), ("max_length", max_length)) if v}
    res = train_sft(bench, model, data, mode, out, opts, SFTHyper(truncate=truncate, **set_))
    typer.echo(f"{out}: {mode}-sft, {res['steps']} steps on {res['records']} records, {res['truncated']} truncated "
               f"and {res['dropped']} dropped at {res['max_length']} tokens; model in {out}/model")


@train_app.command("rl")
def rl_cmd(
    bench: Path = typer.Option(..., "--bench"),
    model: str = typer.Option(..., "--model", help="A local model directory (an SFT run's RUN/model: SFT->RL)."),
    out: Path = typer.Option(..., "--out"),
    recipe: str = typer.Option(None, "--recipe", help="open_rl, closed_rl, closed_rl_tis or an ablation "
                               "(`selfevolve.train.recipes`); the flags below override it."),
    mode: str = typer.Option(None, "--mode", help="open (open_rl: with docs) or closed (closed_rl)."),
    correction: str = typer.Option(None, "--correction", help="none (official Closed-RL) or tis."),
    no_clip: bool = typer.Option(False, "--no-clip", help="Ablation: the ratio is not clipped."),
    positive_only: bool = typer.Option(False, "--positive-only", help="Ablation: drop negative-advantage samples."),
    group: int = typer.Option(8, "--group", help="Completions per prompt."),
    prompts_per_step: int = typer.Option(32, "--prompts-per-step"),
    mini_batch_prompts: int = typer.Option(0, "--mini-batch-prompts", help="Prompts per optimizer step "
                                           "(0: the recipe's, officially 16 for open, 32 for closed)."),
    ppo_epochs: int = typer.Option(0, "--ppo-epochs", help="Passes over each generation batch (0: the recipe's)."),
    shuffle: bool = typer.Option(None, "--shuffle/--no-shuffle", help="Shuffle the tasks (default: the recipe's, "
                                 "officially open shuffles, closed does not)."),
    loss_type: str = typer.Option(None, "--loss-type", help="grpo (the official default: a mean of per-sequence "
                                  "token means) or dapo (one token mean)."),
    max_completion_length: int = typer.Option(512, "--max-completion-length"),
    tis_cap: float = typer.Option(2.0, "--tis-cap", help="C in min(ratio, C)."),
    beta: float = typer.Option(0.0, "--beta", help="KL coefficient (official: 0)."),
    sandbox: str = typer.Option("local", "--sandbox", help="local or ray (RayPool across machines)."),
    split: str = typer.Option("train", "--split"),
    max_steps: int = _MAX_STEPS, epochs: float = _EPOCHS, lr: float = _LR, limit: int = _LIMIT, seed: int = _SEED,
    resume: bool = _RESUME, force: bool = _FORCE, dump_batches: int = _DUMP, save_steps: int = _SAVE,
    batch_size: int = _BATCH, use_vllm: bool = _VLLM, vllm_mode: str = _VLLM_MODE,
    lora: bool = _LORA, lora_r: int = _LORA_R, lora_alpha: int = _LORA_ALPHA, lora_dropout: float = _LORA_DROPOUT,
    lora_target_modules: str = _LORA_TARGETS, gradient_checkpointing: bool = _GRAD_CKPT, report_to: str = _REPORT_TO,
    run_name: str = _RUN_NAME, log_completions: bool = _LOG_COMPLETIONS,
) -> None:
    """Open-RL or Closed-RL: GRPO with the judge as the reward (TRL GRPOTrainer, rollout_func)."""
    from selfevolve.errors import UserError
    from selfevolve.train.recipes import rl_recipe
    from selfevolve.train.rl import RLHyper, RLOptim, train_rl

    if sandbox not in ("local", "ray"):
        raise UserError("--sandbox is local or ray")
    if loss_type not in (None, "grpo", "dapo"):
        raise UserError("--loss-type is grpo or dapo")
    if group < 1 or prompts_per_step < 1 or mini_batch_prompts < 0 or ppo_epochs < 0:
        raise UserError("--group and --prompts-per-step are positive, --mini-batch-prompts and --ppo-epochs >= 0")
    opts = _opts(max_steps, epochs, lr, limit, seed, resume, force, dump_batches, save_steps, batch_size, use_vllm,
                 vllm_mode, **TrainerOptions.from_flags(lora, lora_r, lora_alpha, lora_dropout, lora_target_modules,
                                                                 gradient_checkpointing, report_to, run_name, log_completions))
    hp = RLHyper(group=group, prompts_per_step=prompts_per_step, mini_batch_prompts=mini_batch_prompts or None,
                 shuffle=shuffle, max_completion_length=max_completion_length, tis_cap=tis_cap, beta=beta,
                 ppo_epochs=ppo_epochs or None, optim=RLOptim(**({"loss_type": loss_type} if loss_type else {})))
    rl = rl_recipe(recipe, mode, correction=correction, no_clip=no_clip or None, positive_only=positive_only or None)
    res = train_rl(bench, model, rl, out, opts, hp, split=split, sandbox=sandbox)
    left = f" ({res['unsampled_per_epoch']} left out of each epoch)" if res["unsampled_per_epoch"] else ""
    typer.echo(f"{out}: {rl.mode}-rl, {res['steps']} steps on {res['tasks']} tasks{left}; model in {out}/model")


@export_app.command("verl")
def export_verl_cmd(
    bench: Path = typer.Option(..., "--bench"),
    out: Path = typer.Option(..., "--out", help="Directory for the parquet files."),
    split: str = typer.Option("train", "--split"),
    limit: int = _LIMIT,
    force: bool = _FORCE,
) -> None:
    """verl parquet: no-doc prompts (Open/Closed-RL training side) and with-doc prompts (Closed-RL generation)."""
    from selfevolve.integrations.verl import export_verl

    files = export_verl(bench, out, split=split, limit=limit or None, force=force)
    typer.echo(f"{out}: " + ", ".join(f"{k} ({v} rows)" for k, v in files.items()))


@train_app.command("selfplay")
def selfplay_cmd(
    bench: Path = typer.Option(..., "--bench"),
    model: str = typer.Option(..., "--model", help="A local model directory."),
    learner: str = typer.Option(..., "--learner", help="sft (Closed-SFT) or rl (Closed-RL) on what was kept."),
    out: Path = typer.Option(..., "--out"),
    rounds: int = typer.Option(1, "--rounds"),
    apis: int = typer.Option(32, "--apis", help="API docs to write tasks from, per round."),
    n_solutions: int = typer.Option(4, "--n-solutions", help="Solutions per written task (they vote)."),
    temperature: float = typer.Option(0.6, "--temperature"),
    max_tokens: int = typer.Option(256, "--max-tokens"),
    max_steps: int = _MAX_STEPS, epochs: float = _EPOCHS, lr: float = _LR, limit: int = _LIMIT, seed: int = _SEED,
    resume: bool = _RESUME, force: bool = _FORCE, dump_batches: int = _DUMP, save_steps: int = _SAVE,
    batch_size: int = _BATCH,
    lora: bool = _LORA, lora_r: int = _LORA_R, lora_alpha: int = _LORA_ALPHA, lora_dropout: float = _LORA_DROPOUT,
    lora_target_modules: str = _LORA_TARGETS, gradient_checkpointing: bool = _GRAD_CKPT, report_to: str = _REPORT_TO,
    run_name: str = _RUN_NAME, log_completions: bool = _LOG_COMPLETIONS,
) -> None:
    """Self-play: write tasks from the docs, solve them with docs, keep majority-confirmed ones, train closed-book."""
    from selfevolve.train.selfplay import SelfPlayHyper, train_selfplay

    opts = _opts(max_steps, epochs, lr, limit, seed, resume, force, dump_batches, save_steps, batch_size,
                 **TrainerOptions.from_flags(lora, lora_r, lora_alpha, lora_dropout, lora_target_modules,
                                            gradient_checkpointing, report_to, run_name, log_completions))
    hp = SelfPlayHyper(rounds=rounds, apis=apis, n_solutions=n_solutions, temperature=temperature,
                       max_tokens=max_tokens)
    res = train_selfplay(bench, model, learner, out, opts, hp)
    for st in res["rounds"]:
        typer.echo(f"round {st['round']}: written {st['written']}, parsed {st['parsed']}, solved {st['solved']}, "
                   f"kept {st['kept']}; dropped " + ", ".join(f"{k} {v}" for k, v in st["dropped"].items() if v))
    typer.echo(f"{out}: model in {res['model']}")
