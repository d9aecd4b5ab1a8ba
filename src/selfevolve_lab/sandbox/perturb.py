"""The usage rule's perturbation (see ``selfevolve_lab.judge.usage``): package APIs that return deliberately
different values of the same type and shape.

Loaded by path inside the jail like ``protocol.py``, so it imports only the standard library. The
constants come from a seed the judge draws in secret (`Perturbation`): a program cannot reproduce the
perturbation by hand, only by calling the perturbed APIs. The trusted side imports it for its constants
and for tests.
"""

from __future__ import annotations

import importlib
import random

_PREFIXES = "!#$%&*+-:;=?@^_|~ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DTYPES = ("<U7", "|i1", "<f2", "<c8", "<U3", "<u2", "|b1", "<m8[s]")


class Perturbation:
    """The constants of one perturbation, drawn from ``seed``. Never the identity on what it can change:
    integers move by a nonzero offset below 100 in size (so no 8-bit type wraps back onto itself),
    numbers by ``sign * (offset + scale * |v|)`` (never a fixed point), booleans flip, dates move by a
    nonzero number of units, strings gain a drawn first character, a data type becomes another."""

    def __init__(self, seed: int):
        r = random.Random(seed)
        self.int_offset = r.choice([k for k in range(-99, 100) if k not in (-1, 0, 1)])
        self.sign = r.choice((-1.0, 1.0))
        self.offset = r.uniform(0.5, 4.0)
        self.scale = r.uniform(0.1, 1.5)
        self.imag = r.choice((-1.0, 1.0)) * r.uniform(0.5, 4.0)
        self.units = r.choice([k for k in range(-30, 31) if k])
        self.prefix = r.choice(_PREFIXES)
        self.dtypes = r.sample(_DTYPES, 2)

    def shift(self, v, depth: int = 0, up: bool = False):
        """A deliberately different value of the same type and shape. Arrays are changed through their own
        operators, so this needs no library import. What it cannot change (other objects) it returns as
        is: a task whose answer is such a value cannot be told by the usage rule, and the generator drops it.
        ``up``: integers only grow (an argument that must stay non-negative: a seed, a size)."""
        t = type(v)
        step = abs(self.int_offset) if up else self.int_offset
        if t is bool:
            return not v
        if t is int:
            return v + step
        if t is float:
            return v + self.sign * (self.offset + abs(v) * self.scale)
        if t is complex:
            return v + complex(self.sign * (self.offset + abs(v) * self.scale), self.imag)
        if t is str:
            return self.prefix + v
        if t is bytes:
            return self.prefix.encode() + v
        if depth < 8 and t in (list, tuple):
            return t(self.shift(x, depth + 1, up) for x in v)
        if depth < 8 and isinstance(v, tuple) and hasattr(t, "_fields"):
            return t(*(self.shift(x, depth + 1, up) for x in v))
        if depth < 8 and t is dict:
            return {k: self.shift(x, depth + 1, up) for k, x in v.items()}
        if any(c.__name__ == "dtype" for c in t.__mro__) and hasattr(v, "str"):  # a data type: another one
            base = next(c for c in t.__mro__ if c.__name__ == "dtype")
            try:
                first = base(self.dtypes[0])
                return first if first != v else base(self.dtypes[1])
            except Exception:
                return v
        kind = getattr(getattr(v, "dtype", None), "kind", None)
        try:
            if kind == "b":
                return v ^ True
            if kind == "i":
                return v + step
            if kind == "u":  # a negative Python int does not mix with an unsigned type
                return v + abs(self.int_offset)
            if kind == "f":
                return v + self.sign * (self.offset + abs(v) * self.scale)
            if kind == "c":
                return v + self.sign * (self.offset + abs(v) * self.scale) + self.imag * 1j
            if kind in ("m", "M"):
                return v + self.units
            if kind in ("U", "S") and getattr(v, "shape", None) is not None:
                obj = v.astype(object)
                flat = obj.ravel()
                pre = self.prefix if kind == "U" else self.prefix.encode()
                for i in range(len(flat)):
                    flat[i] = pre + flat[i]
                return flat.reshape(obj.shape).astype(kind)
        except Exception:
            return v
        return v


class Perturber:
    """Replaces package functions and methods, named by dotted novel names, with versions whose results
    are perturbed (`Perturbation.shift`). Installed in a probe run's child before the untrusted code is
    executed, and on for the whole run: whatever reference the code takes, at import or at call time, is
    to these, and every call returns alike. The test runs carry no perturbation at all."""

    def __init__(self, unwrap, wrap):
        self.unwrap = unwrap or (lambda v: v)
        self.wrap = wrap or (lambda v: v)
        self.p: Perturbation | None = None

    def install(self, names: list[str], seed: int) -> None:
        self.p = Perturbation(seed)
        for dotted in names:
            parts = str(dotted).split(".")
            try:
                owner = importlib.import_module(parts[0])
                for part in parts[1:-1]:
                    owner = getattr(owner, part)
            except (ImportError, AttributeError):
                continue
            name = parts[-1]
            try:
                if isinstance(owner, type):
                    raw = next((k.__dict__[name] for k in owner.__mro__ if name in k.__dict__), None)
                    if raw is not None:
                        setattr(owner, name, self._member(raw))
                elif callable(getattr(owner, name, None)):
                    setattr(owner, name, self._function(getattr(owner, name)))
            except (AttributeError, TypeError):  # a builtin type or a read-only attribute: left as it is
                continue

    def _function(self, fn):
        result, redo = self.result, self._redo

        def perturbed(*args, **kw):
            r = fn(*args, **kw)
            if r is None:  # an API that works by its effect (a seed, a file, an output argument): redo it
                redo(fn, args, kw)
            return result(r)

        try:  # a universal function's methods and attributes, and its name, stay as they were
            perturbed.__dict__.update(fn.__dict__)
            perturbed.__name__, perturbed.__qualname__ = fn.__name__, fn.__qualname__
            perturbed.__module__, perturbed.__doc__ = fn.__module__, fn.__doc__  # nothing tells the probe apart
        except (AttributeError, TypeError):
            pass
        return perturbed

    def _member(self, raw):
        if isinstance(raw, property):
            get = raw.fget
            return property(None if get is None else self._function(get), raw.fset, raw.fdel, raw.__doc__)
        if isinstance(raw, (staticmethod, classmethod)):
            return type(raw)(self._function(raw.__func__))
        return self._function(raw) if callable(raw) else raw

    def _redo(self, fn, args, kw) -> None:
        """Call an effect-only API again with its non-text arguments perturbed (``seed(s)`` is followed by
        ``seed(s')``, ``save(f, a)`` by ``save(f, a')``), then perturb its first array argument in place
        (an output argument)."""
        shift = self.p.shift

        def moved(a):
            v = self.unwrap(a)
            return a if isinstance(v, (str, bytes)) else shift(v, up=True)

        try:
            fn(*[moved(a) for a in args], **{k: moved(v) for k, v in kw.items()})
        except Exception:
            pass
        for a in args:
            v = self.unwrap(a)
            if getattr(v, "dtype", None) is not None and getattr(v, "shape", None) is not None:
                try:
                    v[...] = shift(v)
                except Exception:
                    pass
                break

    def result(self, r):
        """A package call's result, perturbed."""
        return r if r is None else self._wrapped(r, 0)

    def _wrapped(self, r, depth: int):
        inner = self.unwrap(r)
        if inner is not r:
            return self.wrap(self.p.shift(inner))
        t = type(r)
        if depth < 8 and t in (list, tuple):
            return t(self._wrapped(x, depth + 1) for x in r)
        if depth < 8 and isinstance(r, tuple) and hasattr(t, "_fields"):
            return t(*(self._wrapped(x, depth + 1) for x in r))
        if depth < 8 and t is dict:
            return {k: self._wrapped(x, depth + 1) for k, x in r.items()}
        return self.p.shift(r)
