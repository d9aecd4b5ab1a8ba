"""Tagged JSON: how values cross the sandbox boundary as plain data.

Plain JSON carries null, bools, ints, finite floats, strings and lists. Everything else is a single-key
object whose key starts with ``$``:

  {"$f": "nan" | "inf" | "-inf"}                      non-finite float
  {"$tuple": [...]}  {"$set": [...]}  {"$bytes": b64}  {"$complex": [re, im]}
  {"$dict": [[key, value], ...]}                       any dict (keys are tagged values too)
  {"$array": {"dtype": "f8", "shape": [2, 3], "data": nested lists of tagged scalars}}
  {"$scalar": {"dtype": "i8", "value": 3}}             a library scalar (e.g. a 64-bit int type)
  {"$opaque": "TypeName"}                              anything else; never equal to anything

Dtypes are kind + itemsize codes ("f8", "i8", "b1", "c16", "U20"), never a library's type names, so task
files and results never name the original library.

This module is loaded *inside* the sandbox by the worker, so it imports only the standard library.
The encoder runs after untrusted code has had the process to itself, so it reads objects only through
builtin base-class methods captured at import (``list.__len__``, ``float.__repr__`` ...): an overridden
``__eq__``, ``__len__``, ``__iter__`` or ``__float__`` on a returned object is never called. The trusted
side never calls anything on a returned object at all: it parses JSON text (`parse`) and validates the tags.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

MAX_DEPTH = 64
MAX_ITEMS = 2_000_000

_TAGS = frozenset({"$f", "$tuple", "$set", "$bytes", "$complex", "$dict", "$array", "$scalar", "$opaque"})

# Captured at import, before any untrusted code runs in this process.
_list_len, _list_getitem = list.__len__, list.__getitem__
_tuple_len, _tuple_getitem = tuple.__len__, tuple.__getitem__
_dict_items = dict.items
_float_repr, _int_repr = float.__repr__, int.__repr__
_str_str = str.__str__
_bytes_bytes = bytes.__bytes__ if hasattr(bytes, "__bytes__") else bytes
_complex_real, _complex_imag = complex.real.__get__, complex.imag.__get__
_isinstance, _type, _len, _sorted = isinstance, type, len, sorted
_b64 = base64.b64encode
_isfinite = math.isfinite
_dumps = json.dumps


class EncodeError(ValueError):
    pass


class Encoder:
    """Turns a Python value into tagged JSON data. Build it before untrusted code runs.

    ``unwrap`` maps the novel package's proxy objects to the library objects they hold;
    ``array_type`` / ``scalar_type`` are the library's array and scalar base classes (None if absent).
    """

    def __init__(self, unwrap: Any = None, array_type: type | None = None, scalar_type: type | None = None):
        self.unwrap = unwrap
        self.array_type = array_type
        self.scalar_type = scalar_type
        self._tolist = getattr(array_type, "tolist", None)
        self._item = getattr(scalar_type, "item", None)
        self._count = 0

    def encode(self, value: Any) -> Any:
        self._count = 0
        return self._enc(value, 0)

    def dumps(self, value: Any) -> str:
        return _dumps(self.encode(value), ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    def _dtype_code(self, v: Any) -> str:
        dt = v.dtype
        return f"{dt.kind}{dt.itemsize}"

    def _enc(self, v: Any, depth: int) -> Any:
        self._count += 1
        if depth > MAX_DEPTH or self._count > MAX_ITEMS:
            raise EncodeError("value too large or too deeply nested")
        t = _type(v)
        if v is None or t is bool:
            return v
        if _isinstance(v, bool):  # a bool subclass cannot exist, but be explicit
            return bool(v)
        if _isinstance(v, int):
            return int(_int_repr(v))
        if _isinstance(v, float):
            f = float(_float_repr(v))
            if _isfinite(f):
                return f
            return {"$f": "nan" if f != f else ("inf" if f > 0 else "-inf")}
        if _isinstance(v, str):
            return str(_str_str(v))
        if _isinstance(v, complex):
            return {"$complex": [self._enc(float(_complex_real(v)), depth + 1), self._enc(float(_complex_imag(v)), depth + 1)]}
        if _isinstance(v, (bytes, bytearray)):
            return {"$bytes": _b64(bytes(v)).decode("ascii")}
        if _isinstance(v, list):
            return [self._enc(_list_getitem(v, i), depth + 1) for i in range(_list_len(v))]
        if _isinstance(v, tuple):
            return {"$tuple": [self._enc(_tuple_getitem(v, i), depth + 1) for i in range(_tuple_len(v))]}
        if _isinstance(v, dict):
            return {"$dict": [[self._enc(k, depth + 1), self._enc(x, depth + 1)] for k, x in _dict_items(v)]}
        if _isinstance(v, (set, frozenset)):
            it = set.__iter__(v) if _isinstance(v, set) else frozenset.__iter__(v)
            items = [self._enc(x, depth + 1) for x in it]
            return {"$set": _sorted(items, key=lambda x: _dumps(x, sort_keys=True))}
        if self.unwrap is not None:
            inner = self.unwrap(v)
            if inner is not v:
                return self._enc(inner, depth)
        if self.array_type is not None and _isinstance(v, self.array_type):
            return {"$array": {"dtype": self._dtype_code(v), "shape": [int(n) for n in v.shape],
                               "data": self._enc(self._tolist(v), depth + 1)}}
        if self.scalar_type is not None and _isinstance(v, self.scalar_type):
            return {"$scalar": {"dtype": self._dtype_code(v), "value": self._enc(self._item(v), depth + 1)}}
        return {"$opaque": _type(v).__name__[:64]}


# ---------------------------------------------------------------- trusted side


class ProtocolError(ValueError):
    """Data from the sandbox that is not well-formed tagged JSON."""


def parse(text: str | bytes, *, max_bytes: int = 64 << 20) -> Any:
    """Parse and validate tagged JSON text from the sandbox (size-capped; raises ProtocolError)."""
    if _len(text) > max_bytes:
        raise ProtocolError(f"result larger than {max_bytes} bytes")
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise ProtocolError(f"malformed result: {str(e)[:200]}") from None
    validate(value)
    return value


def _reject_constant(name: str) -> Any:
    raise ProtocolError(f"bare {name} is not tagged JSON")


def validate(v: Any, depth: int = 0) -> None:
    """Check that ``v`` is well-formed tagged JSON."""
    if depth > MAX_DEPTH + 4:
        raise ProtocolError("value too deeply nested")
    if v is None or isinstance(v, (bool, int, str)):
        return
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ProtocolError("non-finite float must be tagged")
        return
    if isinstance(v, list):
        for x in v:
            t = type(x)
            if t is float:  # plain items inline: results are mostly long lists of numbers
                if not _isfinite(x):
                    raise ProtocolError("non-finite float must be tagged")
            elif t is not int and t is not str and t is not bool and x is not None:
                validate(x, depth + 1)
        return
    if not isinstance(v, dict) or len(v) != 1:
        raise ProtocolError("objects must be single-key tags")
    (tag, body), = v.items()
    if tag not in _TAGS:
        raise ProtocolError(f"unknown tag {tag!r}")
    if tag == "$f":
        if body not in ("nan", "inf", "-inf"):
            raise ProtocolError("bad $f")
    elif tag in ("$tuple", "$set"):
        if not isinstance(body, list):
            raise ProtocolError(f"bad {tag}")
        validate(body, depth + 1)
    elif tag == "$dict":
        if not isinstance(body, list) or not all(isinstance(p, list) and len(p) == 2 for p in body):
            raise ProtocolError("bad $dict")
        validate(body, depth + 1)
    elif tag == "$complex":
        if not (isinstance(body, list) and len(body) == 2):
            raise ProtocolError("bad $complex")
        validate(body, depth + 1)
    elif tag in ("$bytes", "$opaque"):
        if not isinstance(body, str):
            raise ProtocolError(f"bad {tag}")
    elif tag == "$array":
        if not (isinstance(body, dict) and set(body) == {"dtype", "shape", "data"}
                and isinstance(body["dtype"], str) and isinstance(body["shape"], list)
                and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in body["shape"])):
            raise ProtocolError("bad $array")
        validate(body["data"], depth + 1)
    elif tag == "$scalar":
        if not (isinstance(body, dict) and set(body) == {"dtype", "value"} and isinstance(body["dtype"], str)):
            raise ProtocolError("bad $scalar")
        validate(body["value"], depth + 1)


def to_tagged(value: Any) -> Any:
    """Tag a trusted plain Python value (lists, tuples, dicts, floats, complex, ...)."""
    return Encoder().encode(value)


def from_tagged(v: Any) -> Any:
    """Tagged JSON -> a plain Python value. Arrays become nested lists and library scalars their value.

    Used to pass test inputs to the entry point and to show values in prompts.
    """
    if isinstance(v, list):
        return [from_tagged(x) for x in v]
    if not isinstance(v, dict):
        return v
    (tag, body), = v.items()
    if tag == "$f":
        return float(body)
    if tag == "$tuple":
        return tuple(from_tagged(x) for x in body)
    if tag == "$set":
        return {from_tagged(x) for x in body}
    if tag == "$dict":
        return {_hashable(from_tagged(k)): from_tagged(x) for k, x in body}
    if tag == "$complex":
        return complex(from_tagged(body[0]), from_tagged(body[1]))
    if tag == "$bytes":
        return base64.b64decode(body)
    if tag == "$array":
        return from_tagged(body["data"])
    if tag == "$scalar":
        return from_tagged(body["value"])
    if tag == "$opaque":
        return None
    raise ProtocolError(f"unknown tag {tag!r}")


def _hashable(k: Any) -> Any:
    return tuple(_hashable(x) for x in k) if isinstance(k, list) else k


def literal(v: Any) -> str:
    """A tagged value shown as a Python literal, for prompts and reports (never evaluated by us)."""
    if isinstance(v, dict) and "$array" in v:
        return repr(from_tagged(v))
    return repr(from_tagged(v))
