"""ExIt training: GRPO (TRL, pinned) whose prompts the ExIt curriculum draws at generation time.

Read top to bottom: `ExItConfig` (the paper's math settings as defaults), `VARIANTS` (the rows of the
paper's Table 1), `Curriculum` (the algorithm: draw instances, score groups, learnability, the buffer,
the diversity bonus, the run's logs; independent of the engine), then `ExItEngine`, the one place that
touches the engine, and `train`.

The engine is the project's GRPO engine (`selfevolve.train.grpo.GRPOEngine`: TRL's GRPOTrainer, pinned
at 1.16.0). Its public `advantage_hook` receives each scored batch's advantages: there the group's
returns update the buffer and the diversity bonus multiplies them. Neither it nor TRL can choose prompts
at generation time, so `ExItEngine` overrides one private method, `_generate_and_score_completions`
(pinned by tests/test_exit_train.py), only to fill each group of rows (RepeatSampler puts a prompt's
``num_generations`` copies next to each other) with a freshly drawn instance's prompt before generating,
so priorities are never stale. Everything else (generation with or without vLLM, the loss, accelerate)
is the engine's. Single process: with several, each would draw its own instances.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfevolve.exit import diversity, prompts, rewards
from selfevolve.exit.buffer import Buffer, learnability
from selfevolve.exit.domain import Attempt, Domain, Instance
from selfevolve.exit.inference import TRAINING_FILE
from selfevolve.jsonl import JsonlAppender, atomic_write_text, read_jsonl, write_jsonl
from selfevolve.train.rl import RLOptim

LOGS = ("groups.jsonl", "buffer.jsonl", "curriculum.jsonl")  # one record per group / held instance / step
STATE_FILE = "exit_state.json"  # the curriculum's state, saved in every checkpoint
TRL_VERSION = "1.16.0"  # the version whose _generate_and_score_completions the override was written against


@dataclass
class ExItConfig:
    variant: str = "exit"
    p: float = 0.5  # an episode draws from the buffer with probability p (once it holds buffer_min)
    p_div: float = 0.2  # a step on an instance with a history diverges with probability p_div
    buffer: int = 512
    buffer_min: int = 128
    kappa: float = 1.0
    diversity: bool = True
    embedder: str = "minilm"  # the bonus's embedder (`diversity.make_embedder`); recorded so a resume matches
    prompts: int = 8  # groups per step (the paper: 128)
    group: int = 8  # responses per group
    max_steps: int = 10
    learning_rate: float = 1e-6
    beta: float = 0.001
    epsilon: float = 0.2
    temperature: float = 1.0
    max_completion_length: int = 256
    seed: int = 0
    use_vllm: bool = False
    # The paper gives no schedule, weight decay or loss aggregation: the SE-Bench RL recipe's (official verl) ones.
    optim: RLOptim = field(default_factory=RLOptim)


@dataclass(frozen=True)
class Variant:
    buffer: bool  # a learnability buffer
    children: bool  # new histories (self-iteration) go into it
    diverge: bool
    diversity: bool


VARIANTS = {
    "grpo": Variant(buffer=False, children=False, diverge=False, diversity=False),
    "curriculum": Variant(buffer=True, children=False, diverge=False, diversity=False),
    "improve": Variant(buffer=True, children=True, diverge=False, diversity=False),
    "diverge": Variant(buffer=True, children=True, diverge=True, diversity=False),
    "exit": Variant(buffer=True, children=True, diverge=True, diversity=True),
}


@dataclass
class Group:
    instance: Instance
    kind: str
    texts: list[str]
    scores: list[float]
    feedback: list[str]
    returns: list[float]


class Curriculum:
    """ExIt's state and steps, fed by any GRPO engine: `draw` the step's groups, `reward` their responses
    (a TRL reward function), then `finish` with the engine's advantages, which it returns scaled."""

    def __init__(self, domain: Domain, cfg: ExItConfig, run_dir: str | Path, *,
                 embedder: diversity.Embedder | None = None):
        self.domain, self.cfg, self.run = domain, cfg, Path(run_dir)
        self.variant = VARIANTS[cfg.variant]
        self.use_diversity = self.variant.diversity and cfg.diversity
        self.embed = embedder if embedder is not None else (
            diversity.make_embedder(cfg.embedder) if self.use_diversity else None)
        self.base = domain.tasks("train")
        self.buffer = Buffer(cfg.buffer, cfg.buffer_min, cfg.p if self.variant.buffer else 0.0, cfg.kappa)
        self.step = 0
        self.groups: list[Group] = []
        self.depths: list[int] = []  # the depth of every instance trained on
        self.overhead_s = 0.0  # ExIt's own time: drawing, the buffer, embeddings, logs (not scoring)
        self.overhead_cpu_s = 0.0  # the same in CPU time of the thread doing it (steady on a busy machine)
        self.run.mkdir(parents=True, exist_ok=True)

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, self.step, *key])

    def draw(self, n: int) -> list[tuple[Instance, str]]:
        """The step's ``n`` (instance, step kind) pairs."""
        t0, c0 = time.perf_counter(), time.thread_time()
        rng = self._rng(0)
        out = []
        for _ in range(n):
            inst = self.buffer.draw(self.base, rng)
            if inst.depth == 0:
                kind = "first"
            else:
                kind = "diverge" if self.variant.diverge and rng.random() < self.cfg.p_div else "improve"
            out.append((inst, kind))
        self.groups = [Group(i, k, [], [], [], []) for i, k in out]
        self.overhead_s += time.perf_counter() - t0
        self.overhead_cpu_s += time.thread_time() - c0
        return out

    def reward(self, completions: list[Any], exit_group: list[int], **_: Any) -> list[float]:
        """TRL reward function: the step reward of each response (rows carry their group's index)."""
        texts = [c if isinstance(c, str) else str((c[-1] if c else {}).get("content", "")) for c in completions]
        groups = [self.groups[g] for g in exit_group]
        scored = self.domain.score_many([(g.instance, t) for g, t in zip(groups, texts, strict=True)])
        out = []
        for g, t, (s, f) in zip(groups, texts, scored, strict=True):
            prev = g.instance.last.score if g.instance.last else None
            r = rewards.step_reward(s, kind=g.kind, previous=prev, verifiable=self.domain.verifiable)
            g.texts.append(t)
            g.scores.append(s)
            g.feedback.append(f)
            g.returns.append(r)
            out.append(r)
        return out

    def finish(self, advantages: np.ndarray) -> np.ndarray:
        """After the engine's advantages (rows in group order): the advantages multiplied by the diversity
        bonus when it is on; learnability, the buffer and the logs."""
        t0, c0 = time.perf_counter(), time.thread_time()
        size = len(self.groups[0].texts) if self.groups else 0
        adv = np.asarray(advantages, dtype=np.float64)
        scaled = adv
        if self.use_diversity and size > 1:
            scaled = diversity.scale_advantages(adv, [t for g in self.groups for t in g.texts], size, self.embed)
        with JsonlAppender(self.run / "groups.jsonl") as out:
            for i, g in enumerate(self.groups):
                s = learnability(g.returns)
                rows = slice(i * size, (i + 1) * size)
                out.write({"step": self.step, "instance_id": g.instance.id, "parent_id": g.instance.parent_id,
                           "task_id": g.instance.task.id, "depth": g.instance.depth, "kind": g.kind,
                           "previous": g.instance.last.score if g.instance.last else None,
                           "returns": g.returns, "scores": g.scores, "learnability": s,
                           "advantages": adv[rows].tolist(), "trained_advantages": scaled[rows].tolist()})
                self.depths.append(g.instance.depth)
                if not self.variant.buffer:
                    continue
                if self.variant.children:
                    kids = [g.instance.child(Attempt(t, sc, f)) for t, sc, f in zip(g.texts, g.scores, g.feedback,
                                                                                      strict=True)]
                    self.buffer.insert_group(g.instance, s, kids)
                elif g.instance.depth == 0:
                    self.buffer.insert(g.instance, s)
        if self.variant.buffer:
            with JsonlAppender(self.run / "buffer.jsonl") as out:
                for rec in self.buffer.records(self.step):
                    out.write(rec)
        returns = [r for g in self.groups for r in g.returns]
        with JsonlAppender(self.run / "curriculum.jsonl") as out:
            out.write({"step": self.step, "mean_return": float(np.mean(returns)) if returns else 0.0,
                       "mean_score": float(np.mean([s for g in self.groups for s in g.scores] or [0.0])),
                       "mean_depth": float(np.mean([g.instance.depth for g in self.groups] or [0.0])),
                       "buffer_size": len(self.buffer), "exit_overhead_s": self.overhead_s,
                       "exit_overhead_cpu_s": self.overhead_cpu_s})
        self.step += 1
        self.overhead_s += time.perf_counter() - t0
        self.overhead_cpu_s += time.thread_time() - c0
        return scaled

    def state(self) -> dict:
        return {"step": self.step, "depths": self.depths, "buffer": self.buffer.dump()}

    def load_state(self, state: dict) -> None:
        """Continue from a checkpoint's state; log lines of later steps (redone on resume) are cut."""
        self.step, self.depths = int(state["step"]), list(state["depths"])
        self.buffer.load(state["buffer"], {t.id: t for t in self.base})
        for name in LOGS:
            path = self.run / name
            if path.exists():
                keep = [r for r in read_jsonl(path, tolerate_torn_tail=True) if r["step"] < self.step]
                write_jsonl(path, keep)

    @property
    def mean_training_depth(self) -> float:
        return float(np.mean(self.depths)) if self.depths else 0.0


def _trainer_class():
    import torch

    from selfevolve.train.grpo import GRPOEngine

    class ExItEngine(GRPOEngine):
        """The project's GRPO engine whose groups get their prompts from the curriculum (module docstring)."""

        def __init__(self, *a: Any, curriculum: Curriculum, **kw: Any):
            self.curriculum = curriculum
            super().__init__(*a, advantage_hook=self._exit_advantages, **kw)

        def _exit_advantages(self, adv, view):
            if not self.model.training:
                return adv
            scaled = self.curriculum.finish(adv.detach().cpu().numpy())
            return torch.as_tensor(scaled, dtype=adv.dtype, device=adv.device)

        def _generate_and_score_completions(self, inputs):
            if self.model.training:
                g = self.num_generations
                if len(inputs) % g or any(inputs[i]["exit_row"] != inputs[i - i % g]["exit_row"]
                                          for i in range(len(inputs))):
                    raise RuntimeError(f"TRL {TRL_VERSION} puts a prompt's copies next to each other; this one does not")
                drawn = self.curriculum.draw(len(inputs) // g)
                for i, row in enumerate(inputs):
                    inst, kind = drawn[i // g]
                    row["prompt"] = prompts.messages(inst, kind)
                    row["exit_group"] = i // g
            return super()._generate_and_score_completions(inputs)

    return ExItEngine


def grpo_config(cfg: ExItConfig, out_dir: Path, **kw: Any):
    import torch
    from trl import GRPOConfig

    cpu = not torch.cuda.is_available()
    return GRPOConfig(
        output_dir=str(out_dir), max_steps=cfg.max_steps, per_device_train_batch_size=cfg.prompts * cfg.group,
        num_generations=cfg.group, steps_per_generation=1, gradient_accumulation_steps=1,
        learning_rate=cfg.learning_rate, beta=cfg.beta, epsilon=cfg.epsilon, temperature=cfg.temperature,
        max_completion_length=cfg.max_completion_length, seed=cfg.seed, data_seed=cfg.seed, shuffle_dataset=False,
        use_cpu=cpu, bf16=not cpu and torch.cuda.is_bf16_supported(), gradient_checkpointing=False,
        report_to="none", logging_steps=1, use_vllm=cfg.use_vllm, dataloader_num_workers=0,
        remove_unused_columns=False, **cfg.optim.trl(),
        # vLLM colocated; without TRL's importance correction of vLLM's sampling (sequence mask, cap 3), which
        # the ExIt paper does not have
        **({"vllm_mode": "colocate", "vllm_importance_sampling_correction": False} if cfg.use_vllm else {}),
        **{"save_strategy": "no", **kw},
    )


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
    from datasets import Dataset

    import selfevolve.models.micro  # noqa: F401  registers the micro-world's model class, so TRL loads a micro base
    from selfevolve.errors import UserError
    from selfevolve.train.run import CommonOptions, metrics_callback, open_run, quiet, require_steps

    if cfg.max_steps < 1:  # one placeholder row per step's group: none would leave the loader empty
        raise UserError(f"ExIt needs at least 1 step (max_steps {cfg.max_steps})")

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

    quiet(progress)
    args = grpo_config(cfg, run.checkpoints, save_strategy="steps", save_steps=save_steps, save_total_limit=2,
                       disable_tqdm=not progress)
    trainer = _trainer_class()(model=str(model), reward_funcs=[exit_reward], args=args, train_dataset=data,
                               curriculum=curriculum,
                               callbacks=[metrics_callback(run), _state_callback(curriculum), *(callbacks or [])])
    quiet(progress, trainer)
    trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    require_steps(trainer)
    run.save_final(trainer)
    (run.model_dir / TRAINING_FILE).write_text(json.dumps(
        {"mean_training_depth": curriculum.mean_training_depth, "variant": cfg.variant, "steps": curriculum.step}))
    return curriculum
