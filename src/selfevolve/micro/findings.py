"""SE-Bench's three findings, computed from per-task scores of the micro-world's recipes. Pure functions.

A recipe's result on a split is, per seed, each task's pass@1 (a fraction in [0, 1]). A finding is a
difference between two recipes (A - B) in closed-book test_single pass@1, in percentage points.

**Interval.** A paired two-level bootstrap: resample seeds with replacement, then, within each drawn
seed, resample tasks with replacement; both recipes are resampled with the same draws (they ran on the
same tasks with the same seeds), so what they share cancels. The 95% interval is the 2.5th-97.5th
percentile of 2000 resampled differences, drawn from a fixed generator, so the same scores give the same
interval. With one seed only the task level is resampled: the interval then says nothing about the
variation between training runs, and the report says so.

**Verdict rule**, stated in the report:
* ``reproduced``: the interval lies entirely on the paper's side of zero (A > B);
* ``not reproduced``: the interval lies entirely on the other side (A < B), or entirely within
  ±``PRACTICALLY_ZERO`` points (the two recipes are measurably equal);
* ``inconclusive``: otherwise (the interval contains zero and is wider than that band).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

Scores = Sequence[Mapping[str, float]]  # per seed: task id -> pass@1
PRACTICALLY_ZERO = 5.0  # percentage points
RESAMPLES = 2000

# What the paper reports, as (A, B): the finding is A - B > 0 in closed-book test_single pass@1.
FINDINGS: dict[str, tuple[str, str, str]] = {
    "open_book_paradox": ("closed_sft", "open_sft",
                          "Closed-SFT - Open-SFT: training with the docs in the prompt stops retention"),
    "rl_gap": ("closed_sft", "closed_rl", "Closed-SFT - Closed-RL: standard RL does not fully internalize"),
    "self_play": ("selfplay_sft", "selfplay_rl", "self-play+SFT - self-play+RL: self-play works with SFT, not RL"),
    "self_play_vs_base": ("selfplay_sft", "base", "self-play+SFT - base: self-play with SFT internalizes at all"),
}


def mean(per_seed: Scores) -> float:
    """Mean pass@1 in percent: the mean over seeds of the mean over tasks."""
    return 100 * sum(_task_mean(s) for s in per_seed) / len(per_seed)


def _task_mean(scores: Mapping[str, float]) -> float:
    return sum(scores.values()) / len(scores) if scores else 0.0


def _percentile(sorted_values: list[float], q: float) -> float:
    i = q * (len(sorted_values) - 1)
    lo, frac = int(i), i - int(i)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] * (1 - frac) + sorted_values[hi] * frac


def _check(a: Scores, b: Scores | None) -> None:
    if not a:
        raise ValueError("no seeds")
    if b is not None:
        if len(a) != len(b):
            raise ValueError(f"paired recipes need the same seeds ({len(a)} vs {len(b)})")
        for sa, sb in zip(a, b, strict=True):
            if set(sa) != set(sb):
                raise ValueError("paired recipes need the same tasks in every seed")


def bootstrap(a: Scores, b: Scores | None = None, *, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% interval of mean(a) - mean(b) (or of mean(a) alone) by the paired two-level bootstrap above."""
    _check(a, b)
    rng = random.Random(seed)
    tasks = [sorted(s) for s in a]
    stats = []
    for _ in range(resamples):
        total = 0.0
        for _ in range(len(a)):
            k = rng.randrange(len(a)) if len(a) > 1 else 0
            ids = [tasks[k][rng.randrange(len(tasks[k]))] for _ in tasks[k]] if tasks[k] else []
            da = sum(a[k][t] for t in ids) / len(ids) if ids else 0.0
            db = (sum(b[k][t] for t in ids) / len(ids) if ids else 0.0) if b is not None else 0.0
            total += da - db
        stats.append(100 * total / len(a))
    stats.sort()
    return _percentile(stats, 0.025), _percentile(stats, 0.975)


def summary(per_seed: Scores) -> dict:
    """``{"mean", "ci95", "per_seed"}`` in percent, as results.json holds it."""
    lo, hi = bootstrap(per_seed)
    return {"mean": round(mean(per_seed), 2), "ci95": [round(lo, 2), round(hi, 2)],
            "per_seed": [round(100 * _task_mean(s), 2) for s in per_seed]}


def verdict(lo: float, hi: float, band: float = PRACTICALLY_ZERO) -> str:
    if lo > 0:
        return "reproduced"
    if hi < 0 or (-band <= lo and hi <= band):
        return "not reproduced"
    return "inconclusive"


def finding(a: Scores, b: Scores) -> dict:
    """One finding, A - B: the difference, its interval and the verdict by the module's rule."""
    lo, hi = bootstrap(a, b)
    return {"difference": round(mean(a) - mean(b), 2), "ci95": [round(lo, 2), round(hi, 2)],
            "verdict": verdict(lo, hi), "seeds": len(a)}


def findings(closed_single: Mapping[str, Scores]) -> dict:
    """Every finding whose two recipes were run, from each recipe's closed-book test_single scores."""
    out = {}
    for name, (a, b, what) in FINDINGS.items():
        if a in closed_single and b in closed_single:
            out[name] = {**finding(closed_single[a], closed_single[b]), "compares": what}
    return out
