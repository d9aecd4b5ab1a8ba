"""Hostile model text: no scorer runs it on the trusted side, and untrusted inputs never crash or hang."""

from __future__ import annotations

import time

import pytest

from selfevolve.exit.domain import Instance


@pytest.fixture(scope="module")
def math_domain():
    from selfevolve.exit.domains.math import MathDomain

    return MathDomain(size=4)


def test_math_countdown_never_evaluates_model_text(math_domain, tmp_path):
    d = math_domain
    task = next(t for t in d.tasks("train") if t.id.startswith("countdown"))
    entry = d._dataset("countdown", task.data["seed"])[task.data["index"]]
    marker = tmp_path / "pwned"
    payloads = [f"__import__('os').system('touch {marker}')",
                f"__import__('pathlib').Path('{marker}').touch()",
                "30*False+" + "+".join(str(n) for n in entry["metadata"]["numbers"]) + "+ord('~')",
                "9**9**8", "9" * 5000, "(" * 500 + "1" + ")" * 500, "1e999*0+" + entry["answer"],
                "+".join(["1"] * 200), "[1]", "x+1", "True", "'1'", "1 if 1 else 2", "1//1", "2**3"]
    for p in payloads:
        t0 = time.monotonic()
        s, feedback = d.score_many([(Instance(task), f"<answer>{p}</answer>")])[0]
        assert s == 0.0 and feedback and time.monotonic() - t0 < 1.0, p
    assert not marker.exists()
    assert d.score_many([(Instance(task), f"<answer>{entry['answer']}</answer>")])[0] == (1.0, "correct")


def test_safe_eval():
    from fractions import Fraction

    from selfevolve.exit.domains.math import UnsafeExpression, int_literals, safe_eval

    assert safe_eval("49*(85 - 1)/14 - 42 - 73") == 179 and safe_eval("-(1.5) + +2") == Fraction(1, 2)
    assert safe_eval("7/2") == Fraction(7, 2) and int_literals("3*(4-1.0)") == [3, 4]
    for bad in ("1/0", "2**2", "a", "f(1)", "1e400", "99999999999999999999*99999999999999999999", "True + 1",
                "1 < 2", "(1, 2)", "-" * 300 + "1", ""):
        with pytest.raises(UnsafeExpression):
            safe_eval(bad)


def test_math_numeric_families_compare_numbers(math_domain):
    d = math_domain
    for family in ("basic_arithmetic", "chain_sum"):
        task = next(t for t in d.tasks("train") if t.id.startswith(family))
        answer = d._dataset(family, task.data["seed"])[task.data["index"]]["answer"]
        right = [answer, f"+0{answer}.00" if not answer.startswith("-") else f"{answer}.0"]
        wrong = [f"{answer} + 0", f"({answer})", "1" * 5000, "1e999999999", "__import__('os')", f"{answer}0"]
        got = d.score_many([(Instance(task), f"<answer>{r}</answer>") for r in right + wrong])
        assert [s for s, _ in got] == [1.0] * len(right) + [0.0] * len(wrong), family


def test_math_families_are_ours_and_splits_disjoint():
    from selfevolve.errors import UserError
    from selfevolve.exit.domains.math import MathDomain

    with pytest.raises(UserError):  # a family whose verifier we have not vetted
        MathDomain(families=("basic_arithmetic", "polynomial_equations"))
    d = MathDomain(families=("chain_sum",), size=8)
    assert {t.prompt for t in d.tasks("train")}.isdisjoint(t.prompt for t in d.tasks("test"))
