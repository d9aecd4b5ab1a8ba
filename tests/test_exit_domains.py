"""Each ExIt domain scores right answers high, and bad responses 0 with feedback, without crashing."""

from __future__ import annotations

import pytest

from exit_fixtures import BAD, HALF, LOOP, SOLVED, bench_with_tasks
from selfevolve_lab.exit.domain import Domain, Instance
from selfevolve_lab.sandbox import Limits


def _bad_responses_score_zero(domain, inst, loop: str):
    cases = dict(BAD, loop=loop)
    got = domain.score_many([(inst, r) for r in cases.values()])
    for (what, _), (s, feedback) in zip(cases.items(), got, strict=True):
        assert s == 0.0 and feedback.strip(), what
    return dict(zip(cases, got, strict=True))


def test_math_domain():
    from selfevolve_lab.exit.domains.math import MathDomain, extract_answer

    d = MathDomain(size=4)
    assert isinstance(d, Domain) and d.verifiable
    train, test = d.tasks("train"), d.tasks("test")
    assert len(train) == 12 and {t.id for t in train}.isdisjoint(t.id for t in test)
    ds = d._dataset("basic_arithmetic", 1)
    inst = Instance(train[0])
    right = f"Let me think.\n<answer>{ds[0]['answer']}</answer>"
    assert d.score_many([(inst, right)]) == [(1.0, "correct")]
    assert d.score_many([(inst, "<answer>123456789</answer>")])[0][0] == 0.0
    _bad_responses_score_zero(d, inst, "while True: pass")
    countdown = next(t for t in train if t.id.startswith("countdown"))
    assert d.score_many([(Instance(countdown), "<answer>garbage (</answer>")])[0][0] == 0.0  # verifier says 0.01
    assert extract_answer("work\nAnswer: 42\n") == "42"


def test_sebench_domain(mini_bench, tmp_path):
    from selfevolve_lab.exit.domains.sebench import SEBenchDomain
    from selfevolve_lab.judge import Judge

    bench = bench_with_tasks(mini_bench, tmp_path / "b")
    with Judge(bench, workers=2, limits=Limits(cpu_s=1.0, wall_s=2.0)) as judge:
        d = SEBenchDomain(bench, judge=judge)
        assert isinstance(d, Domain) and not d.verifiable
        tasks = d.tasks("train")
        assert len(tasks) == 3 and "def solve(x):" in tasks[0].prompt and len(d.tasks("test")) == 2
        inst = Instance(tasks[0])
        (s1, f1), (s2, f2) = d.score_many([(inst, SOLVED), (inst, HALF)])
        assert (s1, f1) == (1.0, "passed: all 4 tests pass")
        assert s2 == 0.75 and f2.startswith("wrong_answer: 3/4 tests pass. First failing input: x=[0, -5].")
        assert f2.endswith("Expected [0, 5], got [0, -5].")
        out = _bad_responses_score_zero(d, inst, LOOP)
        assert out["loop"][1].startswith("timeout") and out["empty"][1].startswith("no_code")
        boom = "```python\nimport zwc\n\ndef solve(x):\n    return zwc.falekef(x).gifune()[99]\n```"
        s, f = d.score_many([(inst, boom)])[0]
        assert s == 0.0 and "Error:" in f and "IndexError" in f
        v = SEBenchDomain(bench, judge=judge, verifiable=True)
        v.tasks("train")
        assert [s for s, _ in v.score_many([(inst, SOLVED), (inst, HALF)])] == [1.0, 0.0]


@pytest.fixture(scope="module")
def mle():
    from selfevolve_lab.exit.domains.mle import MLEDomain

    d = MLEDomain(("iris", "diabetes"), workers=2, limits=Limits(cpu_s=3.0, wall_s=4.0, memory_mb=3072))
    yield d
    d.close()


def test_mle_domain(mle):
    from selfevolve_lab.exit.domains.mle import metric

    tasks = mle.tasks("train")
    assert len(tasks) == 8 and len(mle.tasks("test")) == 4 and "fit_predict(X_train, y_train, X_test)" in tasks[0].prompt
    iris, diabetes = Instance(tasks[0]), Instance(tasks[4])
    forest = ("```python\ndef fit_predict(X_train, y_train, X_test):\n"
              "    from sklearn.ensemble import RandomForestClassifier\n"
              "    return RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)"
              ".predict(X_test).tolist()\n```")
    ridge = ("```python\nimport numpy as np\nfrom sklearn.linear_model import Ridge\n\n"
             "def fit_predict(X_train, y_train, X_test):\n    return Ridge(alpha=0.1).fit(X_train, y_train).predict(X_test)\n```")
    constant = "```python\ndef fit_predict(X_train, y_train, X_test):\n    return [0] * len(X_test)\n```"
    short = "```python\ndef fit_predict(X_train, y_train, X_test):\n    return [0]\n```"
    (s1, f1), (s2, f2), (s3, _), (s4, f4) = mle.score_many([(iris, forest), (diabetes, ridge), (iris, constant),
                                                            (iris, short)])
    assert s1 > 0.8 and f1.startswith("validation accuracy")
    assert 0.2 < s2 < 0.8 and f2.startswith("validation R²")
    assert s3 == 0.0 and s4 == 0.0 and "1 predictions for 61 rows" in f4  # 23 validation + 38 test rows
    loop = "```python\ndef fit_predict(X_train, y_train, X_test):\n    while True:\n        pass\n```"
    out = _bad_responses_score_zero(mle, iris, loop)
    assert out["loop"][1].startswith("timeout")
    import numpy as np

    y = np.array([0, 1, 1, 1])
    assert metric("classification", y, y) == (1.0, 1.0)
    assert metric("classification", y, np.array([1, 1, 1, 1])) == (0.75, 0.0)
    assert metric("classification", y, np.array([0, 0, 1, 1]))[1] == pytest.approx((0.75 - 0.75) / 0.25)
    assert metric("regression", np.array([1.0, 2.0, 3.0]), np.array([2.0, 2.0, 2.0])) == (0.0, 0.0)
