"""ExIt training: the `curriculum` on the project's GRPO engine (`selfevolve_lab.train.grpo`). Its `prompt_hook`
fills each group of placeholder rows with a freshly drawn instance's prompt before generating (priorities are
never stale); its `advantage_hook` gets each scored batch's advantages, which update the buffer and take the
diversity bonus. The rest (vLLM or not, the loss, accelerate) is the engine's.

On several processes (`accelerate launch`) rank 0 owns the curriculum: it draws each step's instances and
broadcasts them, every process generates and scores its slice of the groups (whole groups: the processes
must divide --prompts), and the groups' responses, scores and returns are gathered back to rank 0, which
updates the buffer, writes the logs and sends back the advantages it scaled. So a seed gives the same
curriculum on any number of processes (`tests/test_multiprocess.py`)."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from selfevolve_lab.exit import diversity, prompts
from selfevolve_lab.exit.curriculum import VARIANTS, Curriculum, ExItConfig, Group  # noqa: F401  (VARIANTS: for callers)
from selfevolve_lab.exit.domain import Domain, Interactive
from selfevolve_lab.exit.inference import TRAINING_FILE
from selfevolve_lab.jsonl import atomic_write_text
from selfevolve_lab.train.run import CommonOptions

STATE_FILE = "exit_state.json"  # the curriculum's state, saved in every checkpoint


def grpo_config(cfg: ExItConfig, out_dir: Path, **kw: Any):
    """The recipes' GRPO config (`make_config`) with ExIt's settings: each step's groups are one update (in
    micro-batches of ``micro_batch`` sequences, a whole step by default), over placeholder rows in order, for
    ``max_steps`` steps."""
    from selfevolve_lab.train.grpo import make_config
    from selfevolve_lab.train.run import trainer_args, trainer_options

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
            if state.is_world_process_zero and ckpt.is_dir():
                atomic_write_text(ckpt / STATE_FILE, json.dumps(curriculum.state()))

    return SaveState()


def train(domain: Domain, model: str, cfg: ExItConfig, run_dir: str | Path, *,
          embedder: diversity.Embedder | None = None, callbacks: list | None = None, resume: bool = False,
          force: bool = False, save_steps: int = CommonOptions.save_steps, progress: bool = True, cli: dict | None = None) -> Curriculum:
    """Train ``model`` with ExIt (or one of its ablations) on ``domain``. The run directory follows the
    training recipes' (`selfevolve_lab.train.run`): config.json, metrics.jsonl, checkpoints/ and model/, plus
    ExIt's logs (groups.jsonl, buffer.jsonl, curriculum.jsonl); ``resume`` continues its last checkpoint.
    Without ``progress`` the libraries' bars and TRL's per-step log dicts are off (metrics.jsonl has them);
    ``cli``, the command's options, goes into config.json (`selfevolve_lab.configfile`)."""
    import torch
    from datasets import Dataset

    import selfevolve_lab.models.micro  # noqa: F401  registers the micro-world's model class, so TRL loads a micro base
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.train.grpo import GRPOEngine, batch_sizes, turns_rollout
    from selfevolve_lab.train.run import (
        is_main,
        metrics_callback,
        model_and_peft,
        open_run,
        quiet,
        require_steps,
        tracking,
    )

    cfg.check()
    cfg.check_start(str(model))
    spread = _Spread()
    if cfg.prompts % spread.world:
        raise UserError(f"--prompts {cfg.prompts} does not split into whole groups over {spread.world} processes; "
                        f"launch a number of processes that divides it")
    out = Path(run_dir)
    args = grpo_config(cfg, out / "checkpoints", save_strategy="steps", save_steps=save_steps,
                       disable_tqdm=not progress)
    config = {"recipe": f"exit-{cfg.variant}", "model": str(model), "domain": domain.name, **asdict(cfg),
              "world_size": spread.world, "batch": batch_sizes(args), "cli": cli or {}}
    run, ckpt = open_run(out, config, CommonOptions(max_steps=cfg.max_steps, seed=cfg.seed, resume=resume,
                                                    force=force, save_steps=save_steps),
                         require=(STATE_FILE,))  # a checkpoint without the buffer's state would restart it
    # The other ranks only score their groups: no embedder (the bonus is rank 0's) and no logs of their own.
    curriculum = Curriculum(domain, cfg, run.root, embedder=embedder if is_main() else _rank_zero_embeds)
    if is_main():
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
        """This process's ``n_groups`` of the step's; ``exit_group`` indexes the step's groups."""
        pairs = spread.share(curriculum.draw(n_groups * spread.world) if is_main() else None)
        if not is_main():
            curriculum.groups = [Group(i, k, [], [], [], []) for i, k in pairs]
        first = spread.rank * n_groups
        return [{"prompt": prompts.messages(inst, kind), "exit_group": first + j}
                for j, (inst, kind) in enumerate(pairs[first:first + n_groups])]

    def finish(adv, _view):
        local = adv.detach().cpu().numpy()
        if spread.world == 1:
            scaled = curriculum.finish(local)
        else:
            scaled = spread.finish(curriculum, local)
        return torch.as_tensor(scaled, dtype=adv.dtype, device=adv.device)

    quiet(progress)
    start, peft_config = model_and_peft(model, cfg)
    with tracking(run, cfg):
        episodes = {"rollout_func": turns_rollout(domain.respond, domain.max_turns)} if isinstance(domain, Interactive) else {}
        trainer = GRPOEngine(model=start, reward_funcs=[exit_reward], args=args, train_dataset=data, **episodes,
                             prompt_hook=draw, advantage_hook=finish, peft_config=peft_config,
                             callbacks=[metrics_callback(run), _state_callback(curriculum), *(callbacks or [])])
        quiet(progress, trainer)
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    require_steps(trainer)
    run.save_final(trainer)
    if is_main():
        (run.model_dir / TRAINING_FILE).write_text(json.dumps(
            {"mean_training_depth": curriculum.mean_training_depth, "variant": cfg.variant, "steps": curriculum.step}))
    return curriculum


def _rank_zero_embeds(texts: list[str]) -> np.ndarray:
    raise RuntimeError("only rank 0 finishes an ExIt step (the diversity bonus is its)")


class _Spread:
    """The processes of a run: rank 0 holds the curriculum; the others get its draws and send back their groups."""

    def __init__(self) -> None:
        from selfevolve_lab.train.run import world_size

        self.world = world_size()
        self.rank = int(os.environ.get("RANK", "0"))

    def share(self, pairs: list | None) -> list:
        """Rank 0's draws (instance, kind), on every process."""
        if self.world == 1:
            return pairs
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([pairs], from_process=0)[0]

    def finish(self, curriculum: Curriculum, advantages: np.ndarray) -> np.ndarray:
        """Every group's responses, scores and returns, and every row's advantage, to rank 0, which finishes
        the step; each process gets back its rows of the advantages it scaled."""
        from accelerate.utils import broadcast_object_list, gather_object

        n = len(advantages) // curriculum.cfg.group  # this process's groups: the rank's slice of the step's
        mine = range(self.rank * n, (self.rank + 1) * n)
        scored = gather_object([(j, g.texts, g.scores, g.feedback, g.returns)
                                for j, g in ((j, curriculum.groups[j]) for j in mine)])
        every = gather_object([advantages.tolist()])
        scaled = None
        if self.rank == 0:
            for j, texts, scores, feedback, returns in scored:
                g = curriculum.groups[j]
                g.texts, g.scores, g.feedback, g.returns = texts, scores, feedback, returns
            scaled = curriculum.finish(np.concatenate([np.asarray(a, dtype=np.float64) for a in every])).tolist()
        else:
            curriculum.step += 1  # rank 0's count, kept on every process
        scaled = broadcast_object_list([scaled], from_process=0)[0]
        rows = len(advantages)
        return np.asarray(scaled[self.rank * rows:(self.rank + 1) * rows])
