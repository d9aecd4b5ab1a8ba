"""The findings' statistics: intervals, the verdict rule and its edges, on scores built by hand."""

from __future__ import annotations

import random

import pytest

from selfevolve.micro import findings as F


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
    a = _scores(0.5, seed=3)
    f = F.finding(a, a)
    assert f["difference"] == 0 and f["ci95"] == [0, 0] and f["verdict"] == "not reproduced"


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
    base = _scores(0.5, seeds=3, seed=6)
    shifted = [{t: min(1.0, v + (1.0 if t in ("t0", "t1", "t2") else 0.0)) for t, v in s.items()} for s in base]
    lo, hi = F.bootstrap(shifted, base)
    unpaired_lo, unpaired_hi = F.bootstrap(shifted)
    assert 0 <= lo <= hi  # every task scores at least as well in `shifted`, in every resample
    assert hi - lo < (unpaired_hi - unpaired_lo) / 2


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


@pytest.mark.parametrize("a,b", [([], None), ([{"x": 1.0}], [{"x": 1.0}, {"x": 0.0}]), ([{"x": 1.0}], [{"y": 1.0}])])
def test_unpaired_inputs_are_refused(a, b):
    with pytest.raises(ValueError):
        F.bootstrap(a, b)
