"""`selfevolve train data|sft|rl|selfplay` and `selfevolve export verl`. Heavy imports stay in the bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from selfevolve_lab.bench import SPLITS
from selfevolve_lab.models import BACKENDS
from selfevolve_lab.train.recipes import MODES, RL_ABLATIONS, RL_RECIPES
from selfevolve_lab.train.rl import RLHyper as H  # each option's default is its config's field
from selfevolve_lab.train.run import CommonOptions as O
from selfevolve_lab.train.run import LoraOptions as _L
from selfevolve_lab.train.run import TrainerOptions
from selfevolve_lab.train.selfplay import SelfPlayHyper as S
from selfevolve_lab.train.sft import SFTHyper

train_app = typer.Typer(help="Training recipes: SFT data, Open/Closed SFT and RL, self-play (TRL).",
                        no_args_is_help=True)
export_app = typer.Typer(help="Export a bench to another training engine.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from selfevolve_lab.configfile import enable

    enable(train_app, "train")
    app.add_typer(train_app, name="train")
    app.add_typer(export_app, name="export")


# The options every `train` command takes (typer has no option groups: each command lists them).
_MAX_STEPS = typer.Option(O.max_steps, "--max-steps", min=-1, help="Stop after N optimizer steps (-1: the epochs decide).")
_EPOCHS = typer.Option(None, "--epochs", min=0.0, help="Epochs over the data (default: the recipe's official value).")
_LR = typer.Option(None, "--lr", min=0.0, help="Learning rate (default: the recipe's official value).")
_LIMIT = typer.Option(0, "--limit", min=0, help="Only the first N tasks (or data records); 0: all.")
_SEED = typer.Option(O.seed, "--seed", min=0, help="Seed; on CPU the same seed gives the same run.")
_RESUME = typer.Option(O.resume, "--resume", help="Continue RUN from its last checkpoint.")
_FORCE = typer.Option(O.force, "--force", help="Replace an existing RUN.")
_DUMP = typer.Option(O.dump_batches, "--dump-batches", min=0, help="Write RUN/batches.jsonl for the first N steps.")
_SAVE = typer.Option(O.save_steps, "--save-steps", min=1, help="Checkpoint every N steps (the last two are kept).")
_BATCH = typer.Option(0, "--batch-size", min=0, help="0: the recipe's default. RL: completions per forward pass on one "
                      "device; SFT: the global batch.")
_VLLM = typer.Option(O.use_vllm, "--use-vllm", help="Generate with vLLM (GPU).")
_VLLM_MODE = typer.Option(O.vllm_mode, "--vllm-mode", help="server: a `trl vllm-serve` started beside.")

# LoRA, memory and tracking (`TrainerOptions`, `LoraOptions`): `train sft|rl|selfplay` and `exit train` take them.
_LORA = typer.Option(False, "--lora", help="Train a LoRA adapter (PEFT) instead of every weight; RUN/model is the "
                     "adapter (eval and serve merge it into its base).")
_LORA_R = typer.Option(_L.r, "--lora-r", min=1, help="LoRA rank (with --lora).")
_LORA_ALPHA = typer.Option(_L.alpha, "--lora-alpha", min=1, help="LoRA alpha: the update is scaled by alpha / r.")
_LORA_DROPOUT = typer.Option(_L.dropout, "--lora-dropout", min=0.0, max=1.0, help="Dropout on the LoRA input.")
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
    from selfevolve_lab.configfile import recorded
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.train.run import CommonOptions

    if resume and force:
        raise UserError("--resume and --force exclude each other")
    return CommonOptions(max_steps=max_steps, epochs=epochs, lr=lr, limit=limit or None, seed=seed, resume=resume,
                         force=force, dump_batches=dump_batches, save_steps=save_steps, batch_size=batch_size or None,
                         use_vllm=use_vllm, vllm_mode=vllm_mode, cli=recorded(), **trainer)


@train_app.command("data")
def data_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory with a train split."),
    out: Path = typer.Option(..., "--out", help="The SFT data file (JSONL) to write."),
    model: str = typer.Option(None, "--model", help="Model path or OpenAI-compatible URL(s) that answers open-book."),
    split: Literal[SPLITS] = typer.Option("train", "--split", help="The task set to answer."),
    n_samples: int = typer.Option(5, "--n-samples", min=1, help="Samples per task (the paper: 5)."),
    temperature: float = typer.Option(0.6, "--temperature", min=0.0, help="Sampling temperature (the paper: 0.6)."),
    max_tokens: int = typer.Option(512, "--max-tokens", min=1, help="Longest completion, in tokens."),
    from_references: bool = typer.Option(False, "--from-references", help="Use the tasks' reference solutions."),
    backend: Literal[BACKENDS] = typer.Option("auto", "--backend", help="auto: openai for a URL, transformers "
                                              "for a local path."),
    run_dir: Path = typer.Option(None, "--run-dir", help="Keep the generation run (an eval run directory) here, so "
                                 "a killed command resumes (default: a temporary directory)."),
    limit: int = _LIMIT, seed: int = _SEED, force: bool = _FORCE,
) -> None:
    """Rejection-sampled SFT data: answer open-book through the eval harness, keep what the judge passes."""
    from selfevolve_lab.train.data import build_data

    res = build_data(bench, out, model=model, split=split, n_samples=n_samples, temperature=temperature,
                     max_tokens=max_tokens, seed=seed, limit=limit or None, from_references=from_references,
                     backend=backend, force=force, run_dir=run_dir)
    typer.echo(f"{out}: {res['records']} passing samples of {res['tasks']} tasks (of {res['samples']} judged; "
               f"statuses {res['status']})")


@train_app.command("sft")
def sft_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory (the package the model learns)."),
    model: str = typer.Option(..., "--model", help="A local Hugging Face model directory."),
    data: Path = typer.Option(..., "--data", help="SFT data from `selfevolve train data`."),
    mode: Literal[MODES] = typer.Option(..., "--mode", help="open: train on the prompt with docs; closed: without "
                                        "docs."),
    out: Path = typer.Option(..., "--out", help="Run directory; RUN/model is the trained model."),
    max_steps: int = _MAX_STEPS, epochs: float = _EPOCHS, lr: float = _LR, limit: int = _LIMIT, seed: int = _SEED,
    resume: bool = _RESUME, force: bool = _FORCE, dump_batches: int = _DUMP, save_steps: int = _SAVE,
    batch_size: int = typer.Option(0, "--batch-size", min=0, help="Global batch (0: the official 32); per device = "
                                   "global / (devices x --grad-accum)."),
    grad_accum: int = typer.Option(0, "--grad-accum", min=0, help="Gradient accumulation steps (0: none)."),
    max_length: int = typer.Option(0, "--max-length", min=0, help="Tokens of prompt + completion (0: the official 20000)."),
    truncate: bool = typer.Option(SFTHyper.truncate, "--truncate", help="Cut longer examples' completions instead of refusing "
                                  "them (counted in RUN/stats.json)."),
    lora: bool = _LORA, lora_r: int = _LORA_R, lora_alpha: int = _LORA_ALPHA, lora_dropout: float = _LORA_DROPOUT,
    lora_target_modules: str = _LORA_TARGETS, gradient_checkpointing: bool = _GRAD_CKPT, report_to: str = _REPORT_TO,
    run_name: str = _RUN_NAME,
) -> None:
    """Open-SFT or Closed-SFT on TRL's SFTTrainer (loss on the completion tokens only)."""
    from selfevolve_lab.train.sft import SFTHyper, train_sft

    opts = _opts(max_steps, epochs, lr, limit, seed, resume, force, dump_batches, save_steps, batch_size,
                 **TrainerOptions.from_flags(lora, lora_r, lora_alpha, lora_dropout, lora_target_modules,
                                            gradient_checkpointing, report_to, run_name))
    set_ = {k: v for k, v in (("grad_accum", grad_accum), ("max_length", max_length)) if v}
    res = train_sft(bench, model, data, mode, out, opts, SFTHyper(truncate=truncate, **set_))
    typer.echo(f"{out}: {mode}-sft, {res['steps']} steps on {res['records']} records, {res['truncated']} truncated "
               f"and {res['dropped']} dropped at {res['max_length']} tokens; model in {out}/model")


@train_app.command("rl")
def rl_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory with a train split (the judge rewards)."),
    model: str = typer.Option(..., "--model", help="A local model directory (an SFT run's RUN/model: SFT->RL)."),
    out: Path = typer.Option(..., "--out", help="Run directory; RUN/model is the trained model."),
    recipe: Literal[tuple({**RL_RECIPES, **RL_ABLATIONS})] = typer.Option(
        None, "--recipe", help="A row of the RL table or an ablation (`selfevolve_lab.train.recipes`); the flags below "
        "override it."),
    mode: Literal[MODES] = typer.Option(None, "--mode", help="open (open_rl: with docs) or closed (closed_rl)."),
    correction: Literal["none", "tis"] = typer.Option(None, "--correction", help="none: the official Closed-RL; "
                                                      "tis: truncated importance sampling."),
    no_clip: bool = typer.Option(False, "--no-clip", help="Ablation: the ratio is not clipped."),
    positive_only: bool = typer.Option(False, "--positive-only", help="Ablation: drop negative-advantage samples."),
    group: int = typer.Option(H.group, "--group", min=1, help="Completions per prompt."),
    prompts_per_step: int = typer.Option(H.prompts_per_step, "--prompts-per-step", min=1, help="Prompts per generation batch."),
    mini_batch_prompts: int = typer.Option(0, "--mini-batch-prompts", min=0, help="Prompts per optimizer step "
                                           "(0: the recipe's, officially 16 for open, 32 for closed)."),
    ppo_epochs: int = typer.Option(0, "--ppo-epochs", min=0, help="Passes over each generation batch (0: the recipe's)."),
    shuffle: bool = typer.Option(None, "--shuffle/--no-shuffle", help="Shuffle the tasks (default: the recipe's, "
                                 "officially open shuffles, closed does not)."),
    loss_type: Literal["grpo", "dapo"] = typer.Option(None, "--loss-type", help="grpo (the official default: a mean of per-sequence "
                                  "token means) or dapo (one token mean)."),
    max_completion_length: int = typer.Option(H.max_completion_length, "--max-completion-length", min=1,
                                              help="Longest completion, in tokens."),
    tis_cap: float = typer.Option(H.tis_cap, "--tis-cap", min=0.0, help="C in min(ratio, C)."),
    beta: float = typer.Option(H.beta, "--beta", min=0.0, help="KL coefficient (official: 0)."),
    sandbox: Literal["local", "ray"] = typer.Option("local", "--sandbox", help="ray: a RayPool across machines."),
    split: Literal[SPLITS] = typer.Option("train", "--split", help="The task set to train on."),
    max_steps: int = _MAX_STEPS, epochs: float = _EPOCHS, lr: float = _LR, limit: int = _LIMIT, seed: int = _SEED,
    resume: bool = _RESUME, force: bool = _FORCE, dump_batches: int = _DUMP, save_steps: int = _SAVE,
    batch_size: int = _BATCH, use_vllm: bool = _VLLM, vllm_mode: Literal["colocate", "server"] = _VLLM_MODE,
    lora: bool = _LORA, lora_r: int = _LORA_R, lora_alpha: int = _LORA_ALPHA, lora_dropout: float = _LORA_DROPOUT,
    lora_target_modules: str = _LORA_TARGETS, gradient_checkpointing: bool = _GRAD_CKPT, report_to: str = _REPORT_TO,
    run_name: str = _RUN_NAME, log_completions: bool = _LOG_COMPLETIONS,
) -> None:
    """Open-RL or Closed-RL: GRPO with the judge as the reward (TRL GRPOTrainer, rollout_func)."""
    from selfevolve_lab.train.recipes import rl_recipe
    from selfevolve_lab.train.rl import RLHyper, RLOptim, train_rl

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
    bench: Path = typer.Option(..., "--bench", help="Bench directory with tasks."),
    out: Path = typer.Option(..., "--out", help="Directory for the parquet files."),
    split: Literal[SPLITS] = typer.Option("train", "--split", help="The task set to export."),
    limit: int = _LIMIT,
    force: bool = _FORCE,
) -> None:
    """verl parquet: no-doc prompts (Open/Closed-RL training side) and with-doc prompts (Closed-RL generation)."""
    from selfevolve_lab.integrations.verl import export_verl

    files = export_verl(bench, out, split=split, limit=limit or None, force=force)
    typer.echo(f"{out}: " + ", ".join(f"{k} ({v} rows)" for k, v in files.items()))


@train_app.command("selfplay")
def selfplay_cmd(
    bench: Path = typer.Option(..., "--bench", help="Bench directory (its docs are what tasks are written from)."),
    model: str = typer.Option(..., "--model", help="A local model directory."),
    learner: Literal["sft", "rl"] = typer.Option(..., "--learner", help="sft (Closed-SFT) or rl (Closed-RL) on what "
                                                 "was kept."),
    out: Path = typer.Option(..., "--out", help="Run directory; its model is the last round's."),
    rounds: int = typer.Option(S.rounds, "--rounds", min=1, help="Rounds of write, solve, keep and train."),
    apis: int = typer.Option(S.apis, "--apis", min=1, help="API docs to write tasks from, per round."),
    n_solutions: int = typer.Option(S.n_solutions, "--n-solutions", min=1, help="Solutions per written task (they vote)."),
    temperature: float = typer.Option(S.temperature, "--temperature", min=0.0, help="Sampling temperature (writing and "
                                      "solving)."),
    max_tokens: int = typer.Option(S.max_tokens, "--max-tokens", min=1, help="Longest completion, in tokens."),
    structured: bool = typer.Option(S.structured, "--structured/--free", help="How a task is written. --free: the "
                                    "model writes the whole JSON object (the paper's way). --structured: the object's "
                                    "keys and punctuation are ours and the model writes each value (the problem, the "
                                    "signature, each input), so a small model's task parses (docs/train.md)."),
    tasks_per_api: int = typer.Option(S.tasks_per_api, "--tasks-per-api", min=1, help="Tasks written per API doc."),
    max_steps: int = _MAX_STEPS, epochs: float = _EPOCHS, lr: float = _LR, limit: int = _LIMIT, seed: int = _SEED,
    resume: bool = _RESUME, force: bool = _FORCE, dump_batches: int = _DUMP, save_steps: int = _SAVE,
    batch_size: int = _BATCH,
    lora: bool = _LORA, lora_r: int = _LORA_R, lora_alpha: int = _LORA_ALPHA, lora_dropout: float = _LORA_DROPOUT,
    lora_target_modules: str = _LORA_TARGETS, gradient_checkpointing: bool = _GRAD_CKPT, report_to: str = _REPORT_TO,
    run_name: str = _RUN_NAME, log_completions: bool = _LOG_COMPLETIONS,
) -> None:
    """Self-play: write tasks from the docs, solve them with docs, keep majority-confirmed ones, train closed-book."""
    from selfevolve_lab.train.selfplay import SelfPlayHyper, train_selfplay

    opts = _opts(max_steps, epochs, lr, limit, seed, resume, force, dump_batches, save_steps, batch_size,
                 **TrainerOptions.from_flags(lora, lora_r, lora_alpha, lora_dropout, lora_target_modules,
                                            gradient_checkpointing, report_to, run_name, log_completions))
    hp = SelfPlayHyper(rounds=rounds, apis=apis, n_solutions=n_solutions, temperature=temperature,
                       max_tokens=max_tokens, structured=structured, tasks_per_api=tasks_per_api)
    res = train_selfplay(bench, model, learner, out, opts, hp)
    for st in res["rounds"]:
        typer.echo(f"round {st['round']}: written {st['written']}, parsed {st['parsed']}, solved {st['solved']}, "
                   f"kept {st['kept']}; dropped " + ", ".join(f"{k} {v}" for k, v in st["dropped"].items() if v))
    typer.echo(f"{out}: model in {res['model']}")
