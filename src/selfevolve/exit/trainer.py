"""ExIt training: the `curriculum` on the project's GRPO engine (`selfevolve.train.grpo`). Its `prompt_hook`
fills each group of placeholder rows with a freshly drawn instance's prompt before generating (priorities are
never stale); its `advantage_hook` gets each scored batch's advantages, which update the buffer and take the
diversity bonus. The rest (vLLM or not, the loss, accelerate) is the engine's. Single process: with several,
each would draw its own instances."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from selfevolve.exit import diversity, prompts
from selfevolve.exit.curriculum import VARIANTS, Curriculum, ExItConfig  # noqa: F401  (VARIANTS: for callers)
from selfevolve.exit.domain import Domain
from selfevolve.exit.inference import TRAINING_FILE
from selfevolve.jsonl import atomic_write_text

STATE_FILE = "exit_state.json"  # the curriculum's state, saved in every checkpoint


def grpo_config(cfg: ExItConfig, out_dir: Path, **kw: Any):
    """The recipes' GRPO config (`make_config`) with ExIt's settings: each step's groups are one update (in
    micro-batches of ``micro_batch`` sequences, a whole step by default), over placeholder rows in order, for
    ``max_steps`` steps."""
    from selfevolve.train.grpo import make_config
    from selfevolve.train.run import CommonOptions, trainer_args, trainer_options

    common = CommonOptions(max_steps=cfg.max_steps, seed=cfg.seed, **trainer_options(cfg))
    args = {**trainer_args(common, out_dir), "save_strategy": "no", "include_num_input_tokens_seen": "no",
            "log_completions": cfg.log_completions, **kw}
    return make_config(lr=cfg.learning_rate, group=cfg.group, prompts_per_step=cfg.prompts,
                       mini_batch_prompts=cfg.prompts, micro_batch=cfg.micro_batch or cfg.prompts * cfg.group,
                       clip=cfg.epsilon,
                       no_clip=False, beta=cfg.beta, temperature=cfg.temperature, epochs=1.0,
                       max_completion_length=cfg.max_completion_length, optim=cfg.optim, shuffle=False,
                       use_vllm=cfg.use_vllm, **({"vllm_mode": "colocate"} if cfg.use_vllm else {}), **args)


def _state_callback(curriculum: Curriculum):
    from transformers import TrainerCallback

    class SaveState(TrainerCallback):
        """The curriculum's state goes into every checkpoint, so a resume continues the same buffer."""

        def on_save(self, args, state, control, **kw):
            ckpt = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if ckpt.is_dir():
                atomic_write_text(ckpt / STATE_FILE, json.dumps(curriculum.state()))

    return SaveState()


def train(domain: Domain, model: str, cfg: ExItConfig, run_dir: str | Path, *,
          embedder: diversity.Embedder | None = None, callbacks: list | None = None, resume: bool = False,
          force: bool = False, save_steps: int = 50, progress: bool = True) -> Curriculum:
    """Train ``model`` with ExIt (or one of its ablations) on ``domain``. The run directory follows the
    training recipes' (`selfevolve.train.run`): config.json, metrics.jsonl, checkpoints/ and model/, plus
    ExIt's logs (groups.jsonl, buffer.jsonl, curriculum.jsonl); ``resume`` continues its last checkpoint.
    Without ``progress`` the libraries' bars and TRL's per-step log dicts are off (metrics.jsonl has them)."""
    import torch
    from datasets import Dataset

    import selfevolve.models.micro  # noqa: F401  registers the micro-world's model class, so TRL loads a micro base
    from selfevolve.train.grpo import GRPOEngine
    from selfevolve.train.run import (
        CommonOptions,
        metrics_callback,
        model_and_peft,
        open_run,
        quiet,
        require_steps,
        tracking,
    )

    cfg.check()
    cfg.check_start(str(model))

    config = {"recipe": f"exit-{cfg.variant}", "model": str(model), "domain": domain.name, **asdict(cfg)}
    run, ckpt = open_run(Path(run_dir), config, CommonOptions(max_steps=cfg.max_steps, seed=cfg.seed, resume=resume,
                                                              force=force, save_steps=save_steps),
                         require=(STATE_FILE,))  # a checkpoint without the buffer's state would restart it
    curriculum = Curriculum(domain, cfg, run.root, embedder=embedder)
    if ckpt is not None:
        curriculum.load_state(json.loads((ckpt / STATE_FILE).read_text()))
    else:
        curriculum.load_state({"step": 0, "depths": [], "buffer": []})  # a fresh run: no stale log lines
    rows = cfg.max_steps * cfg.prompts  # one placeholder row per group; its prompt is drawn at generation time
    data = Dataset.from_dict({"prompt": [[{"role": "user", "content": "(drawn by the ExIt curriculum)"}]] * rows,
                              "exit_row": list(range(rows))})

    def exit_reward(completions, exit_group, **kw):
        return curriculum.reward(completions, exit_group, **kw)

    def draw(n_groups: int) -> list[dict]:
        return [{"prompt": prompts.messages(inst, kind), "exit_group": j}
                for j, (inst, kind) in enumerate(curriculum.draw(n_groups))]

    def finish(adv, _view):
        return torch.as_tensor(curriculum.finish(adv.detach().cpu().numpy()), dtype=adv.dtype, device=adv.device)

    quiet(progress)
    args = grpo_config(cfg, run.checkpoints, save_strategy="steps", save_steps=save_steps, disable_tqdm=not progress)
    start, peft_config = model_and_peft(model, cfg)
    with tracking(run, cfg):
        trainer = GRPOEngine(model=start, reward_funcs=[exit_reward], args=args, train_dataset=data,
                             prompt_hook=draw, advantage_hook=finish, peft_config=peft_config,
                             callbacks=[metrics_callback(run), _state_callback(curriculum), *(callbacks or [])])
        quiet(progress, trainer)
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    require_steps(trainer)
    run.save_final(trainer)
    (run.model_dir / TRAINING_FILE).write_text(json.dumps(
        {"mean_training_depth": curriculum.mean_training_depth, "variant": cfg.variant, "steps": curriculum.step}))
    return curriculum
