"""Per-API task specs: find, for each library function, an argument profile that works.

A profile is a tuple of argument kinds (see ``inputs.KINDS``). Candidates are tried in order against the
real library in-process (our code and the library are trusted); the first profile whose call succeeds for
every test seed without warnings, deterministically and with a JSON-safe result, becomes the spec.
Hand-written overrides are a table (``OVERRIDES``), never code paths.
"""

from __future__ import annotations

import importlib
import json
import warnings
from dataclasses import dataclass
from typing import Any

from selfevolve.tasks.inputs import KINDS, make_value

# Tried in order; the first that works wins.
PROFILES: tuple[tuple[str, ...], ...] = (
    ("real",), ("pos",), ("unit",), ("int",), ("mat",), ("real2d",),
    ("real", "real"), ("pos", "pos"), ("int", "int"), ("real", "small"), ("real2d", "axis"),
    ("small",), ("small", "small"), ("real", "real", "real"), ("vec3", "vec3"), ("real", "sorted"),
    ("real2d", "axis", "axis"), ("real", "real", "small"), ("real", "small", "real"), ("int", "small"),
    ("mat", "small"), ("mat", "mat"), ("mat", "vecmat"), ("vecmat", "mat"), ("real2d", "small"),
)
RANDOM_PROFILES: tuple[tuple[str, ...], ...] = (("seed", "size"), ("seed", "pos", "size"),
                                                ("seed", "unit", "size"), ("seed", "small", "size"),
                                                ("seed", "pos", "pos", "size"), ("seed", "real", "pos", "size"),
                                                ("seed", "real"), ("seed", "small"), ("seed", "prob", "size"),
                                                ("seed", "small", "prob", "size"), ("seed", "pos", "pos", "pos"),
                                                ("seed", "small", "small", "small", "size"))
# API -> profile to use instead of searching (APIs the search gets wrong or cannot find).
OVERRIDES: dict[str, tuple[str, ...]] = {
    "numpy.linalg.inv": ("mat",), "numpy.linalg.det": ("mat",), "numpy.linalg.solve": ("mat", "vecmat"),
    "numpy.bitwise_and": ("int", "int"), "numpy.bitwise_or": ("int", "int"), "numpy.bitwise_xor": ("int", "int"),
    "numpy.log": ("pos",), "numpy.sqrt": ("pos",),
}
SKIP_PREFIXES = ("numpy.testing", "numpy.ctypeslib", "numpy.lib.format")
# Global-state setters, I/O and test runners: never tasks.
SKIP = {"numpy.test", "numpy.set_printoptions", "numpy.seterr", "numpy.seterrcall", "numpy.setbufsize",
        "numpy.save", "numpy.savez", "numpy.savez_compressed", "numpy.savetxt", "numpy.load", "numpy.loadtxt",
        "numpy.random.set_state", "numpy.random.seed", "numpy.show_config", "numpy.show_runtime", "numpy.info"}
N_TESTS = 5


@dataclass(frozen=True)
class Spec:
    api: str  # original dotted name
    profile: tuple[str, ...]

    @property
    def is_random(self) -> bool:
        return self.profile[:1] == ("seed",)

    @property
    def params(self) -> list[str]:
        return _param_names(self.profile)


def _param_names(profile: tuple[str, ...]) -> list[str]:
    names, counts = [], {}
    for k in profile:
        base = KINDS[k].param
        counts[base] = counts.get(base, 0) + 1
        names.append(base)
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if counts[n] > 1:
            seen[n] = seen.get(n, 0) + 1
            out.append(f"{n}{seen[n]}")
        else:
            out.append(n)
    return out


def reference_code(api: str, profile: tuple[str, ...], alias: str = "np") -> str:
    """A readable reference in the original library: converts list inputs to arrays, returns plain values."""
    params = _param_names(profile)
    call_args = []
    pre = []
    for p, k in zip(params, profile, strict=True):
        if k == "seed":
            pre.append(f"    {alias}.random.seed({p})")
        elif KINDS[k].array:
            call_args.append(f"{alias}.array({p})")
        elif k == "size":
            call_args.append(f"size={p}")  # keyword: positionally it would be another distribution parameter
        else:
            call_args.append(p)
    dotted = alias + api[len(api.split(".")[0]):]
    body = "\n".join(pre + [f"    result = {dotted}({', '.join(call_args)})",
                            "    if isinstance(result, (list, tuple)):  # several arrays, maybe of different shapes",
                            f"        return [{alias}.asarray(r).tolist() for r in result]",
                            f"    return {alias}.asarray(result).tolist()"])
    return f"import numpy as {alias}\n\n\ndef solve({', '.join(params)}):\n{body}\n"


def resolve(api: str) -> Any:
    mod, _, name = api.rpartition(".")
    return getattr(importlib.import_module(mod), name)


def _dump(value: Any) -> str:
    # complex numbers are tagged by the sandbox; anything else non-JSON raises
    def default(c: Any) -> Any:
        if isinstance(c, complex):
            return [c.real, c.imag]
        raise TypeError(type(c).__name__)

    return json.dumps(value, allow_nan=False, default=default)


def _plain(value: Any) -> Any:
    import numpy as np

    out = value if isinstance(value, list) else np.asarray(value).tolist()
    _dump(out)  # finite and JSON-safe, or raises

    return out


def run_in_process(code: str, kwargs: dict[str, Any]) -> Any:
    """Run a trusted reference in-process, warnings as errors; returns its plain result."""
    import numpy as np

    ns: dict[str, Any] = {}
    exec(compile(code, "<reference>", "exec"), ns)  # our own generated code, trusted
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        return _plain(ns["solve"](**kwargs))


def test_inputs(profile: tuple[str, ...], seed: int, n: int = N_TESTS, train: bool = False) -> list[dict[str, Any]]:
    params = _param_names(profile)
    out = []
    for i in range(n):
        kw: dict[str, Any] = {}
        shape_seed = seed * 1000 + i
        for j, (p, k) in enumerate(zip(params, profile, strict=True)):
            kw[p] = make_value(k, shape_seed, j, train)
        out.append(kw)
    return out


def works(code: str, inputs: list[dict[str, Any]], max_chars: int = 4000) -> list[Any] | None:
    """Outputs for all inputs if the code works deterministically on all of them, else None."""
    outs = []
    try:
        for kw in inputs:
            a, b = run_in_process(code, kw), run_in_process(code, kw)
            if _dump(a) != _dump(b) or len(_dump(a)) > max_chars:
                return None
            outs.append(a)
    except Exception:
        return None
    if len({_dump(o) for o in outs}) < min(2, len(outs)):
        return None  # constant outputs test nothing
    return outs


def find_spec(api: str, seed: int = 0) -> Spec | None:
    """The first profile that works for ``api``, or None."""
    if api.startswith(SKIP_PREFIXES) or api in SKIP:
        return None
    try:
        fn = resolve(api)
    except (ImportError, AttributeError):
        return None
    if not callable(fn):
        return None
    if api in OVERRIDES:
        candidates: tuple[tuple[str, ...], ...] = (OVERRIDES[api],)
    elif api.startswith("numpy.random."):
        candidates = RANDOM_PROFILES
    else:
        candidates = PROFILES
    for prof in candidates:
        if works(reference_code(api, prof), test_inputs(prof, seed, 3)) is not None:
            return Spec(api, prof)
    return None
