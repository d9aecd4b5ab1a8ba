"""K-step inference: the model answers a held-out base task, then improves its latest attempt K times.

Each attempt is scored by `selfevolve_lab.exit.domain.score_held_out`: the feedback the next prompt shows
comes only from what the model may see (sebench: the task's visible tests), the curve's score only from
what that feedback never showed (the held-out tests). curve.json's ``scored_on`` says which it was.

Per step: the mean score with a 95% interval that resamples tasks (the chains of one task are one
cluster: `selfevolve_lab.evaluate.intervals.crossed` over the task means, inside [0, 1]), and the net
corrections from the step before (wrong -> right minus right -> wrong; "right" is a score of 1). The curve
goes to ``RUN/curve.json`` as ``{"steps": [{"step": k, "mean": x, "ci95": [lo, hi]}, ...]}`` (`run` writes it,
`selfevolve_lab.evaluate.report` reads and plots it, with the mean training depth of the model's ExIt run as a
vertical line when it is known).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfevolve_lab.evaluate.intervals import crossed
from selfevolve_lab.evaluate.report import save_curve
from selfevolve_lab.exit import prompts
from selfevolve_lab.exit.domain import (
    Attempt,
    BaseTask,
    Domain,
    HeldOut,
    Instance,
    Interactive,
    episode_text,
    score_held_out,
)
from selfevolve_lab.jsonl import write_jsonl

Generate = Callable[[list[list[dict[str, str]]], int], list[str]]  # (chats, seed) -> one text per chat
TRAINING_FILE = "exit_training.json"  # written beside a model trained by `exit train`
HELD_OUT = "held-out checks; feedback from the others"
SAME = "the checks the feedback reports (the domain has no held-out split)"


@dataclass
class Trajectory:
    task_id: str
    sample: int
    scores: list[float]
    feedback: list[str]


def scored_on(domain: Domain) -> str:
    """What an `iterate` curve's score is on, as curve.json records it."""
    return HELD_OUT if isinstance(domain, HeldOut) else SAME


def ci95(task_means: Sequence[float]) -> tuple[float, float]:
    """95% interval of the mean over tasks, resampling tasks; in [0, 1]."""
    return crossed(np.asarray([task_means], dtype=np.float64), low=0.0, high=1.0)


def curve(trajectories: Sequence[Trajectory]) -> list[dict]:
    """One record per step: step, mean, ci95 (clustered by task), n (chains), tasks, solved, net_corrections
    (from the step before)."""
    scores = np.array([t.scores for t in trajectories], dtype=np.float64)
    ids = sorted({t.task_id for t in trajectories})
    member = np.array([[t.task_id == i for t in trajectories] for i in ids], dtype=np.float64)
    per_task = member @ scores / member.sum(axis=1, keepdims=True)  # tasks x steps: each task's mean over chains
    out = []
    for k in range(scores.shape[1]):
        lo, hi = ci95(per_task[:, k])
        right = scores[:, k] >= 1.0
        rec = {"step": k, "mean": float(scores[:, k].mean()), "ci95": [lo, hi], "n": int(len(scores)),
               "tasks": len(ids), "solved": int(right.sum())}
        if k:
            before = scores[:, k - 1] >= 1.0
            rec["net_corrections"] = int((~before & right).sum() - (before & ~right).sum())
        out.append(rec)
    return out


def iterate(domain: Domain, generate: Generate, tasks: Sequence[BaseTask], *, steps: int, samples: int,
            seed: int = 0, batch_size: int = 32) -> list[Trajectory]:
    """Run ``steps`` improve steps after a first attempt, for ``samples`` chains per task. An attempt's
    score is on the held-out checks (`score_held_out`); the next prompt shows its feedback only."""
    chains = [Instance(t) for t in tasks for _ in range(samples)]
    for k in range(steps + 1):
        kind = "first" if k == 0 else "improve"
        chats = [prompts.messages(c, kind) for c in chains]
        if isinstance(domain, Interactive):
            texts = episodes(domain, generate, chats, seed + 1000 * k, batch_size)
        else:
            texts = []
            for i in range(0, len(chats), batch_size):
                texts += generate(chats[i:i + batch_size], seed + 1000 * k + i)
        scored = score_held_out(domain, list(zip(chains, texts, strict=True)))
        chains = [c.child(Attempt(t, s, f)) for c, t, (s, f) in zip(chains, texts, scored, strict=True)]
    return [Trajectory(c.task.id, i % samples, [a.score for a in c.history], [a.feedback for a in c.history])
            for i, c in enumerate(chains)]


def episodes(domain: Interactive, generate: Generate, chats: list[list[dict[str, str]]], seed: int,
             batch_size: int = 32) -> list[str]:
    """One episode with turns per chat (`Interactive`): the model's reply, the domain's message to it as a
    user turn, the next reply, ... up to the domain's max_turns replies; each episode as one text
    (`episode_text`). Each reply is a full generation (max_tokens each), as a chat client's would be."""
    turns: list[list[str]] = [[] for _ in chats]
    messages: list[list[str]] = [[] for _ in chats]
    active = list(range(len(chats)))
    for t in range(domain.max_turns):
        convo = [chats[i] + [m for a, u in zip(turns[i], messages[i], strict=True)
                             for m in ({"role": "assistant", "content": a}, {"role": "user", "content": u})]
                 for i in active]
        replies: list[str] = []
        for b in range(0, len(convo), batch_size):
            replies += generate(convo[b:b + batch_size], seed + 100 * t + b)
        going = []
        for i, reply in zip(active, replies, strict=True):
            kept, message = domain.respond(turns[i], reply)
            turns[i].append(kept)
            if message is not None and t + 1 < domain.max_turns:
                messages[i].append(message)
                going.append(i)
        active = going
        if not active:
            break
    return [episode_text(t, m) for t, m in zip(turns, messages, strict=True)]


def run(domain: Domain, generate: Generate, out: str | Path, *, name: str, model: str | Path, steps: int,
        samples: int, limit: int | None = None, seed: int = 0, depth: float | None = None) -> tuple[list[Trajectory], dict]:
    """An `iterate` run on the first ``limit`` held-out tasks (None or 0: all), saved in ``out``
    (trajectories.jsonl, curve.json); returns the trajectories and curve.json's record. ``depth``: the
    training depth to mark (None: the one recorded beside ``model``)."""
    tasks = domain.tasks("test")[: limit or None]
    trajs = iterate(domain, generate, tasks, steps=steps, samples=samples, seed=seed)
    rec = {"domain": name, "model": str(model), "mean_training_depth": training_depth(model) if depth is None else depth,
           "scored_on": scored_on(domain), "steps": curve(trajs)}
    save_curve(out, rec)
    write_jsonl(Path(out) / "trajectories.jsonl", [t.__dict__ for t in trajs])
    return trajs, rec


def generator(model: str, backend: str, temperature: float, max_tokens: int) -> Generate:
    """The model's sampler: local transformers in one batched call, a server in concurrent requests."""
    import asyncio

    from selfevolve_lab.models import load_backend

    b = load_backend(model, backend=backend)
    if hasattr(b, "generate"):
        return lambda chats, seed: b.generate(chats, temperature=temperature, max_tokens=max_tokens, seed=seed)

    async def many(chats, seed):
        replies = await asyncio.gather(*(b.complete(c, temperature=temperature, max_tokens=max_tokens, seed=seed + i)
                                         for i, c in enumerate(chats)))
        return [r.text for r in replies]

    return lambda chats, seed: asyncio.run(many(chats, seed))


def training_depth(model: str | Path) -> float | None:
    """The mean training depth recorded beside a model trained by `exit train`, if any."""
    path = Path(model) / TRAINING_FILE
    try:
        return float(json.loads(path.read_text())["mean_training_depth"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
