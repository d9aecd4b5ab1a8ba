"""A training run's directory, its metrics log and its resume rule. Every recipe uses these, nothing else.

```
RUN/
  config.json        the recipe, its hyperparameters and the common options (a resume must match it), and under
                     "cli" the command's options: `--config RUN/config.json` repeats the run
  stats.json         SFT: its examples, and how many max_length truncated or dropped
  metrics.jsonl      one record per optimizer step (names in METRIC_KEYS; null where a recipe has none)
  batches.jsonl      with --dump-batches N: one record per trained sample of the first N steps
  checkpoints/       Trainer checkpoints (model, optimizer, scheduler, RNG states); the last ones are kept
                     (with --log-completions, GRPO's completion tables: checkpoints/completions/*.parquet)
  model/             the final model: a plain Hugging Face directory (`selfevolve eval --model RUN/model`);
                     with --lora, the adapter (adapter_config.json names its base; eval and serve merge it)
  tensorboard/       with --report-to tensorboard: the event files
  wandb/             with --report-to wandb: W&B's run directory (offline runs too; $WANDB_DIR overrides)
```

``metrics.jsonl`` holds the normalized keys (METRIC_KEYS, which plots and findings read) and, in the same
record, every key TRL logged under its own name (a TRL key named like a normalized key of another meaning
would be written as ``trl/<key>``; today none is).

An existing RUN is refused unless ``--resume`` (continue from its last checkpoint) or ``--force`` (start
over). The final model is written to a temporary sibling and renamed, so ``RUN/model`` is never half-written.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selfevolve_lab.errors import UserError, missing_extra
from selfevolve_lab.jsonl import JsonlAppender, atomic_write_text, read_jsonl

METRIC_KEYS = ("step", "epoch", "loss", "reward_mean", "reward_std", "pass_rate", "kl", "clip_fraction",
               "negative_share", "tokens_per_s", "step_time", "time_generation", "time_reward", "time_update", "lr", "grad_norm")

# normalized keys that are TRL's own key of the same name (the others are renamed or computed here)
_TRL_NAMED = frozenset({"epoch", "loss", "reward_std", "kl", "grad_norm", "step_time", "negative_share"})
REPORT_TO = ("none", "tensorboard", "wandb", "trackio")  # each tracker is also the package it needs


@dataclass
class LoraOptions:
    """LoRA through PEFT (TRL's ``peft_config``): only the adapter trains, and RUN/model is the adapter."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    target_modules: str = "all-linear"  # PEFT's every linear layer but the output head; or names, comma-separated

    def __post_init__(self) -> None:
        if self.r < 1 or self.alpha <= 0 or not 0 <= self.dropout < 1 or not self.modules():
            raise UserError(f"LoRA needs --lora-r >= 1, --lora-alpha > 0, 0 <= --lora-dropout < 1 and target "
                            f"modules (got r {self.r}, alpha {self.alpha}, dropout {self.dropout}, "
                            f"modules {self.target_modules!r})")

    def modules(self) -> str | list[str]:
        names = [m.strip() for m in self.target_modules.split(",") if m.strip()]
        return "all-linear" if names == ["all-linear"] else names

    def peft_config(self):
        try:
            from peft import LoraConfig
        except ImportError:
            raise missing_extra("train", "--lora (peft)") from None
        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=self.modules(), task_type="CAUSAL_LM")

    def check_adapter(self, path: str, conf: dict) -> None:
        """Training on from an adapter continues that adapter: refuse LoRA settings it does not have."""
        theirs = {"r": conf.get("r"), "alpha": conf.get("lora_alpha"), "dropout": conf.get("lora_dropout")}
        ours = {"r": self.r, "alpha": self.alpha, "dropout": self.dropout}
        modules, saved = self.modules(), conf.get("target_modules")
        if ours != theirs or (modules != "all-linear" and sorted(modules) != sorted(saved or [])):
            raise UserError(f"{path} is a LoRA adapter ({theirs}, modules {saved}); --lora goes on training it, "
                            f"so its settings must be the adapter's (got {ours}, modules {modules})")


@dataclass
class TrainerOptions:
    """LoRA, memory and experiment tracking: options of every trainer (`train` commands and `exit train`)."""

    lora: LoraOptions | None = None  # None: full fine-tuning
    gradient_checkpointing: bool = False
    report_to: str = "none"  # none, or trackers comma-separated: tensorboard, wandb, trackio
    run_name: str | None = None  # the tracker's run name
    log_completions: bool = False  # GRPO: TRL's completion tables (RUN/checkpoints/completions/, and W&B/trackio)

    def __post_init__(self) -> None:
        if isinstance(self.lora, dict):  # read back from a run's config.json
            self.lora = LoraOptions(**self.lora)
        if self.trackers() is None:
            raise UserError(f"--report-to {self.report_to!r}: none, or one or more of tensorboard, wandb, trackio "
                            f"(comma-separated)")

    def trackers(self) -> list[str] | None:
        """The trackers TRL reports to ([] for none); None when ``report_to`` names an unknown one."""
        names = [x.strip() for x in self.report_to.split(",") if x.strip()]
        if not names or any(n not in REPORT_TO for n in names) or ("none" in names and len(names) > 1):
            return None
        return [n for n in names if n != "none"]

    @staticmethod
    def from_flags(lora: bool, lora_r: int, lora_alpha: int, lora_dropout: float, lora_target_modules: str,
                   gradient_checkpointing: bool, report_to: str, run_name: str | None,
                   log_completions: bool = False) -> dict[str, Any]:
        """The fields from the commands' flags, checked (one-line errors); LoRA settings need --lora."""
        lora_opts = LoraOptions(r=lora_r, alpha=lora_alpha, dropout=lora_dropout, target_modules=lora_target_modules)
        if not lora and lora_opts != LoraOptions():
            raise UserError("--lora-r, --lora-alpha, --lora-dropout and --lora-target-modules need --lora")
        return trainer_options(TrainerOptions(lora=lora_opts if lora else None,
                                              gradient_checkpointing=gradient_checkpointing, report_to=report_to,
                                              run_name=run_name or None, log_completions=log_completions))

    def check_start(self, model: str) -> None:
        """Before a run directory is written: the trackers and peft are installed, and LoRA on an adapter has
        its settings."""
        from selfevolve_lab.models.adapters import adapter_config

        for name in self.trackers() or []:
            if importlib.util.find_spec(name) is None:
                raise missing_extra("track", f"--report-to {name}")
        if self.lora is not None:
            self.lora.peft_config()
            conf = adapter_config(model)
            if conf is not None:
                self.lora.check_adapter(model, conf)


def trainer_options(opts: Any) -> dict[str, Any]:
    """The `TrainerOptions` fields of ``opts`` (a CommonOptions, an ExItConfig), by name."""
    from dataclasses import fields

    return {f.name: getattr(opts, f.name) for f in fields(TrainerOptions)}


@dataclass
class CommonOptions(TrainerOptions):
    """The options every `train` command takes."""

    max_steps: int = -1  # -1: as many as the epochs give
    epochs: float | None = None  # None: the recipe's default
    lr: float | None = None  # None: the recipe's default
    limit: int | None = None  # only the first N tasks (or records)
    seed: int = 0
    resume: bool = False
    force: bool = False
    dump_batches: int = 0
    save_steps: int = 50
    batch_size: int | None = None  # SFT: the global batch; RL: completions per forward pass; None: the default
    progress: bool = True
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    cli: dict[str, Any] = field(default_factory=dict)  # the command's options (`selfevolve_lab.configfile`): {} from Python


@dataclass
class RunDir:
    root: Path
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def metrics_path(self) -> Path:
        return self.root / "metrics.jsonl"

    @property
    def batches_path(self) -> Path:
        return self.root / "batches.jsonl"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    def last_checkpoint(self, require: tuple[str, ...] = ()) -> Path | None:
        """The newest complete checkpoint. The trainer writes its state last, but not atomically: a kill -9
        while it is written leaves it torn, so a checkpoint counts once that file parses (and the files in
        ``require``, written after it by callbacks, are there); newer incomplete ones are removed, so the
        resumed run writes them again from scratch."""
        found = sorted((p for p in self.checkpoints.glob("checkpoint-*") if p.name.split("-")[1].isdigit()),
                       key=lambda p: int(p.name.split("-")[1]))
        while found and not _complete(found[-1], require):
            shutil.rmtree(found.pop(), ignore_errors=True)
        return found[-1] if found else None

    def save_final(self, trainer: Any) -> None:
        """Every process takes part in `save_model` (ZeRO-3 and FSDP gather the weights there); the main one
        writes and renames, and the others wait for RUN/model. A PEFT model saves its adapter only, its base
        named by an absolute path."""
        from selfevolve_lab.models.adapters import absolute_base

        tmp = self.root / ".model.tmp"
        if is_main():
            shutil.rmtree(tmp, ignore_errors=True)
        trainer.save_model(str(tmp))
        if is_main():
            trainer.processing_class.save_pretrained(str(tmp))
            absolute_base(tmp)
            shutil.rmtree(self.model_dir, ignore_errors=True)
            tmp.rename(self.model_dir)
        barrier()


def _complete(ckpt: Path, require: tuple[str, ...]) -> bool:
    try:
        int(json.loads((ckpt / "trainer_state.json").read_text())["global_step"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all((ckpt / name).is_file() for name in require)


def _comparable(config: dict) -> dict:
    # How long to run, where to log and whether to recompute activations may change between a crash and its
    # resume; what is trained may not. Compared as JSON, the form config.json holds (tuples become lists). The
    # command line ("cli") is not: the rest is what it resolved to, and the same run may be resumed with its
    # paths spelled otherwise. The processes and each one's share of the batch may change too: the global
    # batch (in "hyper") may not.
    config = json.loads(json.dumps(config, default=str))
    return {k: v for k, v in config.items()
            if k not in ("resume", "force", "max_steps", "progress", "save_steps", "world_size", "batch", "cli",
                         "report_to", "run_name", "log_completions", "gradient_checkpointing")}


def open_run(out: Path, config: dict[str, Any], opts: CommonOptions,
             require: tuple[str, ...] = ()) -> tuple[RunDir, Path | None]:
    """Create (or reopen, with --resume) the run directory. Returns it and the checkpoint to resume from
    (the newest complete one: see `RunDir.last_checkpoint`, with ``require``).

    With several processes every one checks the directory before any writes, so each raises the same error;
    then the main process alone writes it, and the others take the checkpoint it kept."""
    out = Path(out)
    run = RunDir(out, config)
    conf_path = out / "config.json"
    exists = out.exists() and any(out.iterdir())
    if exists:
        if opts.resume:
            if not conf_path.is_file():
                raise UserError(f"{out}: not a training run (no config.json); nothing to resume")
            was, now = _comparable(json.loads(conf_path.read_text())), _comparable(config)
            # A field added since the run was written is absent from its config.json; off (None) now, it is
            # the same run (a run from before --lora was refused, naming no field).
            changed = sorted(k for k in set(was) | set(now) if was.get(k) != now.get(k))
            if changed:
                raise UserError(f"{out}: --resume with another configuration ({', '.join(changed)}); use --force")
        elif not opts.force:
            raise UserError(f"{out} exists; use --resume to continue it or --force to start over")
    barrier()
    if not is_main():
        barrier()
        return run, (run.last_checkpoint(require) if exists and opts.resume else None)
    try:
        if exists and opts.resume:
            ckpt = run.last_checkpoint(require)
            _truncate_metrics(run, ckpt)
            return run, ckpt
        if exists:
            shutil.rmtree(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot write to {out}: {e.strerror or e}") from None
        atomic_write_text(conf_path, json.dumps(config, indent=1, sort_keys=True, default=str) + "\n")
        return run, None
    finally:
        barrier()


def _truncate_metrics(run: RunDir, ckpt: Path | None) -> None:
    """Keep the metrics up to the checkpoint: the steps after it are redone, and logged again."""
    step = json.loads((ckpt / "trainer_state.json").read_text())["global_step"] if ckpt else 0
    for path in (run.metrics_path, run.batches_path):
        if path.exists():
            keep = [r for r in read_jsonl(path, tolerate_torn_tail=True) if r.get("step", 0) <= step]
            atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in keep))


def metrics_callback(run: RunDir, timers: dict[str, float] | None = None):
    """A TrainerCallback that appends one normalized record per logged step to RUN/metrics.jsonl.

    ``timers`` is a dict the recipe's generation and reward code add seconds to; each record takes what
    accumulated since the previous one, and the update time is the step time minus both.
    """
    from transformers import TrainerCallback

    class _Metrics(TrainerCallback):
        def __init__(self) -> None:
            self.last_tokens, self.last_time = None, time.perf_counter()

        def on_train_begin(self, args, state, control, **kw):
            self.last_tokens, self.last_time = state.num_input_tokens_seen, time.perf_counter()
            if state.is_world_process_zero:  # the main process writes the run's files
                self.sink = JsonlAppender(run.metrics_path, sync_every=30.0).__enter__()

        def on_train_end(self, args, state, control, **kw):
            if state.is_world_process_zero:
                self.sink.__exit__(None, None, None)

        def on_log(self, args, state, control, logs=None, **kw):
            logs = logs or {}
            if "loss" not in logs and "train_loss" in logs or not state.is_world_process_zero:  # the summary
                return
            now = time.perf_counter()
            wall = now - self.last_time
            tokens = state.num_input_tokens_seen
            tps = (tokens - self.last_tokens) / wall if self.last_tokens is not None and tokens and wall > 0 else None
            self.last_tokens, self.last_time = tokens, now
            gen = timers.pop("generation", 0.0) if timers is not None else None
            rew = timers.pop("reward", 0.0) if timers is not None else None
            step_time = logs.get("step_time", wall)
            rec = {"step": state.global_step, "epoch": logs.get("epoch"), "loss": logs.get("loss"),
                   "reward_mean": logs.get("reward"), "reward_std": logs.get("reward_std"),
                   "pass_rate": logs.get("rewards/judge/mean"), "kl": logs.get("kl"),
                   "clip_fraction": logs.get("clip_ratio/region_mean"), "negative_share": logs.get("negative_share"),
                   "tokens_per_s": tps, "step_time": step_time,
                   "time_generation": gen, "time_reward": rew,
                   "time_update": max(0.0, step_time - gen - rew) if gen is not None else step_time,
                   "lr": logs.get("learning_rate"), "grad_norm": logs.get("grad_norm")}
            self.sink.write(mirrored({k: rec.get(k) for k in METRIC_KEYS}, logs))

    return _Metrics()


def mirrored(record: dict, logs: dict) -> dict:
    """``record`` with every key TRL logged: under its own name, or ``trl/<key>`` where a normalized key of
    another meaning has that name (the normalized keys in _TRL_NAMED are TRL's same-named value)."""
    out = dict(record)
    for k, v in logs.items():
        if k in _TRL_NAMED:
            continue
        out[f"trl/{k}" if k in record else k] = v
    return out


def read_metrics(run: Path) -> list[dict]:
    path = Path(run) / "metrics.jsonl"
    return read_jsonl(path, tolerate_torn_tail=True) if path.exists() else []


def quiet(progress: bool, trainer: Any = None) -> None:
    """Without progress bars, the libraries' own bars and the per-step log dicts are off too (the step
    records are in RUN/metrics.jsonl); call once before building the trainer and once with it."""
    if progress:
        return
    if trainer is None:
        import warnings

        import datasets
        from transformers.utils import logging as hf_logging

        # TRL asks every model this at each trainer's start: one line per RL run (or segment) says nothing
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)

        datasets.disable_progress_bars()
        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        return
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)


def trainer_args(opts: CommonOptions, checkpoints: Path, **kw: Any) -> dict[str, Any]:
    """The TrainingArguments every recipe shares: CPU-safe precision, checkpoints under RUN, seeded."""
    import torch

    on_gpu = torch.cuda.is_available()
    args = dict(output_dir=str(checkpoints), seed=opts.seed, data_seed=opts.seed, max_steps=opts.max_steps,
                logging_steps=1, save_strategy="steps", save_steps=opts.save_steps, save_total_limit=2,
                report_to=opts.trackers() or "none", run_name=opts.run_name, disable_tqdm=not opts.progress,
                bf16=on_gpu and torch.cuda.is_bf16_supported(), use_cpu=not on_gpu,
                activation_checkpointing=opts.gradient_checkpointing, dataloader_num_workers=0,
                include_num_input_tokens_seen="non_padding")
    args.update(kw)
    return args


def model_and_peft(model: str, opts: TrainerOptions) -> tuple[Any, Any]:
    """What a trainer is given: (the model or its path, TRL's ``peft_config``). A model that is itself a LoRA
    adapter (a --lora run's RUN/model) is merged into its base for full fine-tuning, and with --lora the same
    adapter goes on training, so the new RUN/model is again an adapter of that base (a new adapter on the
    merged weights would name a base without the first one: a model that silently loses it)."""
    from selfevolve_lab.models.adapters import adapter_config, load_adapter, load_causal_lm

    conf = adapter_config(model)
    if conf is None:
        return str(model), opts.lora.peft_config() if opts.lora else None
    if opts.lora is None:  # PEFT froze the base it loaded the adapter on: every weight trains again
        return load_causal_lm(model).requires_grad_(True), None
    opts.lora.check_adapter(model, conf)  # checked before (`TrainerOptions.check_start`); a library caller may not have
    return load_adapter(model, conf, trainable=True), None


@contextlib.contextmanager
def tracking(run: RunDir, opts: TrainerOptions):
    """Around building and training a trainer: the trackers write under RUN (unless their own environment
    variable says where), and a W&B run is finished (its files complete) when training ends."""
    names = opts.trackers() or []
    env = {k: v for k, v, on in (("TENSORBOARD_LOGGING_DIR", str(run.root / "tensorboard"), "tensorboard" in names),
                                  ("WANDB_DIR", str(run.root), "wandb" in names)) if on and k not in os.environ}
    os.environ.update(env)
    try:
        yield
    finally:
        for k in env:
            os.environ.pop(k, None)
        if "wandb" in names:
            import sys

            wandb = sys.modules.get("wandb")
            if wandb is not None and wandb.run is not None:
                wandb.finish()


def world_size() -> int:
    """Training processes (torchrun/accelerate set WORLD_SIZE; one without them)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    """The process that writes a run's files (global rank 0; RUN is on a file system every node sees)."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait for every training process (nothing to wait for on one). The process group is accelerate's: the one
    the trainer then uses (gloo on CPU, as `trainer_args` sets use_cpu there)."""
    if world_size() > 1:
        import torch
        from accelerate import PartialState

        PartialState(cpu=not torch.cuda.is_available()).wait_for_everyone()


def split(total: int, what: str, world: int | None = None) -> int:
    """``total`` (a global size of the recipe) over the processes: each one's share, or one line of error."""
    world = world_size() if world is None else world
    if total % world:
        raise UserError(f"{what} ({total}) does not split over {world} processes; launch a number of processes "
                        f"that divides it")
    return total // world


def require_steps(trainer: Any) -> None:
    """A run that took no optimizer step has nothing to save as a trained model: fail instead of writing the
    start model under RUN/model (transformers stops at step 0 without an error when its loader is empty)."""
    if trainer.state.global_step < 1:
        raise UserError(f"{trainer.args.output_dir}: 0 optimizer steps were taken (an empty or too small dataset); "
                        f"nothing was trained")
