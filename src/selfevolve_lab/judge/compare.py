"""Comparing an expected value with a returned one. Pure functions over tagged JSON (see protocol).

The values are plain data decoded by the trusted side; nothing here calls code from the sandbox.

Rules (``spec`` is the task's CompareSpec):
* ``None`` equals only ``None``. Strings and bytes compare exactly.
* Booleans are not numbers: ``True`` never equals ``1``. A boolean library scalar equals a bool.
* Numbers (int, float, library scalars of kind i/u/f) compare by value, the rule chosen by the
  *expected* value ``b``:
  - an expected integer (a Python int, or a library scalar or array item of kind i/u) is matched
    exactly: the returned value must equal it, whatever its type. ``3`` equals ``3`` and ``3.0``, never
    ``3.000001``; an int beyond float range equals only that int. A task may opt out with
    ``spec.int_exact=False`` (expected integers then compare as floats).
  - an expected float is matched within a tolerance relative to its own magnitude:
    ``|a - b| <= atol + rtol * |b|`` (``atol`` is only a floor for values near zero; a task whose
    expected values all lie within it of zero is one the task validator rejects). NaN equals NaN when
    ``spec.nan_equal``; infinities equal infinities of the same sign.
  Complex numbers compare part by part, each part a float; a real number equals a complex one with
  zero imaginary part (an expected integer: exactly, both parts).
* Sequences: a list and a tuple are interchangeable unless ``spec.strict_sequence_type``; lengths must
  match; items compare by these rules. A sequence never equals a scalar: ``[5]`` is not ``5``.
* Arrays: an array equals only an array of the same shape whose items compare equal (any numeric
  dtypes, e.g. "f8" vs "i8", compare by value, exactly when the expected dtype is an integer kind,
  within the tolerance when it is a float kind; booleans only with booleans). An array equals a nested
  list of the same shape only when ``spec.array_equals_list``.
* Dicts: the same keys (exactly) with equal values. Sets: the same items, exactly.
* An ``$opaque`` value (an object the sandbox could not encode) equals nothing.
"""

from __future__ import annotations

import json
import math
from typing import Any

from selfevolve_lab.schema import CompareSpec

_NUMERIC_KINDS = set("iuf")
_PLAIN = (int, float)  # exact types: bool is not a number here


def _kind(v: Any) -> str:
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "num"
    if isinstance(v, str):
        return "str"
    if isinstance(v, list):
        return "seq"
    tag = next(iter(v))
    if tag == "$f":
        return "num"
    if tag == "$scalar":
        k = v["$scalar"]["dtype"][:1]
        return "num" if k in _NUMERIC_KINDS else ("bool" if k == "b" else ("complex" if k == "c" else "scalar"))
    return {"$tuple": "seq", "$complex": "complex", "$array": "array", "$dict": "dict", "$set": "set",
            "$bytes": "bytes", "$opaque": "opaque"}[tag]


def _num(v: Any) -> float | int:
    if isinstance(v, dict):
        if "$f" in v:
            return float(v["$f"])
        value = _num(v["$scalar"]["value"])
        return float(value) if v["$scalar"]["dtype"][:1] == "f" and isinstance(value, int) else value
    return v


def _unscalar(v: Any) -> Any:
    return v["$scalar"]["value"] if isinstance(v, dict) and "$scalar" in v else v


def _complex(v: Any) -> tuple[float, float]:
    v = _unscalar(v)
    if isinstance(v, dict) and "$complex" in v:
        return float(_num(v["$complex"][0])), float(_num(v["$complex"][1]))
    return float(_num(v)), 0.0


def _close(a: float | int, b: float | int, spec: CompareSpec) -> bool:
    """Whether the returned number ``a`` matches the expected ``b``."""
    if isinstance(b, int) and (spec.int_exact or isinstance(a, int)):
        return a == b  # exact, also against a float: Python compares int and float by their true values
    try:
        a, b = float(a), float(b)
    except OverflowError:  # an int beyond float range is near no finite float
        return False
    if math.isnan(a) or math.isnan(b):
        return spec.nan_equal and math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= spec.atol + spec.rtol * abs(b)


def _items(v: Any) -> list:
    return v if isinstance(v, list) else v["$tuple"]


def _canon(v: Any) -> str:
    return json.dumps(v, sort_keys=True)


def equal(expected: Any, got: Any, spec: CompareSpec | None = None, _path: str = "") -> tuple[bool, str]:
    """Whether ``got`` matches ``expected`` under ``spec``, and the first difference if not."""
    spec = spec or CompareSpec()
    ke, kg = _kind(expected), _kind(got)
    where = _path or "value"

    def no(why: str) -> tuple[bool, str]:
        return False, f"{where}: {why}"

    if ke == "opaque" or kg == "opaque":
        return no("an object that is not plain data")
    if ke == "complex" or (kg == "complex" and ke == "num"):
        if kg not in ("complex", "num"):
            return no(f"expected a complex number, got {kg}")
        (ar, ai), (br, bi) = _complex(got), _complex(expected)
        if ke == "num":  # a real expected value keeps its rule: an integer is matched exactly, both parts
            br = _num(expected)
            bi = 0 if isinstance(br, int) else 0.0
        ok = _close(ar, br, spec) and _close(ai, bi, spec)
        return (True, "") if ok else no(f"expected {br}+{bi}j, got {ar}+{ai}j")
    if ke == "num":
        if kg != "num":
            return no(f"expected a number, got {kg}")
        a, b = _num(got), _num(expected)
        return (True, "") if _close(a, b, spec) else no(f"expected {b!r}, got {a!r}")
    if ke == "bool":
        if kg != "bool":
            return no(f"expected a boolean, got {kg}")
        return (True, "") if _unscalar(got) == _unscalar(expected) else no(f"expected {_unscalar(expected)}")
    if ke in ("none", "str", "bytes", "scalar"):
        return (True, "") if _canon(got) == _canon(expected) else no(f"expected {_short(expected)}, got {_short(got)}")
    if ke == "seq":
        if kg == "array" and spec.array_equals_list:
            got = got["$array"]["data"]
            kg = "seq"
        if kg != "seq":
            return no(f"expected a sequence, got {kg}")
        if spec.strict_sequence_type and isinstance(expected, list) != isinstance(got, list):
            return no("expected a " + ("list" if isinstance(expected, list) else "tuple"))
        e, g = _items(expected), _items(got)
        if len(e) != len(g):
            return no(f"expected length {len(e)}, got {len(g)}")
        for i, (x, y) in enumerate(zip(e, g, strict=True)):
            if type(x) in _PLAIN and type(y) in _PLAIN and x == y:
                continue  # equal plain numbers are close under any spec; the common case, kept cheap
            ok, why = equal(x, y, spec, f"{where}[{i}]")
            if not ok:
                return ok, why
        return True, ""
    if ke == "array":
        ea = expected["$array"]
        if kg == "seq" and spec.array_equals_list:
            return equal(ea["data"], got, spec, _path)
        if kg != "array":
            return no(f"expected an array, got {kg}")
        ga = got["$array"]
        if ea["shape"] != ga["shape"]:
            return no(f"expected shape {tuple(ea['shape'])}, got {tuple(ga['shape'])}")
        eb, gb = ea["dtype"][:1] == "b", ga["dtype"][:1] == "b"
        if eb != gb:
            return no(f"expected dtype kind {ea['dtype'][:1]}, got {ga['dtype'][:1]}")
        # the items of a float array are floats, even where the expected data wrote one as a JSON integer
        inner = {"strict_sequence_type": False, "int_exact": spec.int_exact and ea["dtype"][:1] not in "fc"}
        return equal(ea["data"], ga["data"], spec.model_copy(update=inner), _path)
    if ke == "dict":
        if kg != "dict":
            return no(f"expected a dict, got {kg}")
        e = {_canon(k): v for k, v in expected["$dict"]}
        g = {_canon(k): v for k, v in got["$dict"]}
        if set(e) != set(g):
            return no(f"expected keys {sorted(e)[:5]}, got {sorted(g)[:5]}")
        for k in sorted(e):
            ok, why = equal(e[k], g[k], spec, f"{where}[{k}]")
            if not ok:
                return ok, why
        return True, ""
    if ke == "set":
        if kg != "set":
            return no(f"expected a set, got {kg}")
        same = sorted(map(_canon, expected["$set"])) == sorted(map(_canon, got["$set"]))
        return (True, "") if same else no("sets differ")
    return no(f"cannot compare {ke}")


def _short(v: Any, n: int = 80) -> str:
    s = json.dumps(v, ensure_ascii=True)
    return s if len(s) <= n else s[: n - 3] + "..."
