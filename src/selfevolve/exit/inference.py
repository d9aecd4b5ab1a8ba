"""K-step inference: the model answers a held-out base task, then improves its latest attempt K times.

Per step: the mean score with a 95% t-interval over (task, sample) pairs, and the net corrections from the
step before (wrong -> right minus right -> wrong; "right" is a score of 1). The curve goes to
``RUN/curve.json`` as ``{"steps": [{"step": k, "mean": x, "ci95": [lo, hi]}, ...]}`` and to a plot, with
the mean training depth of the model's ExIt run as a vertical line when it is known.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from selfevolve.exit import prompts
from selfevolve.exit.domain import Attempt, BaseTask, Domain, Instance

Generate = Callable[[list[list[dict[str, str]]], int], list[str]]  # (chats, seed) -> one text per chat
TRAINING_FILE = "exit_training.json"  # written beside a model trained by `exit train`


@dataclass
class Trajectory:
    task_id: str
    sample: int
    scores: list[float]
    feedback: list[str]


def ci95(values: Sequence[float]) -> tuple[float, float, float]:
    """(mean, lo, hi): a t-interval; a single value has no spread to estimate (lo = hi = mean)."""
    from scipy.stats import t

    x = np.asarray(values, dtype=np.float64)
    mean = float(x.mean()) if len(x) else 0.0
    if len(x) < 2:
        return mean, mean, mean
    half = float(t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))
    return mean, mean - half, mean + half


def curve(trajectories: Sequence[Trajectory]) -> list[dict]:
    """One record per step: step, mean, ci95, n, solved, net_corrections (from the step before)."""
    scores = np.array([t.scores for t in trajectories], dtype=np.float64)
    out = []
    for k in range(scores.shape[1]):
        mean, lo, hi = ci95(scores[:, k])
        right = scores[:, k] >= 1.0
        rec = {"step": k, "mean": mean, "ci95": [lo, hi], "n": int(len(scores)), "solved": int(right.sum())}
        if k:
            before = scores[:, k - 1] >= 1.0
            rec["net_corrections"] = int((~before & right).sum() - (before & ~right).sum())
        out.append(rec)
    return out


def iterate(domain: Domain, generate: Generate, tasks: Sequence[BaseTask], *, steps: int, samples: int,
            seed: int = 0, batch_size: int = 32) -> list[Trajectory]:
    """Run ``steps`` improve steps after a first attempt, for ``samples`` chains per task."""
    chains = [Instance(t) for t in tasks for _ in range(samples)]
    for k in range(steps + 1):
        kind = "first" if k == 0 else "improve"
        chats = [prompts.messages(c, kind) for c in chains]
        texts: list[str] = []
        for i in range(0, len(chats), batch_size):
            texts += generate(chats[i:i + batch_size], seed + 1000 * k + i)
        scored = domain.score_many(list(zip(chains, texts, strict=True)))
        chains = [c.child(Attempt(t, s, f)) for c, t, (s, f) in zip(chains, texts, scored, strict=True)]
    return [Trajectory(c.task.id, i % samples, [a.score for a in c.history], [a.feedback for a in c.history])
            for i, c in enumerate(chains)]


def training_depth(model: str | Path) -> float | None:
    """The mean training depth recorded beside a model trained by `exit train`, if any."""
    path = Path(model) / TRAINING_FILE
    try:
        return float(json.loads(path.read_text())["mean_training_depth"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def plot(curves: Sequence[tuple[str, list[dict]]], out: str | Path, *, depth: float | None = None,
         title: str = "") -> Path:
    """The curves (label, curve records) on one plot, with intervals; ``depth``: a vertical line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, recs in curves:
        k = [r["step"] for r in recs]
        ax.plot(k, [r["mean"] for r in recs], marker="o", label=label)
        ax.fill_between(k, [r["ci95"][0] for r in recs], [r["ci95"][1] for r in recs], alpha=0.2)
    if depth is not None:
        ax.axvline(depth, color="grey", linestyle="--", label=f"mean training depth {depth:.2f}")
    ax.set_xlabel("self-improvement step k")
    ax.set_ylabel("score (mean, 95% CI)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return Path(out)
