"""The 95% interval of a mean score over a crossed design: every seed (a training run, or one chain of
inference) scores the same tasks. Used by the micro-world's findings and ExIt curves, and by `exit iterate`.

**Resampling.** Each replicate draws seeds with replacement and draws tasks with replacement ONCE, shared
by every drawn seed; its value is the mean over the drawn seed x task cells. Resampling tasks separately
inside each seed would shrink the spread of a task effect that every seed shares (greedy scoring passes
the same tasks in every seed) by about sqrt(seeds). This draw counts the per-cell noise (a seed's own luck
on a task) up to three times, so where that noise dominates the interval is conservative.

**Rare passes.** Before resampling, two pseudo-tasks join the tasks, one scoring the top of the range and
one the bottom in every seed (as Agresti and Coull add pseudo-observations to a binomial). Without them
a score that no task reaches, or a difference that no task shows, has the interval [0, 0] whatever the
truth; with them 0 of 48 tasks gives about [0, 6] points, near the exact binomial bound (7.4).

**Coverage**, in `tests/test_micro_findings.py`'s simulation of the micro-world through `findings`
(3 seeds x 48 tasks, a known difference, 300 experiments each): *shared* task effects, a few tasks
passing in every seed (A 8%, B 2% of tasks), 97.3%, 1.15x as wide as the estimate's own spread needs;
*noisy*, a smooth task effect with independent per-seed Bernoulli noise, 100%, 1.55x as wide. A seed
main effect (a whole training run better or worse) is estimated from as many values as there are seeds:
with 3 it is under-covered once it dominates the task spread. The pseudo-tasks pull the interval's centre
slightly toward the middle of the range (by tasks / (tasks + 2)); the interval is widened to contain the
estimate itself, and stays in the range.
"""

from __future__ import annotations

import numpy as np

RESAMPLES = 2000


def crossed(values: np.ndarray, *, low: float, high: float, resamples: int = RESAMPLES,
            seed: int = 0) -> tuple[float, float]:
    """95% interval of ``values.mean()``; ``values``: seeds x tasks, each cell in [low, high] (0, 1 for a
    score; -1, 1 for a difference). The same values give the same interval (a fixed generator)."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 2 or not x.size:
        raise ValueError("values are seeds x tasks, with at least one of each")
    seeds, tasks = x.shape
    x = np.concatenate([x, np.full((seeds, 1), high), np.full((seeds, 1), low)], axis=1)
    rng = np.random.default_rng(seed)
    w = rng.multinomial(seeds, np.full(seeds, 1 / seeds), size=resamples) / seeds
    v = rng.multinomial(tasks + 2, np.full(tasks + 2, 1 / (tasks + 2)), size=resamples) / (tasks + 2)
    stats = np.einsum("bs,st,bt->b", w, x, v)
    lo, hi = np.percentile(stats, [2.5, 97.5])
    est = float(np.asarray(values, dtype=np.float64).mean())
    return float(np.clip(min(lo, est), low, high)), float(np.clip(max(hi, est), low, high))
