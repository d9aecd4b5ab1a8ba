"""ExIt's curriculum, without the engine (no torch, no TRL): `ExItConfig` (the paper's math settings as
defaults), `VARIANTS` (the rows of the paper's Table 1) and `Curriculum` (draw instances, score groups,
learnability, the buffer, the diversity bonus, the run's logs). `trainer` runs it on the GRPO engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selfevolve_lab.errors import UserError
from selfevolve_lab.exit import diversity, rewards
from selfevolve_lab.exit.buffer import Buffer, learnability
from selfevolve_lab.exit.domain import Attempt, Domain, Instance, episode_text
from selfevolve_lab.jsonl import JsonlAppender, read_jsonl, write_jsonl
from selfevolve_lab.train.rl import RLOptim
from selfevolve_lab.train.run import TrainerOptions

LOGS = ("groups.jsonl", "buffer.jsonl", "curriculum.jsonl")  # one record per group / held instance / step


@dataclass
class ExItConfig(TrainerOptions):  # LoRA, gradient checkpointing and tracking: the recipes' own options
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
    # sequences per forward and backward pass; 0: a whole step's prompts x group in one (the paper's 128 x 8
    # does not fit one pass: set it, and gradients accumulate over the step)
    micro_batch: int = 0
    seed: int = 0
    use_vllm: bool = False
    # The paper gives no schedule, weight decay or loss aggregation: the SE-Bench RL recipe's (official verl) ones.
    optim: RLOptim = field(default_factory=RLOptim)

    def check(self) -> None:
        """One-line errors for settings no run can take (named as the CLI's flags)."""
        if self.max_steps < 1:  # one placeholder row per step's group: none would leave the loader empty
            raise UserError(f"ExIt needs at least 1 step (max_steps {self.max_steps})")
        if self.variant not in VARIANTS or self.embedder not in diversity.EMBEDDERS:
            raise UserError(f"--variant is one of {', '.join(VARIANTS)}, --embedder of "
                            f"{', '.join(diversity.EMBEDDERS)}")
        if self.group < 2 or self.prompts < 1 or not 0 <= self.p <= 1 or not 0 <= self.p_div <= 1 or not (
                0 <= self.buffer_min <= self.buffer):
            raise UserError("need --group >= 2, --prompts >= 1, p, p-div in [0, 1] and 0 <= --buffer-min <= --buffer")
        if self.micro_batch < 0 or (self.micro_batch and (self.prompts * self.group) % self.micro_batch):
            raise UserError(f"--micro-batch {self.micro_batch} must divide --prompts x --group "
                            f"({self.prompts * self.group}), or be 0 (one pass per step)")


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

    def reward(self, completions: list[Any], exit_group: list[int], turns: list[list[str]] | None = None,
               env_messages: list[list[str]] | None = None, **_: Any) -> list[float]:
        """TRL reward function: the step reward of each response (rows carry their group's index). An episode
        with turns (`turns_rollout`) is scored as one text, its replies and the messages that answered them."""
        if turns is not None:
            texts = [episode_text(t, m) for t, m in zip(turns, env_messages or [[]] * len(turns), strict=True)]
        else:
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
