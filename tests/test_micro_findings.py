"""The findings' statistics: intervals, the verdict rule and its edges, on scores built by hand."""

from __future__ import annotations

import random

import numpy as np
import pytest

from selfevolve_lab.micro import findings as F


def _scores(rate: float, seeds: int = 3, tasks: int = 48, seed: int = 0) -> list[dict[str, float]]:
    rng = random.Random(seed)
    return [{f"t{i}": float(rng.random() < rate) for i in range(tasks)} for _ in range(seeds)]


def test_mean_is_over_seeds_of_the_mean_over_tasks():
    assert F.mean([{"a": 1.0, "b": 0.0}, {"a": 1.0, "b": 1.0}]) == pytest.approx(75.0)


def test_a_clear_gap_is_reproduced_and_its_reverse_is_not():
    hi, lo = _scores(0.8, seed=1), _scores(0.1, seed=2)
    f = F.finding(hi, lo)
    assert f["verdict"] == "reproduced" and f["ci95"][0] > 0 and f["difference"] > 50
    assert F.finding(lo, hi)["verdict"] == "not reproduced"


def test_identical_recipes_are_measurably_equal():
    # with enough tasks: 48 tasks with no difference cannot rule out one of 5 points (next test)
    a = _scores(0.5, tasks=400, seed=3)
    f = F.finding(a, a)
    assert f["difference"] == 0 and -1 < f["ci95"][0] < 0 < f["ci95"][1] < 1 and f["verdict"] == "not reproduced"


def test_no_difference_on_a_few_tasks_is_not_an_interval_of_zero_width():
    # 0 of 48 tasks differing is compatible with a true difference of several points (the exact binomial
    # bound on the rate is 7.4%): the interval says so instead of collapsing to [0, 0]
    a = _scores(0.5, seed=3)
    lo, hi = F.bootstrap(a, a)
    assert -8 < lo <= -4 and 4 <= hi < 8
    assert F.summary([{f"t{i}": 0.0 for i in range(48)}])["ci95"][1] >= 4
    assert F.summary([{f"t{i}": 1.0 for i in range(48)}])["ci95"] == [pytest.approx(F.summary(
        [{f"t{i}": 1.0 for i in range(48)}])["ci95"][0]), 100.0]


def test_a_small_noisy_gap_is_inconclusive():
    a, b = _scores(0.5, seeds=2, tasks=20, seed=4), _scores(0.45, seeds=2, tasks=20, seed=5)
    lo, hi = F.bootstrap(a, b)
    assert lo < 0 < hi and hi - lo > 2 * F.PRACTICALLY_ZERO
    assert F.finding(a, b)["verdict"] == "inconclusive"


def test_the_verdict_rule_at_its_boundaries():
    assert F.verdict(0.01, 30) == "reproduced"
    assert F.verdict(0.0, 30) == "inconclusive"
    assert F.verdict(-30, -0.01) == "not reproduced"
    assert F.verdict(-F.PRACTICALLY_ZERO, F.PRACTICALLY_ZERO) == "not reproduced"
    assert F.verdict(-F.PRACTICALLY_ZERO - 0.1, 1) == "inconclusive"


def test_the_interval_is_paired_what_both_recipes_share_cancels():
    base = _scores(0.5, seeds=3, tasks=96, seed=6)
    shifted = [{t: min(1.0, v + (1.0 if t in ("t0", "t1", "t2") else 0.0)) for t, v in s.items()} for s in base]
    lo, hi = F.bootstrap(shifted, base)
    unpaired_lo, unpaired_hi = F.bootstrap(shifted)
    assert lo < 0 < hi and (lo + hi) / 2 > 0  # 3 tasks gain, none loses; the pseudo-tasks keep a small loss possible
    assert hi - lo < (unpaired_hi - unpaired_lo) / 2
    # exactly: the interval depends only on the per-cell differences, not on what both recipes score alike
    other = _scores(0.3, seeds=3, tasks=96, seed=7)
    other_shifted = [{t: o[t] + s[t] - b[t] for t in o} for o, s, b in zip(other, shifted, base, strict=True)]
    assert F.bootstrap(other_shifted, other) == pytest.approx((lo, hi))


def test_the_same_scores_give_the_same_interval():
    a, b = _scores(0.6, seed=7), _scores(0.4, seed=8)
    assert F.finding(a, b) == F.finding(a, b)


def test_findings_reports_only_what_was_run_and_names_the_comparison():
    out = F.findings({"closed_sft": _scores(0.9, seed=9), "open_sft": _scores(0.05, seed=10)})
    assert set(out) == {"open_book_paradox"}
    assert out["open_book_paradox"]["verdict"] == "reproduced" and "Closed-SFT" in out["open_book_paradox"]["compares"]


def test_summary_shape():
    s = F.summary(_scores(0.5, seed=11))
    assert set(s) == {"mean", "ci95", "per_seed"} and len(s["per_seed"]) == 3
    assert s["ci95"][0] <= s["mean"] <= s["ci95"][1]


@pytest.mark.parametrize("a,b", [([], None), ([{"x": 1.0}], [{"x": 1.0}, {"x": 0.0}]), ([{"x": 1.0}], [{"y": 1.0}]),
                                 ([{"x": 1.0}, {"y": 1.0}], None)])
def test_unpaired_inputs_are_refused(a, b):
    with pytest.raises(ValueError):
        F.bootstrap(a, b)


def test_every_interval_stays_in_its_range():
    ones, zeros = [{f"t{i}": 1.0 for i in range(48)}] * 3, [{f"t{i}": 0.0 for i in range(48)}] * 3
    for per_seed in (ones, zeros, _scores(0.97, seed=12), _scores(0.02, seed=13)):
        lo, hi = F.bootstrap(per_seed)
        assert 0 <= lo <= F.mean(per_seed) <= hi <= 100
    for a, b in ((ones, zeros), (zeros, ones), (_scores(0.99, seed=14), _scores(0.01, seed=15))):
        lo, hi = F.bootstrap(a, b)
        assert -100 <= lo <= F.mean(a) - F.mean(b) <= hi <= 100
    assert F.bootstrap(ones, zeros)[1] == 100 and F.bootstrap(zeros, ones)[0] == -100


# ---------------------------------------------------------------- coverage in the micro-world's design
SEEDS, TASKS, EXPERIMENTS = 3, 48, 300


def _sigmoid_mean(shift: float, sd: float) -> float:
    """E[sigmoid(shift + sd * Z)], Z standard normal, by Gauss-Hermite quadrature."""
    z, w = np.polynomial.hermite_e.hermegauss(96)
    return float(np.sum(w / (1 + np.exp(-(shift + sd * z)))) / np.sqrt(2 * np.pi))


def _shared(rng):
    """Greedy scoring: a task passes in every seed or in none; A passes a few tasks, B fewer."""
    a, b = rng.random(TASKS) < 0.08, rng.random(TASKS) < 0.02
    return np.tile(a, (SEEDS, 1)), np.tile(b, (SEEDS, 1)), 100 * (0.08 - 0.02)


def _noisy(rng):
    """A smooth task difficulty shared by both recipes; every seed draws each task's pass on its own."""
    u = rng.normal(0, 1.5, TASKS)
    pa, pb = 1 / (1 + np.exp(-(0.5 + u))), 1 / (1 + np.exp(-(0.2 + u)))
    return rng.random((SEEDS, TASKS)) < pa, rng.random((SEEDS, TASKS)) < pb, NOISY_TRUTH


NOISY_TRUTH = 100 * (_sigmoid_mean(0.5, 1.5) - _sigmoid_mean(0.2, 1.5))


def _as_scores(x) -> list[dict[str, float]]:
    return [{f"t{i}": float(v) for i, v in enumerate(row)} for row in x]


def _coverage(draw) -> tuple[float, float]:
    """(coverage of the truth, mean width / the width the estimate's own spread needs) over the experiments."""
    rng = np.random.default_rng(2024)
    hits, widths, estimates = 0, [], []
    for _ in range(EXPERIMENTS):
        a, b, truth = draw(rng)
        lo, hi = F.bootstrap(_as_scores(a), _as_scores(b))
        hits += lo <= truth <= hi
        widths.append(hi - lo)
        estimates.append(100 * (a.mean() - b.mean()))
    return hits / EXPERIMENTS, float(np.mean(widths) / (2 * 1.96 * np.std(estimates)))


@pytest.mark.parametrize("regime,draw", [("shared", _shared), ("noisy", _noisy)])
def test_the_interval_covers_the_truth_in_the_micro_worlds_design(regime, draw):
    coverage, width = _coverage(draw)
    print(f"{regime}: coverage {coverage:.3f}, width {width:.2f}x the estimate's spread")
    assert coverage >= 0.92
    assert width < 2.0  # conservative, not uninformative


def test_a_finding_on_a_recipe_that_did_not_move_is_not_tested():
    """Closed-RL that scores as the base on every task (its training did not move it at this budget, or it
    never trained) made "Closed-SFT - Closed-RL" read *reproduced*: now *not tested*, with the reason."""
    base = {"closed": {"test_single": _scores(0.0, seed=1)}, "open": {"test_single": _scores(0.9, seed=2)}}
    moved = {"closed": {"test_single": _scores(0.1, seed=3)}, "open": {"test_single": _scores(0.9, seed=2)}}
    sft = {"closed": {"test_single": _scores(0.9, seed=4)}, "open": {"test_single": _scores(0.9, seed=5)}}
    per = {"base": base, "closed_sft": sft, "closed_rl": base, "open_sft": moved}
    still = F.unmoved(per, {"closed_sft": "base", "closed_rl": "base", "open_sft": "base"})
    assert set(still) == {"closed_rl"} and "closed_rl scores exactly as base" in still["closed_rl"]
    out = F.findings({r: p["closed"]["test_single"] for r, p in per.items()}, still)
    assert out["rl_gap"]["verdict"] == F.NOT_TESTED and "did not move" in out["rl_gap"]["why"]
    assert out["rl_gap"]["difference"] > 80  # the number is still shown, for what it is
    assert out["open_book_paradox"]["verdict"] == "reproduced" and "why" not in out["open_book_paradox"]
