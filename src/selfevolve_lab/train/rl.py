"""GRPO with the judge as the reward (`selfevolve train rl`): the RL recipes of `recipes` on the engine of `grpo`.

The reward is `Judge.reward`: 1.0 when the judge passes the completion, the verdict evaluation reports.
SFT->RL is a recipe run with `--model RUN/model` of an SFT run. Defaults a recipe does not set are the official
ones (SE-Bench's verl GRPO and its trainer config): group 8, 32 prompts per step, lr 1e-6, clip 0.2, no KL
(beta 0), temperature 1.0. `--no-clip` is refused where one update per generation batch leaves the ratio at 1.
The optimizer and loss are `RLOptim`'s.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from selfevolve_lab.errors import UserError
from selfevolve_lab.train.recipes import CORRECTIONS, MODES, Recipe
from selfevolve_lab.train.run import CommonOptions


@dataclass
class RLOptim:
    """The official actor's optimizer and loss (verl_evolve's `actor.optim` and `loss_agg_mode`), in one place;
    ExIt's trainer uses them too. verl's `token-mean` is taken per micro-batch of ONE sequence
    (`ppo_micro_batch_size_per_gpu=1`) and scaled by 1/accumulation: a mean over sequences of each one's token
    mean, which is TRL's `grpo` loss (`dapo` would be one token mean over the whole mini-batch)."""

    schedule: str = "constant"  # lr_scheduler_type: constant, no warmup
    warmup_ratio: float = 0.0
    weight_decay: float = 0.01
    loss_type: str = "grpo"

    def trl(self) -> dict:
        return dict(lr_scheduler_type=self.schedule, warmup_steps=self.warmup_ratio, weight_decay=self.weight_decay,
                    loss_type=self.loss_type)


@dataclass
class RLHyper:
    lr: float = 1e-6
    group: int = 8
    prompts_per_step: int = 32
    # None: the recipe's (`recipes.Recipe`); ppo_epochs is verl's ppo_epochs, TRL's num_iterations
    mini_batch_prompts: int | None = None
    ppo_epochs: int | None = None
    epochs: float | None = None
    shuffle: bool | None = None
    clip: float = 0.2
    beta: float = 0.0
    temperature: float = 1.0
    max_completion_length: int = 512
    micro_batch: int = 8  # completions per forward pass on one device
    tis_cap: float = 2.0
    tis_level: str = "token"
    optim: RLOptim = field(default_factory=RLOptim)

    def updates_per_batch(self) -> int:
        """Optimizer steps on one generation batch: more than one is what lets the ratio leave 1."""
        return self.prompts_per_step // self.mini_batch_prompts * self.ppo_epochs


def check_trainable(n_tasks: int, hp: RLHyper, hint: str = "lower --prompts-per-step or raise --limit") -> None:
    """TRL's sampler drops an incomplete generation batch, so fewer tasks than one step's prompts train
    nothing (transformers then stops at step 0 without an error)."""
    if n_tasks < hp.prompts_per_step:
        raise UserError(f"{n_tasks} tasks < {hp.prompts_per_step} prompts per step; {hint}")


def sampling_and_training(task, prompts, mode: str) -> tuple[list, list]:
    """The whole difference between the recipes: (prompt that samples, prompt that trains)."""
    with_docs = prompts.messages(task, "open")
    return with_docs, (with_docs if mode == "open" else prompts.messages(task, "closed"))


def train_rl(bench_dir: Path, model: str, recipe: Recipe, out: Path, opts: CommonOptions, hp: RLHyper | None = None,
             *, split: str = "train", tasks: list | None = None, workers: int | None = None, sandbox: str = "local",
             doc_style: str = "full") -> dict:
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.train.data import TaskPrompts, train_tasks
    from selfevolve_lab.train.sft import load_tokenizer

    mode, correction = recipe.mode, recipe.correction
    if mode not in MODES:
        raise UserError(f"--mode {mode!r}: choose open or closed")
    if correction not in CORRECTIONS:
        raise UserError(f"--correction {correction!r}: choose none or tis")
    if correction == "tis" and mode != "closed":
        raise UserError("--correction tis corrects Closed-RL's sampling prompt; it needs --mode closed")
    hp = hp or RLHyper()
    hp.mini_batch_prompts = min(hp.mini_batch_prompts or recipe.mini_batch_prompts, hp.prompts_per_step)
    hp.ppo_epochs = hp.ppo_epochs or recipe.ppo_epochs
    hp.epochs = opts.epochs if opts.epochs is not None else (hp.epochs or recipe.epochs)
    hp.shuffle = recipe.shuffle if hp.shuffle is None else hp.shuffle
    hp.lr = opts.lr if opts.lr is not None else hp.lr
    if opts.batch_size:
        hp.micro_batch = opts.batch_size
    if recipe.no_clip and hp.updates_per_batch() == 1:
        raise UserError("--no-clip changes nothing with one update per generation batch (the ratio is exactly 1); "
                        "add --ppo-epochs 2 or --mini-batch-prompts below --prompts-per-step")
    bench = Bench.open(bench_dir)
    tasks = tasks if tasks is not None else train_tasks(bench, split, opts.limit)
    check_trainable(len(tasks), hp)
    tok = load_tokenizer(model)

    import datasets

    from selfevolve_lab.train.grpo import GRPOEngine, batch_sizes, docs_rollout, judge_reward, make_config
    from selfevolve_lab.train.run import (
        metrics_callback,
        model_and_peft,
        open_run,
        quiet,
        require_steps,
        tracking,
        trainer_args,
    )

    try:
        base = trainer_args(opts, Path(out) / "checkpoints", include_num_input_tokens_seen="no")  # GRPO counts them
        args = make_config(lr=hp.lr, group=hp.group, prompts_per_step=hp.prompts_per_step,
                           mini_batch_prompts=hp.mini_batch_prompts, micro_batch=hp.micro_batch, clip=hp.clip,
                           no_clip=recipe.no_clip, beta=hp.beta, temperature=hp.temperature, epochs=hp.epochs,
                           max_completion_length=hp.max_completion_length,
                           ppo_epochs=hp.ppo_epochs, shuffle=hp.shuffle, optim=hp.optim,
                           use_vllm=opts.use_vllm, vllm_mode=opts.vllm_mode, log_completions=opts.log_completions,
                           **base)
    except ValueError as e:
        raise UserError(str(e).splitlines()[0]) from None
    config = {"recipe": f"{mode}-rl" + ("-tis" if correction == "tis" else ""), "bench": str(bench.root),
              "model": str(model), "mode": mode, "correction": correction, "no_clip": recipe.no_clip,
              "positive_only": recipe.positive_only, "split": split, "tasks": [t.id for t in tasks],
              "hyper": asdict(hp), "sandbox": sandbox, **asdict(opts), "world_size": args.world_size,
              "batch": batch_sizes(args)}
    opts.check_start(model)
    run, ckpt = open_run(out, config, opts)

    prompts = TaskPrompts(bench, doc_style=doc_style)
    # Keyed by task id, not by the training prompt's text: two tasks may share a closed prompt but not docs.
    sampling_of, rows = {}, []
    for t in tasks:
        sampling, training = sampling_and_training(t, prompts, mode)
        sampling_of[t.id] = sampling
        rows.append({"prompt": training, "task_id": t.id})
    timers: dict[str, float] = {}
    judge = _judge(bench, sandbox, workers)
    quiet(opts.progress)
    try:
        start, peft_config = model_and_peft(model, opts)
        with tracking(run, opts):
            trainer = GRPOEngine(model=start, args=args, processing_class=tok, peft_config=peft_config,
                                 train_dataset=datasets.Dataset.from_list(rows),
                                 reward_funcs=[judge_reward(judge, {t.id: t for t in tasks}, timers)],
                                 rollout_func=docs_rollout(sampling_of, timers),
                                 tis_cap=hp.tis_cap if correction == "tis" else None, tis_level=hp.tis_level,
                                 positive_only=recipe.positive_only, timers=timers,
                                 callbacks=[metrics_callback(run, timers)],
                                 dump_path=run.batches_path if opts.dump_batches and ckpt is None else None,
                                 dump_steps=opts.dump_batches)
            quiet(opts.progress, trainer)
            trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
        require_steps(trainer)
        run.save_final(trainer)
    finally:
        judge.close()
    # the sampler drops an incomplete last batch of each epoch (as verl's drop_last does)
    return {"run": str(run.root), "steps": trainer.state.global_step, "tasks": len(tasks),
            "unsampled_per_epoch": len(tasks) % hp.prompts_per_step}


def _judge(bench, sandbox: str, workers: int | None):
    from selfevolve_lab.judge import Judge

    if sandbox == "ray":
        from selfevolve_lab.sandbox.ray_executor import RayPool

        pool = RayPool.for_bench(bench)
        judge = Judge(bench, pool=pool)
        judge.close = pool.close  # the judge does not own a pool it was given; this run does
        return judge
    return Judge(bench, workers=workers)
