"""The judge end to end on the real NumPy bench (the `numpy_bench` fixture): reference solutions written
with the novel names from the bench's mapping pass; the same solutions with the original names, decorative
package use and reaching into the package's internals are rejected with the right status."""

from __future__ import annotations

import pytest

from selfevolve_lab.judge import Judge
from selfevolve_lab.sandbox.protocol import to_tagged
from selfevolve_lab.schema import Task, TestCase


def _attr(bench, original: str) -> str:
    return bench.mapping[original].rsplit(".", 1)[-1]


def _arr(rows: list, dtype: str = "f8") -> dict:
    shape = [len(rows), len(rows[0])] if rows and isinstance(rows[0], list) else [len(rows)]
    return {"$array": {"dtype": dtype, "shape": shape, "data": rows}}


@pytest.fixture(scope="module")
def names(numpy_bench):
    b = numpy_bench
    linalg_mod, inv = b.mapping["numpy.linalg.inv"].split(".")[1:]
    return {"abs": _attr(b, "numpy.abs"), "tolist": _attr(b, "numpy.ndarray.tolist"),
            "mean": _attr(b, "numpy.mean"), "cumsum": _attr(b, "numpy.cumsum"), "linalg": linalg_mod, "inv": inv,
            "array": _attr(b, "numpy.array")}


@pytest.fixture(scope="module")
def tasks(names):
    n = names
    abs_task = Task(
        id="np/abs", kind="single", apis=[f"zwc.{n['abs']}"], prompt="Absolute values as a list.",
        entry_point="solve", signature="def solve(x):",
        reference=f"import zwc\ndef solve(x):\n    return zwc.{n['abs']}(x).{n['tolist']}()\n",
        tests=[TestCase(input={"x": to_tagged(x)}, output=to_tagged([abs(v) for v in x]))
               for x in ([-1, 2, -3], [0.5, -2.5], [7])])
    inv_task = Task(
        id="np/inv", kind="single", apis=[f"zwc.{n['linalg']}.{n['inv']}"], prompt="Invert a matrix.",
        entry_point="invert", signature="def invert(m):",
        reference=f"from zwc.{n['linalg']} import {n['inv']}\ndef invert(m):\n    return {n['inv']}(m)\n",
        tests=[TestCase(input={"m": to_tagged([[2.0, 0.0], [0.0, 4.0]])}, output=_arr([[0.5, 0.0], [0.0, 0.25]])),
               TestCase(input={"m": to_tagged([[1.0, 2.0], [3.0, 4.0]])},
                        output=_arr([[-2.0, 1.0], [1.5, -0.5]]))])
    mean_task = Task(
        id="np/centered", kind="multi", apis=[f"zwc.{n['mean']}", f"zwc.{n['cumsum']}"],
        prompt="Cumulative sum of the values minus their mean, as a list.", entry_point="centered_cumsum",
        signature="def centered_cumsum(x):",
        reference=(f"import zwc as z\ndef centered_cumsum(x):\n    a = z.{n['array']}(x)\n"
                   f"    return z.{n['cumsum']}(a - z.{n['mean']}(a)).{n['tolist']}()\n"),
        tests=[TestCase(input={"x": to_tagged([1.0, 2.0, 3.0])}, output=to_tagged([-1.0, -1.0, 0.0])),
               TestCase(input={"x": to_tagged([4, 4])}, output=to_tagged([0.0, 0.0]))])
    return {t.id: t for t in (abs_task, inv_task, mean_task)}


@pytest.fixture(scope="module")
def judge(numpy_bench):
    with Judge(numpy_bench, workers=2) as j:
        yield j


def test_references_pass(judge, tasks):
    items = [(t, f"```python\n{t.reference}```", 0) for t in tasks.values()]
    verdicts = {v.task_id: v for v in judge.judge_many(items, progress=True)}
    assert set(verdicts) == set(tasks)
    for v in verdicts.values():
        assert v.status == "passed", v
        assert v.tests and all(r.passed for r in v.tests)
        assert v.timings["total"] > 0


@pytest.mark.parametrize("key,completion,status", [
    ("np/abs", "import numpy as np\ndef solve(x):\n    return np.abs(x).tolist()\n", "uses_original_library"),
    ("np/inv", "import numpy\ndef invert(m):\n    return numpy.linalg.inv(m)\n", "uses_original_library"),
    ("np/abs", "import zwc\ndef solve(x):\n    zwc.{abs}(x)\n    return [abs(v) for v in x]\n", "not_using_package"),
    ("np/abs", "import zwc\ndef solve(x):\n    a = zwc.{array}(zwc.{array}(x))\n    return [abs(v) for v in x]\n",
     "not_using_package"),
    ("np/abs", "import zwc\ndef solve(x):\n    return zwc._impl.abs(x).tolist()\n", "uses_original_library"),
    ("np/abs", "import zwc\ndef solve(x):\n    return zwc.{abs}(x)\n", "wrong_answer"),  # an array, not a list
    ("np/abs", "import zwc\ndef solve(x):\n    return zwc.{abs}(x).{tolist}()[::-1]\n", "wrong_answer"),
    ("np/inv", "from zwc import {linalg} as L\ndef invert(m):\n    return L.{inv}(m).{tolist}()\n", "wrong_answer"),
    ("np/inv", "import zwc\ndef invert(m):\n    return zwc.{linalg}.{inv}([[1.0, 1.0], [1.0, 1.0]])\n",
     "runtime_error"),  # a singular matrix: the package's own error type
    ("np/abs", "The answer is to take absolute values.", "no_code"),
])
def test_rejections(judge, tasks, names, key, completion, status):
    v = judge.judge(tasks[key], completion.format(**names), sample_idx=1)
    assert v.status == status, v
    assert v.task_id == key and v.sample_idx == 1 and v.passed is False


def test_reward_on_real_bench(judge, tasks, names):
    t = tasks["np/abs"]
    good = f"import zwc as z\ndef solve(x):\n    return z.{names['abs']}(x).{names['tolist']}()\n"
    assert judge.reward([good, "def solve(x):\n    return x\n"], [t, t]) == [1.0, 0.0]
    chat = [[{"role": "assistant", "content": good}], [{"role": "assistant", "content": "no idea"}], []]
    assert judge.reward(chat, [t, t, t]) == [1.0, 0.0, 0.0]  # TRL's conversational completions
