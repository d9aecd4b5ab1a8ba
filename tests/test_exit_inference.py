"""K-step inference: the feedback a chain sees comes from tests its curve never scores, and the curve's
intervals cluster the chains of a task and stay in [0, 1]."""

from __future__ import annotations

import pytest

from exit_fixtures import HALF, SOLVED, abs_task, bench_with_tasks
from selfevolve_lab.exit import inference
from selfevolve_lab.exit.domain import BaseTask, Domain, HeldOut, Instance
from selfevolve_lab.sandbox import Limits

# right on every list but one of length 1: wrong only on the fixture's test x=[4], a scored one
NOT_ON_ONE = ("```python\nimport zwc\n\ndef solve(x):\n    if len(x) == 1:\n        return []\n"
              "    return zwc.falekef(x).gifune()\n```")


def test_split_tests_keeps_one_of_each_and_scores_a_lone_test():
    from selfevolve_lab.exit.domains.sebench import split_tests

    assert split_tests(0) == ([], []) and split_tests(1) == ([], [0]) and split_tests(2) == ([1], [0])
    for n in range(2, 12):
        shown, scored = split_tests(n)
        assert shown and len(scored) >= len(shown) and sorted(shown + scored) == list(range(n))


def test_sebench_feedback_comes_from_shown_tests_and_the_score_from_the_others(mini_bench, tmp_path):
    from selfevolve_lab.exit.domains.sebench import SEBenchDomain
    from selfevolve_lab.judge import Judge

    bench = bench_with_tasks(mini_bench, tmp_path / "b")  # 4 tests: x=[-1, 2, -3], [0, -5], [4], [-7, -8, 9, 10]
    with Judge(bench, workers=2, limits=Limits(cpu_s=1.0, wall_s=2.0)) as judge:
        d = SEBenchDomain(bench, judge=judge)
        assert isinstance(d, HeldOut)
        inst = Instance(d.tasks("test")[0])
        # training sees every test: the failing one's expected output is in the feedback
        (s, f), = d.score_many([(inst, NOT_ON_ONE)])
        assert s == 0.75 and "x=[4]" in f and "Expected [4]" in f
        # held out: x=[4] is scored, never shown; the shown tests (x=[0, -5], [-7, -8, 9, 10]) all pass
        (s, f), (s_half, f_half), (s_ok, f_ok), (s_bad, f_bad) = d.score_held_out(
            [(inst, NOT_ON_ONE), (inst, HALF), (inst, SOLVED), (inst, "no code here")])
        assert (s, f) == (0.5, "passed: all 2 tests pass")
        assert s_half == 1.0 and f_half.startswith("wrong_answer: 1/2 tests pass. First failing input: x=[0, -5].")
        assert (s_ok, f_ok) == (1.0, "passed: all 2 tests pass")
        assert s_bad == 0.0 and f_bad.startswith("no_code")
        v = SEBenchDomain(bench, judge=judge, verifiable=True)
        v.tasks("test")
        assert [s for s, _ in v.score_held_out([(inst, NOT_ON_ONE), (inst, HALF)])] == [0.0, 1.0]
        # a task with one test: it is scored, and the feedback shows nothing of it
        lone = abs_task(9, [[-3, 4]])
        d._tasks[lone.id] = lone
        one = Instance(BaseTask(lone.id, lone.prompt, {"task_id": lone.id}))
        (s1, f1), (s0, f0) = d.score_held_out([(one, SOLVED), (one, HALF)])
        assert s1 == 1.0 and s0 == 0.0 and f1 == f0 and f1.startswith("no visible tests")


class _TwoFaced:
    """A domain whose training feedback and held-out feedback differ, to see which one a chain is shown."""

    name, verifiable = "two-faced", False

    def tasks(self, split):
        return [BaseTask(f"t{i}", f"task {i}") for i in range(2)]

    def score_many(self, items):
        return [(0.25, "TRAINING FEEDBACK") for _ in items]

    def score_held_out(self, items):
        return [(0.75, f"shown feedback {i.depth}") for i, _ in items]

    def close(self):
        pass


class _NoSplit(_TwoFaced):
    score_held_out = None  # type: ignore[assignment]


def test_iterate_shows_held_out_feedback_and_scores_held_out():
    seen: list[str] = []

    def generate(chats, seed):
        seen.extend(c[0]["content"] for c in chats)
        return ["answer"] * len(chats)

    dom = _TwoFaced()
    assert isinstance(dom, Domain) and inference.scored_on(dom) == inference.HELD_OUT
    trajs = inference.iterate(dom, generate, dom.tasks("test"), steps=2, samples=2)
    assert all(t.scores == [0.75] * 3 for t in trajs) and len(trajs) == 4
    assert not any("TRAINING" in p for p in seen) and sum("shown feedback 1" in p for p in seen) == 4
    assert not isinstance(_NoSplit(), HeldOut) and inference.scored_on(_NoSplit()) == inference.SAME


def _trajs(scores_by_task: dict[str, list[float]]) -> list[inference.Trajectory]:
    return [inference.Trajectory(task, i, [s], ["f"]) for task, scores in scores_by_task.items()
            for i, s in enumerate(scores)]


def test_the_interval_clusters_chains_by_task():
    # 2 tasks x 50 identical chains are 2 observations, not 100: the interval must say so
    (rec,) = inference.curve(_trajs({"a": [1.0] * 50, "b": [0.0] * 50}))
    assert rec["mean"] == 0.5 and rec["n"] == 100 and rec["tasks"] == 2
    assert rec["ci95"][0] < 0.25 and rec["ci95"][1] > 0.75
    # spread inside a task is not evidence about other tasks either
    many = {f"t{i}": [1.0] * 3 for i in range(20)}
    narrow = inference.curve(_trajs(many))[0]["ci95"]
    assert narrow[1] == 1.0 and narrow[0] > 0.8


def test_the_interval_stays_in_0_1():
    # the t-interval printed 0.875 [0.579, 1.171] for 7 right of 8
    (rec,) = inference.curve(_trajs({f"t{i}": [1.0 if i < 7 else 0.0] for i in range(8)}))
    assert rec["mean"] == 0.875 and 0 <= rec["ci95"][0] <= 0.875 <= rec["ci95"][1] <= 1
    for values in ([0.0] * 8, [1.0] * 8, [0.5] * 8, [1.0]):
        (rec,) = inference.curve(_trajs({f"t{i}": [v] for i, v in enumerate(values)}))
        assert 0 <= rec["ci95"][0] <= rec["mean"] <= rec["ci95"][1] <= 1


@pytest.mark.parametrize("depth,step", [(0.0, 1), (0.4, 1), (0.79, 1), (1.0, 2), (1.5, 2)])
def test_the_first_step_beyond_the_training_depth(depth, step):
    from selfevolve_lab.micro.exit_world import beyond_depth

    assert beyond_depth(depth) == step
