"""SE-Bench's three findings, computed from per-task scores of the micro-world's recipes. Pure functions.

A recipe's result on a split is, per seed, each task's pass@1 (a fraction in [0, 1]). A finding is a
difference between two recipes (A - B) in closed-book test_single pass@1, in percentage points.

**Interval.** The design is crossed (every seed scores the same tasks), and so is the bootstrap
(`selfevolve_lab.evaluate.intervals.crossed`): each replicate resamples seeds and draws tasks once, shared by
every seed, with two pseudo-tasks at the ends of the range so that rare passes do not collapse the
interval to a point. A difference is resampled per cell (seed, task) of A - B, so both recipes get the
same draws and what they share cancels. 2000 replicates from a fixed generator: the same scores give the
same interval. With one seed only tasks are resampled: the interval then says nothing about the
variation between training runs, and the report says so.

**Verdict rule**, stated in the report:
* ``reproduced``: the interval lies entirely on the paper's side of zero (A > B);
* ``not reproduced``: the interval lies entirely on the other side (A < B), or entirely within
  ±``PRACTICALLY_ZERO`` points (the two recipes are measurably equal);
* ``inconclusive``: otherwise (the interval contains zero and is wider than that band);
* ``not tested``: either recipe scores exactly as the model it started from on every task, split, mode and
  seed (`unmoved`): at this budget it did not move, or did not train, so the difference measures its start
  (a Closed-RL that never left the base made "Closed-SFT - Closed-RL" read *reproduced*).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from selfevolve_lab.evaluate.intervals import RESAMPLES, crossed

Scores = Sequence[Mapping[str, float]]  # per seed: task id -> pass@1
PRACTICALLY_ZERO = 5.0  # percentage points

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


def _check(a: Scores, b: Scores | None) -> None:
    if not a:
        raise ValueError("no seeds")
    if any(set(s) != set(a[0]) for s in a):
        raise ValueError("every seed needs the same tasks (the design is crossed)")
    if b is not None:
        if len(a) != len(b):
            raise ValueError(f"paired recipes need the same seeds ({len(a)} vs {len(b)})")
        if any(set(s) != set(a[0]) for s in b):
            raise ValueError("paired recipes need the same tasks in every seed")


def bootstrap(a: Scores, b: Scores | None = None, *, resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% interval of mean(a) - mean(b) (or of mean(a) alone), in percent, by the crossed bootstrap above."""
    _check(a, b)
    tasks = sorted(a[0])
    if not tasks:  # an empty split: its mean is reported as 0 (`mean`), with nothing to resample
        return 0.0, 0.0
    x = np.array([[s[t] for t in tasks] for s in a], dtype=np.float64)
    if b is not None:
        x = x - np.array([[s[t] for t in tasks] for s in b], dtype=np.float64)
    lo, hi = crossed(x, low=-1.0 if b is not None else 0.0, high=1.0, resamples=resamples, seed=seed)
    return 100 * lo, 100 * hi


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


NOT_TESTED = "not tested"


def unmoved(per: Mapping[str, object], start_of: Mapping[str, str]) -> dict[str, str]:
    """The recipes whose scores (``per[recipe]``: every mode, split, seed and task) equal those of the
    model they started from (``start_of[recipe]``), each with the reason a finding on it is not tested."""
    return {r: f"{r} scores exactly as {start} on every task, split, mode and seed (it did not move at this budget)"
            for r, start in start_of.items() if r in per and start in per and per[r] == per[start]}


def findings(closed_single: Mapping[str, Scores], still: Mapping[str, str] | None = None) -> dict:
    """Every finding whose two recipes were run, from each recipe's closed-book test_single scores;
    ``still``: the `unmoved` recipes, whose findings are not tested."""
    out = {}
    for name, (a, b, what) in FINDINGS.items():
        if a in closed_single and b in closed_single:
            out[name] = {**finding(closed_single[a], closed_single[b]), "compares": what}
            why = [still[r] for r in (a, b) if r in (still or {})]
            if why:
                out[name].update(verdict=NOT_TESTED, why="; ".join(why))
    return out
