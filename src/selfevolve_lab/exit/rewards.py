"""The reward of one step. Pure."""

from __future__ import annotations

from selfevolve_lab.exit.prompts import StepKind


def improvement(score: float, previous: float) -> float:
    """max(0, (r_k - r_{k-1}) / (1 - r_{k-1})): the share of the remaining gap closed. From a perfect
    previous attempt there is no gap; keeping it perfect earns its score."""
    if previous >= 1.0:
        return score
    return max(0.0, (score - previous) / (1.0 - previous))


def step_reward(score: float, *, kind: StepKind, previous: float | None, verifiable: bool) -> float:
    """The plain score for verifiable domains, first attempts and diverge steps; the improvement reward for
    an improve step in a continuous domain."""
    if verifiable or kind != "improve" or previous is None:
        return score
    return improvement(score, previous)
