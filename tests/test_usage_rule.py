"""The usage rule defined by behaviour, on the real NumPy bench: every laundering of the static check,
every door to the original library and every lie through the result channel from issue 12 (and variants
of each) is judged as it should be; honest solutions, also through an alias, a method or an operator of
the task's API, pass; crashes of the trusted checks become one verdict each.

Code is written with placeholders ({abs}, {array}, ...) that the bench's mapping fills in.
"""

from __future__ import annotations

import concurrent.futures as cf
import time

import pytest

from selfevolve_lab.judge import Judge
from selfevolve_lab.judge.usage import apply_usage_rule, probe_index, probe_point
from selfevolve_lab.sandbox import Limits, RunRequest, RunResult
from selfevolve_lab.sandbox.perturb import Perturbation
from selfevolve_lab.sandbox.pool import TestOutcome
from selfevolve_lab.sandbox.protocol import to_tagged
from selfevolve_lab.schema import Task, TestCase, Verdict

ORIGINALS = {"abs": "numpy.abs", "absolute": "numpy.absolute", "array": "numpy.array", "tolist": "numpy.ndarray.tolist",
             "sum": "numpy.sum", "asum": "numpy.ndarray.sum", "add": "numpy.add", "sqrt": "numpy.sqrt",
             "square": "numpy.square", "ravel": "numpy.ravel", "reshape": "numpy.ndarray.reshape",
             "multiply": "numpy.multiply", "seed": "numpy.random.seed", "rand": "numpy.random.random_sample",
             "maximum": "numpy.maximum", "negative": "numpy.negative", "sign": "numpy.sign", "fabs": "numpy.fabs",
             "cumsum": "numpy.cumsum", "dot": "numpy.dot", "ones": "numpy.ones", "mean": "numpy.mean",
             "subtract": "numpy.subtract"}


@pytest.fixture(scope="module")
def n(numpy_bench):
    m = numpy_bench.mapping
    names = {k: m[v].rsplit(".", 1)[-1] for k, v in ORIGINALS.items()}
    names["random"] = m["numpy.random.seed"].split(".")[1]
    return names


def _task(tid, api, reference, cases, entry="solve", args="x"):
    return Task(id=tid, kind="single", apis=[api], prompt="p", entry_point=entry, signature=f"def {entry}({args}):",
                reference=reference, tests=[TestCase(input={k: to_tagged(v) for k, v in i.items()}, output=to_tagged(o))
                                            for i, o in cases])


@pytest.fixture(scope="module")
def tasks(numpy_bench, n):
    m = numpy_bench.mapping
    xs = [[-1.5, 2.0, -3.25], [0.5, -2.5], [7.0, -8.0, 9.5, -0.25], [-4.0]]
    abs_task = _task("u/abs", m["numpy.abs"], f"import zwc\ndef solve(x):\n    return zwc.{n['abs']}(x).{n['tolist']}()\n",
                     [({"x": x}, [abs(v) for v in x]) for x in xs])
    sum_task = _task("u/sum", m["numpy.sum"], f"import zwc\ndef solve(x):\n    return float(zwc.{n['sum']}(x))\n",
                     [({"x": x}, sum(x)) for x in xs])
    pairs = [([1.0, 2.0], [0.5, -4.0]), ([3.0], [4.25]), ([-1.0, -2.0, 5.0], [1.0, 1.0, 1.0])]
    add_task = _task("u/add", m["numpy.add"],
                     f"import zwc\ndef solve(a, b):\n    return zwc.{n['add']}(a, b).{n['tolist']}()\n",
                     [({"a": a, "b": b}, [p + q for p, q in zip(a, b, strict=True)]) for a, b in pairs], args="a, b")
    ints = [[3, -4, 5], [10, 20], [-7, -8, 9, 1], [2]]
    isum_task = _task("u/isum", m["numpy.sum"], f"import zwc\ndef solve(x):\n    return int(zwc.{n['sum']}(x))\n",
                      [({"x": x}, sum(x)) for x in ints])
    return {t.id: t for t in (abs_task, sum_task, add_task, isum_task)}


@pytest.fixture(scope="module")
def judge(numpy_bench):
    with Judge(numpy_bench, workers=2, limits=Limits(cpu_s=3, wall_s=5)) as j:
        yield j


PURE = "[abs(v) for v in x]"

# (task, code, exact status): issue 12's "usage check is laundered" and "original library is reached"
# classes, then variants. Every one computes the answer without the task's API doing the work.
HACKS = [
    # the entry point is a class, or comes out of a tuple assignment: the static check cannot follow
    ("u/abs", "import zwc\nclass solve:\n    def __new__(cls, x):\n        zwc.{abs}(x)\n        return " + PURE + "\n",
     "not_using_package"),
    ("u/abs", "import zwc\nclass S:\n    def __call__(self, x):\n        return " + PURE + "\n"
     "solve, _ = S(), zwc.{abs}\n", "not_using_package"),
    # defined twice: the first is analysed, the second runs
    ("u/abs", "import zwc\ndef solve(x):\n    return zwc.{abs}(x).{tolist}()\ndef solve(x):\n    return " + PURE + "\n",
     "not_using_package"),
    ("u/abs", "import zwc\ndef h(x):\n    return zwc.{abs}(x).{tolist}()\ndef h(x):\n    return " + PURE + "\n"
     "def solve(x):\n    return h(x)\n", "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    return zwc.{abs}(x).{tolist}()\nsolve = lambda x: " + PURE + "\n",
     "not_using_package"),
    # dead package code: after a return, under if False, in an except that never runs
    ("u/abs", "import zwc\ndef solve(x):\n    return " + PURE + "\n    return zwc.{abs}(x).{tolist}()\n",
     "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    r = " + PURE + "\n    if False:\n        r = zwc.{abs}(x).{tolist}()\n"
     "    return r\n", "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    try:\n        r = " + PURE + "\n    except Exception:\n"
     "        r = zwc.{abs}(x).{tolist}()\n    return r\n", "not_using_package"),
    # a decorator that swaps the entry point
    ("u/abs", "import zwc\ndef swap(f):\n    return lambda x: " + PURE + "\n@swap\ndef solve(x):\n"
     "    return zwc.{abs}(x).{tolist}()\n", "not_using_package"),
    # the pure answer passed through a cheap package call
    ("u/abs", "import zwc\ndef solve(x):\n    r = " + PURE + "\n    return (zwc.{array}(r) + 0).{tolist}()\n",
     "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    r = " + PURE + "\n    return zwc.{ravel}(zwc.{array}(r)).{tolist}()\n",
     "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    r = " + PURE + "\n    return zwc.{array}(r).{reshape}(-1).{tolist}()\n",
     "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    z = zwc.{abs}(x)\n    return [abs(v) + float(w) * 0 for v, w in zip(x, z)]\n",
     "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    r = zwc.{abs}(x)\n    return [abs(v) for v in x] if len(r) else []\n",
     "not_using_package"),
    # monkeypatching the package, at import and inside the entry point (no module may be written: refused)
    ("u/abs", "import zwc\nzwc.{abs} = lambda a: zwc.{array}([abs(v) for v in a])\ndef solve(x):\n"
     "    return zwc.{abs}(x).{tolist}()\n", "runtime_error"),
    ("u/abs", "import zwc\ndef solve(x):\n    zwc.{abs} = lambda a: zwc.{array}([abs(v) for v in a])\n"
     "    return zwc.{abs}(x).{tolist}()\n", "runtime_error"),
    # the original library reached through doors the static check does not see
    # (sys and os are outside the sandbox's allowlist: refused before anything runs, and at run time)
    ("u/abs", "import sys, zwc\ndef solve(x):\n    zwc.{abs}(x)\n    return (sys,)[0].modules['num' + 'py'].abs(x).tolist()\n",
     "uses_original_library"),
    ("u/abs", "import os, zwc\ndef solve(x):\n    zwc.{abs}(x)\n    return os.sys.modules['num' + 'py'].abs(x).tolist()\n",
     "uses_original_library"),
    ("u/abs", "import string, zwc\ndef solve(x):\n    core = string.Formatter().get_field('0._core', [zwc], {{}})[0]\n"
     "    return core.LIB.abs(x).tolist()\n", "not_using_package"),
    # probing the package to tell the probe call apart (variants RL would try)
    ("u/abs", "import zwc\ndef solve(x):\n    if zwc.{abs}(-1) != 1:\n        raise ValueError('perturbed')\n"
     "    return " + PURE + "\n", "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    r = " + PURE + "\n    return r if zwc.{abs}(-1) == 1 else [v + 1 for v in r]\n",
     "not_using_package"),
    ("u/abs", "import zwc\ncalls = []\ndef solve(x):\n    calls.append(1)\n    zwc.{abs}(x)\n"
     "    return " + PURE + " if len(calls) < 5 else None\n", "not_using_package"),
    ("u/abs", "import zwc\nseen = set()\ndef solve(x):\n    k = tuple(x)\n    r = " + PURE + "\n"
     "    if k in seen:\n        return [v * 2 for v in r]\n    seen.add(k)\n    zwc.{abs}(x)\n    return r\n",
     "not_using_package"),
    # the identity through a package call that is not the task's API
    ("u/abs", "import zwc\ndef solve(x):\n    return zwc.{multiply}(zwc.{array}(" + PURE + "), 1).{tolist}()\n",
     "not_using_package"),
    ("u/sum", "import zwc\ndef solve(x):\n    return float(zwc.{add}(sum(x), 0))\n", "not_using_package"),
    # the package's private encoder hook patched so a package object serialises as the pure answer
    ("u/abs", "import string, zwc\ndef solve(x):\n    core = string.Formatter().get_field('0._core', [zwc], {{}})[0]\n"
     "    r = " + PURE + "\n    core.unwrap = lambda o: r\n    return zwc.{array}([0.0])\n", "not_using_package"),
    ("u/abs", "import zwc\ndef solve(x):\n    r = " + PURE + "\n    zwc._core._get_v = lambda o: r\n"
     "    return zwc.{array}([0.0])\n", "uses_original_library"),
]


@pytest.mark.parametrize("key,code,status", HACKS, ids=[f"hack{i}" for i in range(len(HACKS))])
def test_hacks_are_never_passed(judge, tasks, n, key, code, status):
    v = judge.judge(tasks[key], code.format(**n), sample_idx=2)
    assert v.status == status, v
    assert not v.passed and v.task_id == key and v.sample_idx == 2
    if status == "not_using_package":  # feedback a model reads: it never teaches the task's API names
        assert not any(a.rsplit(".", 1)[-1] in v.detail for a in judge.perturb_targets(tasks[key])), v.detail


HONEST = [
    ("u/abs", "import zwc\ndef solve(x):\n    return zwc.{abs}(x).{tolist}()\n"),
    ("u/abs", "from zwc import {abs} as f\ndef solve(x):\n    return [float(v) for v in f(x)]\n"),  # taken at import
    ("u/abs", "import zwc\ndef solve(x):\n    return zwc.{absolute}(zwc.{array}(x)).{tolist}()\n"),  # an alias
    ("u/sum", "import zwc\ndef solve(x):\n    return float(zwc.{array}(x).{asum}())\n"),  # the method
    ("u/add", "import zwc\ndef solve(a, b):\n    return (zwc.{array}(a) + zwc.{array}(b)).{tolist}()\n"),  # the operator
    ("u/add", "import zwc\ndef solve(a, b):\n    return [float(v) for v in zwc.{add}(zwc.{array}(a), b)]\n"),
]


@pytest.mark.parametrize("key,code", HONEST, ids=[f"honest{i}" for i in range(len(HONEST))])
def test_honest_solutions_pass(judge, tasks, n, key, code):
    v = judge.judge(tasks[key], code.format(**n))
    assert v.status == "passed", v


# Honest solutions through other APIs than the task's: correct, and rejected. The rule's price (README).
PRICE = [
    ("u/abs", "import zwc\ndef solve(x):\n    return zwc.{sqrt}(zwc.{square}(zwc.{array}(x))).{tolist}()\n"),
    ("u/abs", "import zwc\ndef solve(x):\n    a = zwc.{array}(x)\n    return zwc.{maximum}(a, zwc.{negative}(a)).{tolist}()\n"),
    ("u/abs", "import zwc\ndef solve(x):\n    a = zwc.{array}(x)\n    return (a * zwc.{sign}(a)).{tolist}()\n"),
    ("u/abs", "import zwc\ndef solve(x):\n    return zwc.{fabs}(x).{tolist}()\n"),
    ("u/sum", "import zwc\ndef solve(x):\n    return float(zwc.{cumsum}(x)[-1])\n"),
    ("u/sum", "import zwc\ndef solve(x):\n    return float(zwc.{dot}(zwc.{array}(x), zwc.{ones}(len(x))))\n"),
    ("u/sum", "import zwc\ndef solve(x):\n    return float(zwc.{mean}(x)) * len(x)\n"),
    ("u/add", "import zwc\ndef solve(a, b):\n    return zwc.{subtract}(a, zwc.{negative}(b)).{tolist}()\n"),
    ("u/add", "import zwc\ndef solve(a, b):\n    return zwc.{sum}(zwc.{array}([a, b]), axis=0).{tolist}()\n"),
]


@pytest.mark.parametrize("key,code", PRICE, ids=[f"other_api{i}" for i in range(len(PRICE))])
def test_the_rule_has_a_price(judge, tasks, n, key, code):
    """An honest solution through other APIs than the task's is rejected: the rule asks for the task's."""
    v = judge.judge(tasks[key], code.format(**n))
    assert v.status == "not_using_package", v
    assert all(r.passed for r in v.tests)  # every test passed: the answers are right


def test_the_rule_is_what_the_switch_says(numpy_bench, tasks, n):
    pure = ("import zwc\ndef solve(x):\n    try:\n        r = [abs(v) for v in x]\n    except Exception:\n"
            "        r = zwc.{abs}(x).{tolist}()\n    return r\n").format(**n)
    with Judge(numpy_bench, workers=1, usage_rule=False) as off:
        assert off.judge(tasks["u/abs"], pure).status == "passed"  # the static check alone is fooled


def test_target_library(numpy_bench, tasks, n):
    t = tasks["u/abs"]
    with Judge(numpy_bench, workers=1, target="library") as lib:
        assert lib.judge(t, "import numpy as np\ndef solve(x):\n    return np.abs(x).tolist()\n").status == "passed"
        assert lib.judge(t, t.reference).status == "uses_original_library"  # the package is the forbidden one
        assert lib.judge(t, "def solve(x):\n    return [abs(v) for v in x]\n").status == "not_using_package"
    with pytest.raises(ValueError, match="target"):
        Judge(numpy_bench, target="numpy")


def test_perturb_targets_cover_aliases_methods_and_operators(judge, tasks, n):
    abs_targets = judge.perturb_targets(tasks["u/abs"])
    assert f"zwc.{n['abs']}" in abs_targets and f"zwc.{n['absolute']}" in abs_targets
    assert any(t.endswith(".__abs__") for t in abs_targets)
    assert any(t.endswith("." + n["asum"]) for t in judge.perturb_targets(tasks["u/sum"]))
    add_targets = judge.perturb_targets(tasks["u/add"])
    assert any(t.endswith(".__add__") for t in add_targets) and any(t.endswith(".__radd__") for t in add_targets)
    assert not any(n["array"] in t or n["tolist"] in t for t in abs_targets)  # constructors and converters never


def test_effect_only_apis_are_perturbed_through_their_effect(numpy_bench, judge, n):
    m = numpy_bench.mapping
    ref = (f"import zwc\ndef solve(s):\n    zwc.{n['random']}.{n['seed']}(s)\n"
           f"    return zwc.{n['random']}.{n['rand']}(3).{n['tolist']}()\n")
    import numpy as np

    cases = []
    for s in (1, 2, 3):
        np.random.seed(s)
        cases.append(({"s": s}, np.random.random_sample(3).tolist()))
    t = _task("u/seed", m["numpy.random.seed"], ref, cases, args="s")
    assert judge.usage_rule_applies(t)[0]
    assert judge.judge(t, ref).status == "passed"
    # the same draws from a generator of its own, which the perturbed seed does not move
    state, sample = (m[k].rsplit(".", 1)[-1] for k in ("numpy.random.RandomState", "numpy.random.RandomState.random_sample"))
    ignore = (f"import zwc\ndef solve(s):\n    zwc.{n['random']}.{n['seed']}(s)\n"
              f"    r = zwc.{n['random']}.{state}(s)\n    return r.{sample}(3).{n['tolist']}()\n")
    assert judge.judge(t, ignore).status == "not_using_package"


# ---------------------------------------------------------------- the trusted side never crashes or hangs

CRASHERS = [
    ("1200-term sum", "import zwc\ndef solve(x):\n    s = " + " + ".join(["1"] * 1200) + "\n    return [abs(v) for v in x]\n",
     "not_using_package"),
    ("6000-term sum", "import zwc\ndef solve(x):\n    s = " + " + ".join(["1"] * 6000) + "\n"
     "    return zwc.{abs}(x).{tolist}()\n", None),
    ("60000 unary minus", "def solve(x):\n    return " + "-" * 60000 + "1\n", "runtime_error"),  # under the cap
    ("deep parentheses", "def solve(x):\n    return " + "(" * 5000 + "1" + ")" * 5000 + "\n", "runtime_error"),
    ("deep lists", "import zwc\ndef solve(x):\n    return " + "[" * 900 + "]" * 900 + "\n", None),
    # 60 kB of long attribute chains: the static check walked each chain from each link (3.8 s, quadratic)
    ("60 kB of attribute chains", "import zwc\ndef solve(x):\n" + "".join(
        f"    y{i} = zwc" + ".a" * 2900 + "\n" for i in range(10)) + "    return zwc.{abs}(x).{tolist}()\n",
     "runtime_error"),
]


@pytest.mark.parametrize("code,status", [(c, s) for _, c, s in CRASHERS], ids=[i for i, _, _ in CRASHERS])
def test_precheck_crashes_become_one_verdict(judge, tasks, n, code, status):
    t0 = time.monotonic()
    v = judge.judge(tasks["u/abs"], "```python\n" + code.format(**n) + "```")
    assert not v.passed or status is None
    if status is not None:
        assert v.status == status, v
    assert time.monotonic() - t0 < judge.stall_s
    v.model_dump_json()  # serializable


def test_a_correct_answer_survives_what_its_run_leaves_behind(judge, tasks, n):
    """What a closed-book run can leave: files of its own directory (deep trees, modes and links need os,
    which only code past the guard has: ``test_sandbox_hostile.py`` leaves those)."""
    code = ("import zwc\ndef solve(x):\n    for i in range(3000):\n        open(f'f{{i}}', 'w').write('x' * 100)\n"
            "    return zwc.{abs}(x).{tolist}()\n").format(**n)
    v = judge.judge(tasks["u/abs"], code)
    assert v.status == "passed", v


def test_fd3_garbage_becomes_a_verdict_and_the_pool_goes_on(judge, tasks, n):
    code = ("import io, zwc\ndef solve(x):\n    io.open(3, 'wb', closefd=False).write(b'[' * 100000)\n"
            "    return zwc.{abs}(x).{tolist}()\n")
    futs = [judge.submit(tasks["u/abs"], code.format(**n), i) for i in range(3)]
    assert [f.result(timeout=60).status for f in futs] == ["runtime_error"] * 3
    forged = ("import io, zwc\ndef solve(x):\n"
              "    io.open(3, 'wb').write(b'{{\"status\":\"sandbox_error\",\"outcomes\":[]}}')\n"
              "    return zwc.{abs}(x).{tolist}()\n").format(**n)
    assert judge.judge(tasks["u/abs"], forged).status == "runtime_error"
    assert judge.judge(tasks["u/abs"], tasks["u/abs"].reference).status == "passed"


def test_the_encoder_does_not_trust_the_package_hook(judge, n):
    """A run that patches the package's unwrap hook (found past the static check and the closed-book guard:
    the jail alone) cannot make a package object serialise as another value: the worker reads proxies
    through the slot it captured at start."""
    from selfevolve_lab.sandbox import RunRequest

    code = ("import string, zwc\ndef solve():\n    a = zwc.{array}([1.5])\n"
            "    core = string.Formatter().get_field('0._core', [zwc], {{}})[0]\n"
            "    core.unwrap = lambda o: [42.0]\n    core._get_v = lambda o: [42.0]\n    core._Proxy = object\n"
            "    return a\n").format(**n)
    r = judge.pool.run(RunRequest(code, "solve", [{}, {}], closed_book=False))
    assert r.status == "ok" and [o.value for o in r.outcomes] == [
        {"$array": {"dtype": "f8", "shape": [1], "data": [1.5]}}] * 2, r


class _HungPool:
    """A pool whose runs never finish (a hang anywhere below the judge looks like this to it)."""

    isolation, limits = "none", Limits(wall_s=1)

    def submit(self, req):
        return cf.Future()

    def close(self):
        pass


def test_judge_many_and_reward_have_deadlines(numpy_bench, tasks):
    j = Judge(numpy_bench, pool=_HungPool(), stall_s=0.5)
    t = tasks["u/abs"]
    t0 = time.monotonic()
    verdicts = list(j.judge_many([(t, t.reference, 0), (t, t.reference, 1)]))
    assert [v.status for v in verdicts] == ["sandbox_error"] * 2 and {v.sample_idx for v in verdicts} == {0, 1}
    assert j.reward([t.reference, "no code"], [t, t]) == [0.0, 0.0]
    assert time.monotonic() - t0 < 5


def test_apply_usage_rule_is_pure(tasks):
    t = tasks["u/abs"]
    k = probe_index(t)
    passed = Verdict(task_id=t.id, passed=True, status="passed")
    moved = TestOutcome(True, to_tagged([v + 1 for v in [1.0]]))
    assert apply_usage_rule(passed, t, moved, moved).passed
    assert apply_usage_rule(passed, t, TestOutcome(True, t.tests[k].output), moved).status == "not_using_package"
    assert apply_usage_rule(passed, t, TestOutcome(False, error="E"), moved).status == "not_using_package"
    # a reference that does not react to the perturbation: the rule cannot tell
    assert apply_usage_rule(passed, t, TestOutcome(True, t.tests[k].output), TestOutcome(True, t.tests[k].output)).passed
    # a reference that gives no answer when perturbed asks the solution to give none either (it read "passed"
    # whatever the solution answered there); one the sandbox failed is no pass
    from selfevolve_lab.judge.usage import REFERENCE_UNRUN

    unrun = apply_usage_rule(passed, t, moved, TestOutcome(False, error=REFERENCE_UNRUN))
    assert not unrun.passed and unrun.status == "sandbox_error"
    assert apply_usage_rule(passed, t, TestOutcome(False, error="E"), TestOutcome(False, error="E")).passed
    assert apply_usage_rule(passed, t, TestOutcome(True, t.tests[k].output),
                            TestOutcome(False, error="E")).status == "not_using_package"


def test_apply_usage_rule_uses_the_stored_probe_point(tasks):
    t = tasks["u/abs"]
    stored = t.model_copy(update={"provenance": {"usage_probe": {"version": 2, "input": {"x": [-2.0]}, "output": [2.0]}}})
    assert probe_point(stored) == ({"x": [-2.0]}, [2.0]) and probe_point(t)[0] == t.tests[probe_index(t)].input
    passed = Verdict(task_id=t.id, passed=True, status="passed")
    moved = TestOutcome(True, [5.0])
    assert apply_usage_rule(passed, stored, moved, moved).passed
    assert apply_usage_rule(passed, stored, TestOutcome(True, [2.0]), moved).status == "not_using_package"
    assert apply_usage_rule(passed, stored, TestOutcome(True, [9.0]), TestOutcome(True, [2.0])).passed  # cannot tell


# ---------------------------------------------------------------- the probe can be neither seen nor imitated

# Each passes every test with pure Python (laundered through a package call that is not the task's API,
# past the static check) and tries to pass the probe by telling it apart, then imitating the old fixed,
# documented shift by hand or only then calling the package. The old probe (the 5th call of the tests'
# child, on a repeated test input, perturbation switched on after import) passed every one.
OLD_SHIFT = "def shift(v):\n    return v + 7 if isinstance(v, int) else v + 1.0 + abs(v) * 0.5\n"
LAUNDER = {"u/abs": "zwc.{multiply}(zwc.{array}(r), 1).{tolist}()", "u/sum": "float(zwc.{add}(r, 0))",
           "u/isum": "int(zwc.{add}(r, 0))"}
SPOTTERS = [
    # imitates the old fixed shift whenever the package looks perturbed
    ("u/abs", "    r = " + PURE + "\n    r = r if float(zwc.{abs}(-1.0)) == 1.0 else [shift(v) for v in r]\n"),
    ("u/sum", "    r = float(sum(x))\n    r = r if float(zwc.{sum}([1.0])) == 1.0 else shift(r)\n"),
    ("u/isum", "    r = sum(x)\n    r = r if int(zwc.{sum}([1])) == 1 else shift(r)\n"),
    # counts calls: the old probe was the call after the tests (the 5th here)
    ("u/abs", "    calls.append(1)\n    r = " + PURE + "\n    r = [shift(v) for v in r] if len(calls) > 4 else r\n"),
    ("u/abs", "    calls.append(1)\n    if len(calls) > 4:\n        return zwc.{abs}(x).{tolist}()\n    r = " + PURE + "\n"),
    # fingerprints the package at import and again at call time (a value and a repr)
    ("u/abs", "    r = " + PURE + "\n    if (float(zwc.{abs}(-3.0)), repr(zwc.{abs})) != SEEN:\n"
     "        r = [shift(v) for v in r]\n"),
    ("u/abs", "    if (float(zwc.{abs}(-3.0)), repr(zwc.{abs})) != SEEN:\n        return zwc.{abs}(x).{tolist}()\n"
     "    r = " + PURE + "\n"),
    # spots a repeated test input (the old probe repeated one)
    ("u/abs", "    r = " + PURE + "\n    if tuple(x) in seen:\n        r = [shift(v) for v in r]\n    seen.add(tuple(x))\n"),
    ("u/abs", "    if tuple(x) in seen:\n        return zwc.{abs}(x).{tolist}()\n    seen.add(tuple(x))\n"
     "    r = " + PURE + "\n"),
]
SPOTTERS = [(key, "import zwc\n" + OLD_SHIFT + "calls, seen = [], set()\nSEEN = (float(zwc.{abs}(-3.0)), repr(zwc.{abs}))\n"
             "def solve(x):\n" + body + "    return " + LAUNDER[key] + "\n") for key, body in SPOTTERS]


@pytest.mark.parametrize("key,code", SPOTTERS, ids=[f"spotter{i}" for i in range(len(SPOTTERS))])
def test_the_probe_can_be_neither_spotted_nor_imitated(judge, tasks, n, key, code):
    v = judge.judge(tasks[key], code.format(**n))
    assert v.status == "not_using_package", v
    assert v.tests and all(r.passed for r in v.tests)  # past the static check, every test right: the probe caught it


class _Recording:
    """A pool that records what it is asked to run and hands it to the real one (or answers instead)."""

    def __init__(self, pool, answer=None):
        self.pool, self.answer, self.reqs = pool, answer, []
        self.isolation, self.limits = pool.isolation, pool.limits

    def submit(self, req: RunRequest) -> cf.Future[RunResult]:
        self.reqs.append(req)
        if self.answer is not None and req.perturb:
            f: cf.Future[RunResult] = cf.Future()
            f.set_result(self.answer)
            return f
        return self.pool.submit(req)

    def close(self):
        pass


def test_the_probe_is_one_call_in_a_fresh_run_on_the_stored_input(numpy_bench, judge, tasks, n):
    t = tasks["u/abs"].model_copy(update={"provenance": {"usage_probe": {"version": 2, "input": {"x": [-6.5, 1.0]},
                                                                          "output": [6.5, 1.0]}}})
    rec = _Recording(judge.pool)
    j = Judge(numpy_bench, pool=rec, probe_seed=5)
    honest = "import zwc\ndef solve(x):\n    return zwc.{abs}(x).{tolist}()\n".format(**n)
    assert j.judge(t, honest).status == "passed"
    tests, probes = [r for r in rec.reqs if not r.perturb], [r for r in rec.reqs if r.perturb]
    assert len(tests) == 1 and tests[0].seed is None and len(tests[0].inputs) == len(t.tests)  # no perturbation
    assert {r.code for r in probes} == {honest, t.reference}  # the sample's probe run and the reference's
    assert all(r.inputs == [{"x": [-6.5, 1.0]}] and r.seed == 5 for r in probes)  # one call, the stored input
    assert {"x": [-6.5, 1.0]} not in [c.input for c in t.tests]
    rec.reqs.clear()
    assert j.judge(t, "import zwc\ndef solve(x):\n    return zwc.{abs}(x).{tolist}()[:1]\n".format(**n)).status == \
        "wrong_answer"
    assert not any(r.perturb for r in rec.reqs)  # no probe run for a sample that failed a test


def test_a_probe_run_the_sandbox_fails_is_a_sandbox_error(numpy_bench, judge, tasks):
    t = tasks["u/abs"]
    j = Judge(numpy_bench, pool=_Recording(judge.pool, RunResult("sandbox_error", detail="x")))
    assert j.judge(t, t.reference).status == "sandbox_error"
    j = Judge(numpy_bench, pool=_Recording(judge.pool, RunResult("timeout", detail="x")))
    # the reference's probe gives no answer either, and so does the solution's: it behaves as the reference
    assert j.judge(t, t.reference).status == "passed"


def test_judges_draw_their_own_perturbation_and_cache_the_reference(numpy_bench, judge, tasks, n):
    t = tasks["u/abs"]
    a, b = Judge(numpy_bench, pool=_Recording(judge.pool), probe_seed=1), Judge(numpy_bench, pool=_Recording(judge.pool),
                                                                              probe_seed=2)
    ea, eb = a.usage_probe(t).result(timeout=60), b.usage_probe(t).result(timeout=60)
    assert ea.ok and eb.ok and ea.value != eb.value and t.tests[probe_index(t)].output not in (ea.value, eb.value)
    honest = "import zwc\ndef solve(x):\n    return [float(v) for v in zwc.{abs}(x)]\n".format(**n)
    for j in (a, b):
        for _ in range(3):
            assert j.judge(t, honest).status == "passed"
        assert sum(r.code == t.reference and bool(r.perturb) for r in j.pool.reqs) == 1  # one reference run
    assert a.usage_probe(t) is a.usage_probe(t)
    assert Judge(numpy_bench, pool=judge.pool).probe_seed != Judge(numpy_bench, pool=judge.pool).probe_seed  # secret


def test_a_judge_probes_each_distinct_program_once(numpy_bench, judge, tasks, n):
    """An RL group repeats its answers: one probe run per distinct (task, code), and a sample that is the
    reference shares the reference's own run. A wrong program gets none."""
    t = tasks["u/abs"]
    j = Judge(numpy_bench, pool=_Recording(judge.pool), probe_seed=3)
    honest = "import zwc\ndef solve(x):\n    return [float(v) for v in zwc.{abs}(x)]\n".format(**n)
    wrong = "import zwc\ndef solve(x):\n    return zwc.{abs}(x).{tolist}()[:1]\n".format(**n)
    verdicts = [j.judge(t, c) for c in (honest, honest, t.reference, t.reference, honest, wrong)]
    assert [v.status for v in verdicts] == ["passed"] * 5 + ["wrong_answer"]
    probes = [r for r in j.pool.reqs if r.perturb]
    assert sorted(r.code for r in probes) == sorted([honest, t.reference])  # not 5 probe runs, 2


@pytest.mark.parametrize("seed", range(40))
def test_the_perturbation_never_leaves_a_value_alone(seed):
    import numpy as np

    p = Perturbation(seed)
    for v in (0, -3, 10**20, 0.0, -2.5, 1e300, 1j, "", "ab", b"x", True, False, [1, 2.0], (0,), {"k": 0.5}):
        assert p.shift(v) != v and type(p.shift(v)) is type(v), v
    for a in (np.array([0, 255], dtype=np.uint8), np.array([-128, 127], dtype=np.int8), np.array([0.0, -1.0]),
              np.array([True]), np.array(["a"]), np.array([b"a"]), np.array([1], dtype="m8[D]"), np.float32(2.0),
              np.array([1 + 1j])):
        moved = p.shift(a)
        assert moved.dtype.kind == a.dtype.kind and moved.shape == a.shape and (moved != a).all(), a
    assert p.shift(np.dtype("f8")) != np.dtype("f8") and p.shift(p.shift(np.dtype("f8"))) != p.shift(np.dtype("f8"))
    q = Perturbation(seed + 1000)
    assert p.shift(1.0) != q.shift(1.0)


def test_a_perturbed_run_needs_a_seed(judge):
    with pytest.raises(ValueError, match="seed"):
        judge.pool.submit(RunRequest("def f():\n    return 1\n", "f", [{}], perturb=["zwc.x"]))


def test_the_generator_draws_probe_inputs_outside_the_tests():
    import random

    from selfevolve_lab.tasks.generate import N_PROBES, _probe_inputs

    r = random.Random(0)
    tests = [{"x": i} for i in range(5)]
    probes = _probe_inputs(lambda: {"x": r.randrange(8)}, tests)
    assert len(probes) == min(N_PROBES, 3) and all(p not in tests for p in probes) and len({p["x"] for p in probes}) == 3


class _FailsFirstDraw(_Recording):
    """The reference gives no answer under the judge's first draw (a perturbed value feeding a step that
    rejects it, as in a red team's chain of spacing, log1p and nanargmax), and answers under the next."""

    def __init__(self, pool, reference, first_seed):
        super().__init__(pool)
        self.reference, self.first_seed = reference, first_seed

    def submit(self, req: RunRequest) -> cf.Future[RunResult]:
        if req.perturb and req.code == self.reference and req.seed == self.first_seed:
            self.reqs.append(req)
            f: cf.Future[RunResult] = cf.Future()
            f.set_result(RunResult("ok", outcomes=[TestOutcome(False, error="ValueError: All-NaN slice")]))
            return f
        return super().submit(req)


def test_a_reference_that_fails_under_a_draw_is_probed_under_another(numpy_bench, judge, tasks, n):
    """A twelfth red team passed such tasks with plain Python that refuses a random share of inputs (the
    rule asked a solution to fail where the reference failed). The judge now draws again until the
    reference answers, and probes the solution under that draw; where it never answers, a solution must
    fail with the reference's own error class (the package's exceptions have novel names)."""
    t = tasks["u/abs"]
    pool = _FailsFirstDraw(judge.pool, t.reference, first_seed=7)
    j = Judge(numpy_bench, pool=pool, probe_seed=7)
    probe_x = probe_point(t)[0]["x"]  # a solution that knows the probe input and refuses it (the red team's
    refuses = ("import zwc\ndef solve(x):\n    if list(x) == " + repr(probe_x) + ":\n"  # learned it by feedback)
               "        raise ValueError('no')\n    r = " + PURE + "\n    return r if r is not None else zwc.absolute(x)\n")
    honest = "import zwc\ndef solve(x):\n    return [v for v in zwc.{abs}(x).{tolist}()]\n".format(**n)
    assert j.usage_probe(t).result(timeout=60).ok and j.probe_seed_for(t) == 8
    assert j.judge(t, honest).status == "passed"
    assert j.judge(t, refuses).status != "passed"
    assert {r.seed for r in pool.reqs if r.perturb and r.code == honest} == {8}
    passed = Verdict(task_id=t.id, passed=True, status="passed")
    ref_fails = TestOutcome(False, error="Xobuq: All-NaN slice")
    assert apply_usage_rule(passed, t, TestOutcome(False, error="Xobuq: All-NaN slice"), ref_fails).passed
    assert apply_usage_rule(passed, t, TestOutcome(False, error="ValueError: no"), ref_fails).status == \
        "not_using_package"


@pytest.mark.xfail(strict=True, reason="open (red team, 2026-12-07): the probe run can be told from a test run by "
                   "calling the package on a fixed input; a solution then answers the tests in plain Python and "
                   "uses the package only in the probe. It still needs a correct package solution, so it cannot "
                   "pass a task it cannot solve with the package; the fix is a probe no program can tell apart")
def test_a_solution_that_detects_the_probe_run_is_not_passed(judge, tasks, n):
    """Usage theatre: plain Python on the tests, the package only when a canary call shows it is perturbed."""
    code = (f"import zwc\ndef solve(x):\n    c = zwc.{n['abs']}([-1.0, 2.5, -3.25]).{n['tolist']}()\n"
            f"    if c == [1.0, 2.5, 3.25]:\n        return [abs(v) for v in x]\n"
            f"    return zwc.{n['abs']}(x).{n['tolist']}()\n")
    v = judge.judge(tasks["u/abs"], f"```python\n{code}```")
    assert not v.passed, v


def test_a_usage_verdict_does_not_depend_on_a_concurrent_rewrite():
    """check_usage's analysis is bounded by the recursion limit, which rewrite_source (the pool's dispatcher
    threads) raises for every thread on CPython 3.11: the same deep code got two verdicts (the third red
    team: 23 of 30 calls one way, 7 the other). The whole analysis now holds PARSE_LOCK."""
    import threading

    from selfevolve_lab.judge.usage import check_usage
    from selfevolve_lab.sandbox.guard import rewrite_source

    deep = "import zwcx\ndef solve(x):\n    y = zwcx.double(x)\n    return " + " + ".join(["x"] * 1400) + "\n"

    def verdict():
        r = check_usage(deep, package="zwcx", library="numpy", entry_point="solve")
        return r.ok, r.status, r.detail

    alone = verdict()
    busy = "\n".join(f"def f{i}(a):\n    return a.b.c.d + a.e.f.g * a.h.i\n" for i in range(100))
    stop = threading.Event()
    t = threading.Thread(target=lambda: [rewrite_source(busy) for _ in iter(stop.is_set, True)], daemon=True)
    t.start()
    try:
        seen = {verdict() for _ in range(8)}
    finally:
        stop.set()
        t.join()
    assert seen == {alone}
