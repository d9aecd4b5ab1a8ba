"""The judge: extraction, the usage check, comparison rules, and verdicts end to end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from selfevolve_lab.judge import Judge, check_usage, equal, extract_code
from selfevolve_lab.judge.core import _novel_attrs
from selfevolve_lab.profiles.numpy import PROFILE as NUMPY
from selfevolve_lab.sandbox.protocol import to_tagged
from selfevolve_lab.schema import CompareSpec, Task, TestCase

# ---------------------------------------------------------------- extraction

FENCE = "```"


@pytest.mark.parametrize("text,expected", [
    (f"Here:\n{FENCE}python\ndef solve(x):\n    return x\n{FENCE}\nDone.", "def solve(x):\n    return x\n"),
    (f"{FENCE}py\ndef solve(x):\n    return 1\n{FENCE}\n{FENCE}python\ndef solve(x):\n    return 2\n{FENCE}",
     "return 2"),
    (f"{FENCE}python\ndef helper(x):\n    return x + 1\n{FENCE}\ntext\n{FENCE}python\ndef solve(x):\n"
     f"    return helper(x)\n{FENCE}", "def helper"),
    (f"{FENCE}python\ndef solve(x):\n    return 3\n{FENCE}\n{FENCE}python\nprint(solve(1))\n{FENCE}", "return 3"),
    (f"{FENCE}python\ndef solve(x):\n    return 4\n", "return 4"),  # unterminated fence
    ("def solve(x):\n    return 5\n", "return 5"),  # no fence, parses
    ("Sure! def solve(x): is below\nimport zwc\ndef solve(x):\n    return 6\nHope this helps", "return 6"),
    ("<think>maybe def solve(x): return 0</think>\n```python\ndef solve(x):\n    return 7\n```", "return 7"),
    (f"{FENCE}python\ndef solve(x):\n    return 8<|im_end|>", "return 8"),  # chat-template artifacts
    ("<|im_start|>assistant\ndef solve(x):\n    return 9\n<|eot_id|></s>", "return 9"),
    ("<|start_header_id|>assistant<|end_header_id|>\n\ndef solve(x):\n    return 11\n<|eot_id|>", "return 11"),
    (f"1. Code:\n   {FENCE}python\n   def solve(x):\n       return 10\n   {FENCE}\n", "return 10"),  # indented
])
def test_extract_code(text, expected):
    code = extract_code(text, "solve")
    assert code is not None and expected in code
    assert "assistant" not in code and "<" not in code
    compile(code, "x", "exec")


@pytest.mark.parametrize("text", ["", "I don't know.", f"{FENCE}bash\nls\n{FENCE}", "<think>def solve(x): pass",
                                  "The answer is 42."])
def test_extract_code_none(text):
    assert extract_code(text, "solve") is None


SOLVE = "def solve(x):\n    return x\n"


# The red-team pass's slow inputs (issue 12), at the sizes that took 18-53 s, and variants of each class:
# every pattern was quadratic (a regex rescanning from every opener or every line start, a cut-back loop
# parsing the whole text once per line).
@pytest.mark.parametrize("name,text,code", [
    ("unclosed <think> openers, 210 KB", "<think>" * 30_000, None),
    ("unclosed <think> openers, then an answer", "<think>" * 14_000 + "</think>\n" + SOLVE, SOLVE),
    ("<think> closed many times", "<think>a</think>" * 6_000 + SOLVE, SOLVE),
    ("a fence full of newlines, 30 KB", f"{FENCE}python\n" + "\n" * 30_000 + "x\n", "x\n"),
    ("a fence full of blank lines before the answer", f"{FENCE}python\n" + " \n" * 30_000 + SOLVE + FENCE, SOLVE),
    ("newlines before an unfenced answer", "\n" * 60_000 + SOLVE + "Hope this helps", SOLVE),
    ("unfenced cut-back, an open bracket, 18 KB", "def solve(x):\n    return [\n" + "1,\n" * 6_000, None),
    ("unfenced cut-back, garbage after the answer", SOLVE + "1 2\n" * 15_000, SOLVE),
    ("unfenced cut-back, prose that never closes", "import zwc\n" + SOLVE + "It returns x (unchanged\n" * 2_500,
     "import zwc\n" + SOLVE),
    ("unfenced cut-back, nesting too deep", SOLVE + "x = (\n" * 10_000, None),  # at most MAX_CUTS tries
    ("unfenced, a 6000-term sum (the parser's recursion limit)",
     "def solve(x):\n    return " + "+".join(["1"] * 6_000) + "\nHope this helps", None),
    ("unfenced, 60000 unary minus signs (the parser's memory error)",
     "def solve(x):\n    return " + "-" * 60_000 + "1\nHope this helps", None),
    ("many fenced blocks", f"{FENCE}python\n{SOLVE}{FENCE}\n" * 1_500, None),
    ("many special tokens", "<|" * 30_000 + f"\n{FENCE}python\n{SOLVE}{FENCE}", SOLVE),
])
def test_extraction_is_linear(name, text, code):
    t0 = time.thread_time()  # this thread's CPU: other processes on the machine do not count
    got = extract_code(text, "solve")
    cpu = time.thread_time() - t0
    if code is not None:
        assert got is not None and got.strip() == code.strip()
    elif "many fenced" not in name:
        assert got is None
    # a hang guard, not a timing test: linear takes under 0.1 s of CPU, the quadratic cases this guards took
    # 50 s and more; a bound 300x the linear cost cannot fail on a loaded machine
    assert cpu < 30.0, f"{name}: {cpu:.2f} s of CPU (under 0.1 s when linear)"


def test_completion_size_is_capped():
    from selfevolve_lab.judge.extract import MAX_ANSWER_CHARS, MAX_COMPLETION_CHARS, extract

    huge = f"{FENCE}python\n{SOLVE}{FENCE}\n" + "x" * 10_000_000  # took 53 s and 4.2 GB
    t0 = time.thread_time()
    code, why = extract(huge, "solve")
    assert time.thread_time() - t0 < 20.0  # a hang guard (took 53 s before the cap; under 0.01 s with it)
    assert code is None and "10,000,041 characters" in why and f"{MAX_COMPLETION_CHARS:,}" in why
    long_answer = f"{FENCE}python\n{SOLVE}{FENCE}\n" + "y" * MAX_ANSWER_CHARS
    code, why = extract(long_answer, "solve")
    assert code is None and "answer" in why and f"{MAX_ANSWER_CHARS:,}" in why
    thinking = "<think>" + "z" * (MAX_COMPLETION_CHARS - 1000) + f"</think>{FENCE}python\n{SOLVE}{FENCE}"
    assert extract(thinking, "solve") == (SOLVE, "")  # long reasoning counts only against the larger cap
    assert extract("no code here", "solve") == (None, "no Python code found in the completion")


# ---------------------------------------------------------------- comparison rules

T = to_tagged


@pytest.mark.parametrize("expected,got,ok", [
    (T([5]), T(5), False),  # [5] is not 5
    (T(5), T([5]), False),
    (T(3), T(3.0), True),  # int vs float by value
    (T(True), T(1), False),  # bool is not a number
    (T(1), T(True), False),
    (T(0.1 + 0.2), T(0.3), True),  # tolerance
    (T(1.0), T(1.001), False),
    (T(float("nan")), T(float("nan")), True),
    (T(float("inf")), T(float("-inf")), False),
    (T([1, 2]), T((1, 2)), True),  # list vs tuple interchangeable by default
    (T([1, 2]), T([1, 2, 3]), False),
    (T("a"), T("a "), False),
    (T(None), T(0), False),
    (T({"a": 1}), T({"a": 1.0}), True),
    (T({"a": 1}), T({"b": 1}), False),
    (T({1, 2}), T({2, 1}), True),
    (T(1 + 2j), T(1 + 2j), True),
    (T(2.0), T(2 + 0j), True),
    ({"$array": {"dtype": "f8", "shape": [2], "data": [1.0, 2.0]}},
     {"$array": {"dtype": "i8", "shape": [2], "data": [1, 2]}}, True),  # numeric dtypes by value
    ({"$array": {"dtype": "f8", "shape": [2], "data": [1.0, 2.0]}}, T([1.0, 2.0]), False),  # array is not a list
    ({"$array": {"dtype": "f8", "shape": [2], "data": [1.0, 2.0]}},
     {"$array": {"dtype": "f8", "shape": [2, 1], "data": [[1.0], [2.0]]}}, False),  # shapes
    ({"$array": {"dtype": "b1", "shape": [1], "data": [True]}},
     {"$array": {"dtype": "i8", "shape": [1], "data": [1]}}, False),  # bools only with bools
    ({"$scalar": {"dtype": "f8", "value": 2.5}}, T(2.5), True),  # a library float is a float
    ({"$scalar": {"dtype": "b1", "value": True}}, T(True), True),
    (T(1), {"$opaque": "A"}, False),
    (T(1.0), T(10 ** 400), False),  # beyond float range: unequal, not a crash
    (T(10 ** 400), T(10 ** 400), True),
    (T(b"ab"), T(b"ab"), True),  # bytes exactly, never as text
    (T(b"ab"), T("ab"), False),
    ({"$array": {"dtype": "f4", "shape": [1], "data": [0.5]}},
     {"$array": {"dtype": "f8", "shape": [1], "data": [0.5]}}, True),  # f4 vs f8: by value
    ({"$array": {"dtype": "f8", "shape": [1], "data": [0.5]}}, T(0.5), False),  # an array is not a scalar
    (T({1: 2}), T({1.0: 2}), False),  # dict keys exactly
    # the same rules for items of a sequence (plain numbers there take a shortcut)
    (T([1, True]), T([1, 1]), False),
    (T([1, 1]), T([1, True]), False),
    (T([3, 0.5]), T([3.0, 0.5]), True),
    (T([0.1 + 0.2, 1]), T([0.3, 1]), True),
    (T([1.0, 2.0]), T([1.0, 2.001]), False),
    (T([float("nan"), 1]), T([float("nan"), 1]), True),
    (T([[1, 2], [3, 4]]), T([[1, 2], [3, 5]]), False),
    # an expected integer is matched exactly (issue 12: 3 accepted 3.000001); an expected float within
    # a tolerance relative to its magnitude
    (T(3), T(3.000001), False),
    (T(3), T(2.9999999999), False),
    (T(3), T(3.0), True),  # the exact value, as a float
    (T(0), T(1e-12), False),
    (T(10 ** 20), T(1e20), True),  # 1e20 is exactly 10**20
    (T(2 ** 53 + 1), T(float(2 ** 53)), False),
    (T(3), T(float("nan")), False),
    (T(3.0), T(3.000001), True),
    (T(3e6), T(3e6 + 1), True),  # relative: 1e-6 of 3e6 is 3
    (T(3e6), T(3e6 + 4), False),
    (T(1e-12), T(0.0), True),  # below atol: a task like this is the validator's to reject
    (T([1, 2]), T([1, 2.000001]), False),  # in a sequence
    (T({"a": 2}), T({"a": 2.000001}), False),  # in a dict
    (T((1, 2)), T((1.0, 2.0)), True),
    ({"$scalar": {"dtype": "i8", "value": 3}}, {"$scalar": {"dtype": "f8", "value": 3.000001}}, False),
    ({"$scalar": {"dtype": "u1", "value": 3}}, T(3), True),  # a library int is an int
    ({"$scalar": {"dtype": "f8", "value": 3}}, T(3.000001), True),  # a library float written as 3 is a float
    ({"$array": {"dtype": "i8", "shape": [2], "data": [1, 2]}},
     {"$array": {"dtype": "f8", "shape": [2], "data": [1.0, 2.000001]}}, False),  # an int array: exactly
    ({"$array": {"dtype": "i8", "shape": [2], "data": [1, 2]}},
     {"$array": {"dtype": "f8", "shape": [2], "data": [1.0, 2.0]}}, True),
    ({"$array": {"dtype": "f8", "shape": [2], "data": [1, 2]}},
     {"$array": {"dtype": "f8", "shape": [2], "data": [1.0, 2.000001]}}, True),  # a float array's items are floats
    (T(1 + 2j), T(1 + 2.000001j), True),  # complex parts are floats
    (T(3), T(3.000001 + 0j), False),  # an expected integer stays exact against a complex number
    (T(3), T(3 + 1e-9j), False),
    (T(3), T(3 + 0j), True),
    (T(3.0), T(3.000001 + 0j), True),
])
def test_compare_rules(expected, got, ok):
    assert equal(expected, got, CompareSpec())[0] is ok


@pytest.mark.parametrize("value", [[1.0, float("nan")], [[1, 2], [float("inf")]], {"$tuple": [float("-inf")]}])
def test_untagged_non_finite_floats_are_malformed(value):
    from selfevolve_lab.sandbox.protocol import ProtocolError, validate

    with pytest.raises(ProtocolError, match="non-finite"):
        validate(value)


def test_compare_options():
    arr = {"$array": {"dtype": "i8", "shape": [2], "data": [1, 2]}}
    assert equal(arr, T([1, 2]), CompareSpec(array_equals_list=True))[0]
    assert not equal(T([1, 2]), T((1, 2)), CompareSpec(strict_sequence_type=True))[0]
    assert not equal(T(float("nan")), T(float("nan")), CompareSpec(nan_equal=False))[0]
    assert equal(T(100.0), T(100.5), CompareSpec(rtol=0.01))[0]
    assert equal(T(3), T(3.000001), CompareSpec(int_exact=False))[0]  # a task may opt out of exact integers
    assert not equal(T(3), T(3.000001), CompareSpec(int_exact=False, rtol=0, atol=0))[0]
    assert "expected 3, got 3.000001" in equal(T(3), T(3.000001))[1]
    assert "expected length" in equal(T([1]), T([1, 2]))[1]


# ---------------------------------------------------------------- usage check

TRIV = frozenset({"yitaf", "gifune"})
PLAIN = frozenset({"gifune"})


def usage(code):
    return check_usage(code, package="zwc", library="numpy", entry_point="solve", trivial_apis=TRIV,
                       to_plain_methods=PLAIN)


@pytest.mark.parametrize("code", [
    "import zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()\n",
    "import zwc as z\ndef solve(x):\n    return z.falekef(x)\n",
    "from zwc import falekef\ndef solve(x):\n    return falekef(x)\n",
    "from zwc import falekef as f\ndef solve(x):\n    y = f(x)\n    out = []\n    for v in y:\n"
    "        out.append(float(v))\n    return out\n",
    "from zwc.rfx import quvohe\ndef solve(m):\n    return quvohe(m)\n",
    "import zwc\ndef helper(a):\n    return zwc.kocito(a)\ndef solve(x):\n    r = helper(x)\n    return float(r)\n",
    "import zwc\ndef solve(x):\n    return (zwc.yitaf(x) * 2).gifune()\n",  # package arithmetic
    "import zwc\ndef solve(x):\n    return zwc.yitaf(x).sosuba()\n",  # a method of a package object
    "import zwc\nsolve = lambda x: zwc.falekef(x)\n",
    "import zwc\ndef solve(x):\n    total = 0\n    total += zwc.kocito(x)\n    return total\n",
    # a class of its own with private state is fine
    "import zwc\nclass Acc:\n    def __init__(self):\n        self._v = []\n    def _add(self, y):\n"
    "        self._v.append(y)\n        return self\ndef solve(x):\n    a = Acc()._add(zwc.falekef(x))\n"
    "    return a._v[0]\n",
    "import zwc\nf = zwc.falekef\ndef solve(x):\n    g = f\n    return g(x)\n",  # reassigned functions
    "import zwc\ndef solve(x):\n    z2 = zwc\n    return z2.kocito(x)\n",
    "import zwc\ndef solve(x):\n    return list(map(zwc.falekef, x))\n",  # handed on, not called here
    "from zwc import falekef\ndef solve(x):\n    return sorted(x, key=falekef)\n",
    "import zwc\nif __name__ == '__main__':\n    print(1)\ndef solve(x):\n    return getattr(zwc, 'falekef')(x)\n",
])
def test_usage_accepts_honest_solutions(code):
    assert usage(code).ok, usage(code)


@pytest.mark.parametrize("code", [
    "def solve(x):\n    return [abs(v) for v in x]\n",  # no package at all
    "import zwc\ndef solve(x):\n    zwc.falekef(x)\n    return [abs(v) for v in x]\n",  # decorative call
    "import zwc\ndef solve(x):\n    a = zwc.yitaf(x)\n    b = zwc.yitaf(a)\n    return [abs(v) for v in x]\n",  # twice
    "import zwc\ndef solve(x):\n    return [abs(v) for v in zwc.yitaf(x).gifune()]\n",  # round trip only
    "import zwc\ndef solve(x):\n    y = zwc.falekef(x)\n    y = [abs(v) for v in x]\n    return y\n",  # overwritten
    "import zwc\nA = zwc.yitaf([1])\ndef solve(x):\n    return sorted(x)\n",
    "import zwc\nmk = zwc.yitaf\ndef solve(x):\n    return [abs(v) for v in mk(mk(x)).gifune()]\n",  # aliased constructor
    "import zwc\ndef solve(x):\n    return getattr(zwc, 'yitaf')(x).gifune()\n",
    "import zwc\ndef solve(x):\n    return [abs(v) for v in list(map(zwc.yitaf, x))]\n",  # constructor handed on
    "import zwc\ndef solve(x):\n    f = zwc.falekef\n    return [abs(v) for v in x]\n",
])
def test_usage_rejects_decorative_use(code):
    r = usage(code)
    assert not r.ok and r.status == "not_using_package", r


@pytest.mark.parametrize("code", [
    "import numpy as np\ndef solve(x):\n    return np.abs(x)\n",
    "import numpy.linalg\ndef solve(x):\n    return 1\n",
    "from numpy import abs\ndef solve(x):\n    return abs(x)\n",
    "def solve(x):\n    np = __import__('numpy')\n    return np.abs(x)\n",
    "import importlib\ndef solve(x):\n    return importlib.import_module('num' + 'py').abs(x)\n",
    "import sys, zwc\ndef solve(x):\n    return sys.modules['numpy'].abs(x)\n",
    "import zwc\ndef solve(x):\n    return zwc._core._lib.abs(x)\n",
    "import zwc\ndef solve(x):\n    return zwc.yitaf(x)._v\n",
    "import zwc\ndef solve(x):\n    return getattr(zwc.yitaf(x), '_' + 'v')\n",
    "import zwc\ndef solve(x):\n    return zwc.falekef.__globals__['_lib'].abs(x)\n",
    "import zwc\ndef solve(x):\n    return type(zwc.yitaf(x)).__mro__\n",
    "import zwc\ndef solve(x):\n    return zwc.falekef(x).__class__.__dict__\n",
    "import zwc\ndef solve(x):\n    return eval('__import__(\"numpy\")').abs(x)\n",
    "import zwc\ndef solve(x):\n    exec('import numpy')\n    return zwc.falekef(x)\n",
    "import subprocess, zwc\ndef solve(x):\n    return subprocess.check_output(['python', '-c', 'import numpy'])\n",
    "import os, zwc\ndef solve(x):\n    os.system('python -c \"import numpy\"')\n    return zwc.falekef(x)\n",
    "import builtins, zwc\ndef solve(x):\n    return builtins.__import__('numpy')\n",
    "import gc, zwc\ndef solve(x):\n    return [o for o in gc.get_objects()]\n",
    "import pickle, zwc\ndef solve(x):\n    return pickle.loads(b'cnumpy\\nabs\\n.')(x)\n",
    "import ctypes, zwc\ndef solve(x):\n    return zwc.falekef(x)\n",
    "import sys, zwc\ndef solve(x):\n    s = sys\n    t = s\n    return t.modules['numpy'].abs(x)\n",  # aliased
    "import sys, zwc\ndef solve(x):\n    return getattr(sys, 'modules')['numpy'].abs(x)\n",
    "import os, zwc\ndef solve(x):\n    o = os\n    return o.popen('python -c 1').read()\n",
    "import operator, zwc\ndef solve(x):\n    return operator.attrgetter('_core._lib')(zwc).abs(x)\n",
    "from operator import methodcaller\nimport zwc\ndef solve(x):\n    return methodcaller('_v')(zwc.yitaf(x))\n",
    "import zwc\ndef solve(x):\n    return open(zwc.__file__).read()\n",
    "import zwc\ndef solve(x):\n    return zwc.__getattr__('_core')\n",
    "import zwc\ndef peek(self):\n    return self._core\ndef solve(x):\n    return peek(zwc)._lib.abs(x)\n",
    "from zwc._core import unwrap\nimport zwc\ndef solve(x):\n    return unwrap(zwc.falekef(x)).tolist()\n",
    "from zwc import _core\nimport zwc\ndef solve(x):\n    return _core._lib.abs(x)\n",
    "import zwc\ndef solve(x):\n    return type(zwc.falekef(x)).mro()[-1]\n",
    "import zwc\ndef solve(x):\n    return '{0._core}'.format(zwc)\n",
    "import zwc\nv = vars\ndef solve(x):\n    return v(zwc)['_core']\n",
    "import zwc\ng = getattr\ndef solve(x):\n    return g(zwc, '_' + 'core')\n",
    # its own class defines _v, but the object read is the package's
    "import zwc\nclass A:\n    def __init__(self):\n        self._v = 0\ndef solve(x):\n    a = zwc.yitaf(x)\n"
    "    return a._v\n",
])
def test_usage_rejects_reaching_the_original_library(code):
    r = usage(code)
    assert not r.ok and r.status == "uses_original_library", r


# ---------------------------------------------------------------- verdicts end to end


def _task(mini_bench, tid="t1", entry="solve", tests=None):
    tests = tests or [({"x": [-1, 2, -3]}, [1, 2, 3]), ({"x": [0]}, [0]), ({"x": [-2.5]}, [2.5])]
    return Task(id=tid, kind="single", apis=["zwc.falekef"], prompt="absolute values", entry_point=entry,
                signature=f"def {entry}(x):", reference="import zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()\n",
                tests=[TestCase(input={k: T(v) for k, v in i.items()}, output=T(o)) for i, o in tests])


@pytest.fixture(scope="module")
def judge(mini_bench):
    with Judge(mini_bench, workers=2) as j:
        yield j


@pytest.mark.parametrize("completion,status", [
    ("```python\nimport zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()\n```", "passed"),
    ("```python\nimport zwc as z\ndef solve(x):\n    return [float(v) for v in z.falekef(x)]\n```", "passed"),
    ("```python\nimport zwc\ndef solve(x):\n    return zwc.falekef(x)\n```", "wrong_answer"),  # an array, not a list
    ("```python\nimport zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()[:1]\n```", "wrong_answer"),
    ("```python\nimport zwc\ndef solve(x):\n    return zwc.falekef(x).gifune() + [1 / 0]\n```", "runtime_error"),
    ("```python\nimport zwc\ndef solve(x):\n    y = zwc.falekef(x)\n    while True:\n        pass\n    return y\n```",
     "timeout"),
    ("```python\nimport zwc\ndef solve(x):\n    return zwc.jegedi(10 ** 12)\n```", "memory"),
    ("no idea", "no_code"),
    ("```python\ndef solve(x):\n    return [abs(v) for v in x]\n```", "not_using_package"),
    ("```python\nimport numpy as np\ndef solve(x):\n    return np.abs(x).tolist()\n```", "uses_original_library"),
    ("```python\nimport zwc\ndef solve(x):\n    print('PASSED')\n    class A:\n        def __eq__(s, o):\n"
     "            return True\n    return [zwc.falekef(x), A()][1]\n```", "wrong_answer"),
    ("```python\nimport zwc\ndef other(x):\n    return zwc.falekef(x).gifune()\n```", "runtime_error"),
])
def test_judge_statuses(judge, mini_bench, completion, status):
    from selfevolve_lab.sandbox import Limits

    judge.pool.limits = Limits(cpu_s=2, wall_s=3)
    v = judge.judge(_task(mini_bench), completion, sample_idx=3)
    assert v.status == status, v
    assert v.sample_idx == 3 and v.task_id == "t1"
    assert v.passed is (status == "passed")
    if status in ("passed", "wrong_answer", "runtime_error") and v.tests:
        assert len(v.tests) == 3


_ANSWER = "import zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()\n"


@pytest.mark.parametrize("completion,status", [
    ("<think>" * 30_000, "no_code"),  # 210 KB of unclosed reasoning: took 33 s
    ("<think>" * 14_000 + f"</think>\n{FENCE}python\n{_ANSWER}{FENCE}", "passed"),
    (f"{FENCE}python\n" + "\n" * 30_000 + _ANSWER + FENCE, "passed"),  # a fence full of newlines: took 18 s
    (_ANSWER + "x = [\n" + "1,\n" * 6_000, "passed"),  # the unfenced cut-back: 18 KB took 23 s
    (f"{FENCE}python\n{_ANSWER}{FENCE}\n" + "x" * 10_000_000, "no_code"),  # 10 MB: took 53 s and 4.2 GB
    ("<think>" + "y" * 500_000 + f"</think>{FENCE}python\n{_ANSWER}{FENCE}", "passed"),  # long reasoning is fine
    (f"{FENCE}python\n{_ANSWER}{FENCE}\n" + "y" * 100_000, "no_code"),  # the answer itself is over its cap
])
def test_slow_and_huge_completions(judge, mini_bench, completion, status):
    v = judge.judge(_task(mini_bench), completion)
    assert v.status == status, v
    if len(completion) > 1_000_000 or (status == "no_code" and "y" * 100_000 in completion):
        assert "cap" in v.detail, v.detail  # the verdict names the cap it is over
    v.model_dump_json()


def test_an_expected_integer_is_matched_exactly(judge, mini_bench):
    task = _task(mini_bench, tests=[({"x": [-3]}, [3]), ({"x": [-1, 2]}, [1, 2])])
    near = "import zwc\ndef solve(x):\n    return [v * (1 + 1e-7) for v in zwc.falekef(x).gifune()]\n"
    assert judge.judge(task, near).status == "wrong_answer"  # was passed: 3 accepted 3.0000003
    as_floats = "import zwc\ndef solve(x):\n    return [float(v) for v in zwc.falekef(x).gifune()]\n"
    assert judge.judge(task, as_floats).status == "passed"  # the exact value, as a float
    floats = _task(mini_bench, tests=[({"x": [-3.5]}, [3.5])])
    assert judge.judge(floats, near).status == "passed"  # an expected float: within rtol of its magnitude


def test_a_lone_surrogate_in_an_error_is_a_verdict(judge, mini_bench):
    code = ("import zwc\ndef solve(x):\n    y = zwc.falekef(x).gifune()\n    if len(y) == 1:\n"
            "        raise ValueError(bytes([255]).decode('utf-8', 'surrogateescape'))\n    return y\n")
    v = judge.judge(_task(mini_bench), code)
    assert v.status == "runtime_error" and "ValueError" in v.detail, v
    detail = json.loads(v.model_dump_json())["tests"][1]["detail"]  # raised PydanticSerializationError
    assert detail.startswith("ValueError: ") and detail.encode("utf-8")  # the character escaped or replaced


def test_reward_is_the_verdict(judge, mini_bench):
    task = _task(mini_bench)
    good = "import zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()\n"
    bad = "def solve(x):\n    return [abs(v) for v in x]\n"
    assert judge.reward([good, bad, good], [task] * 3) == [1.0, 0.0, 1.0]


def test_trivial_names_come_from_the_mapping(mini_bench):
    assert {"yitaf", "gifune"} <= _novel_attrs(mini_bench.mapping, NUMPY.trivial)
    assert "gifune" in _novel_attrs(mini_bench.mapping, NUMPY.to_plain)


# ---------------------------------------------------------------- the CLI


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], capture_output=True, text=True,
                          **kw)


def _files(tmp_path, mini_bench, n_tasks=6, per_task=4):
    tasks = [_task(mini_bench, tid=f"t{i}") for i in range(n_tasks)]
    (tmp_path / "tasks.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in tasks))
    good = "```python\nimport zwc\ndef solve(x):\n    import time\n    time.sleep(0.05)\n" \
           "    return zwc.falekef(x).gifune()\n```"
    comps = [{"task_id": t.id, "completion": good if k % 2 == 0 else "nothing"} for t in tasks for k in range(per_task)]
    (tmp_path / "comps.jsonl").write_text("".join(json.dumps(c) + "\n" for c in comps))
    return tmp_path / "tasks.jsonl", tmp_path / "comps.jsonl", len(comps)


def test_cli_judges_and_resumes_after_sigkill(tmp_path, mini_bench):
    tasks, comps, n = _files(tmp_path, mini_bench)
    out = tmp_path / "verdicts.jsonl"
    args = ["judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", comps, "--out", out]
    proc = subprocess.Popen([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while time.time() < deadline and (not out.exists() or len(out.read_text().splitlines()) < 3):
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    assert 3 <= len(partial) < n
    r = _cli(*args)
    assert r.returncode == 0, r.stderr
    assert "resuming" in r.stderr
    final = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    keys = [(v["task_id"], v["sample_idx"]) for v in final]
    assert len(keys) == len(set(keys)) == n  # nothing lost, nothing duplicated
    assert sum(v["status"] == "passed" for v in final) == n // 2
    assert "pass rate" in r.stdout and "50.0%" in r.stdout
    again = _cli(*args)  # a finished run re-runs as a no-op
    assert again.returncode == 0 and len(out.read_text().splitlines()) == n
    lines = out.read_text().splitlines(keepends=True)  # a record torn mid-write is redone, and only once
    out.write_text("".join(lines[:-1]) + lines[-1][:25])
    for _ in range(2):
        r = _cli(*args)
        assert r.returncode == 0, r.stderr
        final = [json.loads(line) for line in out.read_text().splitlines()]
        assert len(final) == n and len({(v["task_id"], v["sample_idx"]) for v in final}) == n


@pytest.mark.parametrize("problem", ["missing_bench", "bad_jsonl", "unknown_task", "missing_completions"])
def test_cli_bad_input(tmp_path, mini_bench, problem):
    tasks, comps, _ = _files(tmp_path, mini_bench, n_tasks=1, per_task=1)
    bench = mini_bench.root
    if problem == "missing_bench":
        bench = tmp_path / "nope"
    elif problem == "bad_jsonl":
        comps.write_text('{"task_id": "t0", "completion": "x"}\n{not json\n')
    elif problem == "unknown_task":
        comps.write_text('{"task_id": "zzz", "completion": "x"}\n')
    else:
        comps = tmp_path / "missing.jsonl"
    r = _cli("judge", "--bench", bench, "--tasks", tasks, "--completions", comps, "--out", tmp_path / "v.jsonl")
    assert r.returncode == 2, r
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
    if problem == "bad_jsonl":
        assert ":2:" in r.stderr
    if problem == "unknown_task":
        assert "zzz" in r.stderr
