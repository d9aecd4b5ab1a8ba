"""The verl curriculum sampler: its verl-free core always, the verl class where verl is installed."""

from __future__ import annotations

import numpy as np
import pytest

from selfevolve.exit.verl_sampler import RowCurriculum, _row


def test_row_curriculum_scores_groups_and_children_inherit():
    c = RowCurriculum(4, capacity=10, min_size=2, p=1.0, kappa=2.0, seed=0)
    assert all(0 <= c.draw() < 4 for _ in range(50))  # empty buffer: base rows
    got = c.update(index=[0, 0, 1, 1], uid=["a", "a", "b", "b"], returns=[0.0, 1.0, 1.0, 1.0])
    assert got == {"a": pytest.approx(1.0), "b": 0.0}
    assert c.buffer.score_of(_row(0).id) == pytest.approx(1.0)
    # rows 7 and 8 were appended by the dataset as children of row 0 and row 1: they inherit
    assert c.grow(7, 0) and c.grow(8, 1) and not c.grow(9, 3)  # row 3 was never measured
    assert c.buffer.score_of(_row(7).id) == pytest.approx(1.0) and c.buffer.score_of(_row(8).id) == 0.0
    draws = [c.draw() for _ in range(4000)]
    assert set(draws) == {0, 1, 7, 8}  # p = 1 and B_min reached: buffer rows only, by index
    w = np.exp(2.0 * np.array([1.0, 0.0, 1.0, 0.0]))
    assert abs(draws.count(7) / 4000 - w[2] / w.sum()) < 0.03
    c.update(index=[7, 7], uid=["c", "c"], returns=[0.5, 0.5])  # measured: its own S now
    assert c.buffer.score_of(_row(7).id) == 0.0


def test_verl_sampler_class():
    pytest.importorskip("verl")
    from selfevolve.exit.verl_sampler import ExItSampler

    s = ExItSampler(list(range(5)), {"sampler": {"exit": {"min_size": 0, "p": 0.5}}})
    assert len(s) == 5 and all(0 <= i < 5 for i in s)
