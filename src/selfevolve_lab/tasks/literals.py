"""Reading the test values of official SE-Bench records: a whitelisted evaluator over the syntax tree.

The official inputs and outputs are Python source as people and NumPy wrote it, not pure literals:
``float('nan')``, ``-float('inf')``, ``complex(1, 2)``, bare ``nan``/``inf``, ``dtype=int``, reprs such as
``array([5.0])`` or ``np.float64(1.5)``, and NumPy's printed arrays, which have no commas
(``[[1.  2.5 1. ]\n [3.7 0.  4. ]]``). Nothing is ever evaluated: the text is parsed and only the node
kinds, names and calls listed here are turned into values; anything else is a ``NotALiteral`` error.

A type used as a value (``dtype=int``, ``np.float32``) becomes its name (``"int"``, ``"float32"``), which
NumPy reads as the same dtype. An array repr becomes its (nested) list of items.
"""

from __future__ import annotations

import ast
import io
import math
import tokenize
from dataclasses import dataclass
from typing import Any

from selfevolve_lab.profiles.numpy import PROFILE as NUMPY

MAX_DEPTH = 60  # nesting of the values themselves; deeper input is refused, not recursed into
MAX_TEXT = 1 << 20

_CONSTANTS = {"nan": math.nan, "NaN": math.nan, "inf": math.inf, "Inf": math.inf, "infty": math.inf,
              "True": True, "False": False, "None": None, "pi": math.pi, "e": math.e}
_TYPES = frozenset({"int", "float", "complex", "bool", "str", "object"})
_NUMPY_TYPES = frozenset({
    "float16", "float32", "float64", "longdouble", "complex64", "complex128", "clongdouble", "bool_",
    "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "intp", "uintp", "str_", "bytes_",
})
_NUMPY_MODULES = frozenset({NUMPY.name, *NUMPY.aliases})
_ARRAYS = frozenset({"array", "asarray"})
_CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


class NotALiteral(ValueError):
    """A test value the whitelisted reader refuses (a call, name or operator it does not know)."""


@dataclass
class Parsed:
    value: Any
    printed: bool  # it holds NumPy's printed form (no commas, array reprs): numbers rounded to 8 decimals


def read_value(text: str) -> Parsed:
    """One value: ``"[1.  2.5]"`` -> ``[1.0, 2.5]``."""
    tree, printed = _parse(text, "{}")
    reader = _Reader()
    value = reader.eval(tree.body, 0)
    return Parsed(value, printed or reader.printed)


def read_kwargs(text: str) -> Parsed:
    """Keyword arguments: ``"x1=[1, 2], dtype=int"`` -> ``{"x1": [1, 2], "dtype": "int"}``."""
    tree, printed = _parse(text, "f({})")
    call = tree.body
    if not isinstance(call, ast.Call) or call.args or any(kw.arg is None for kw in call.keywords):
        raise NotALiteral("inputs must be keyword arguments (name=value, ...)")
    reader = _Reader()
    value = {kw.arg: reader.eval(kw.value, 0) for kw in call.keywords}
    return Parsed(value, printed or reader.printed)


def _parse(text: str, frame: str) -> tuple[ast.Expression, bool]:
    if len(text) > MAX_TEXT:
        raise NotALiteral(f"a value of {len(text)} characters")
    text = text.strip()
    try:
        fixed = _insert_commas(text)
    except (tokenize.TokenError, IndentationError, SyntaxError) as e:
        raise NotALiteral(f"does not tokenize: {str(e).splitlines()[0]}") from None
    try:
        return ast.parse(frame.format(fixed), mode="eval"), fixed != text
    except SyntaxError as e:
        raise NotALiteral(f"not Python syntax: {e.msg}") from None
    except (RecursionError, MemoryError):
        raise NotALiteral("nested too deeply") from None
    except ValueError as e:  # e.g. an integer of more digits than Python converts
        raise NotALiteral(str(e).splitlines()[0]) from None


_ENDS = frozenset({")", "]", "}", "..."})  # "...": where NumPy cut a long array short
_STARTS = frozenset({"(", "[", "{", "..."})
_VALUE_TOKENS = (tokenize.NUMBER, tokenize.STRING, tokenize.NAME)


def _insert_commas(text: str) -> str:
    """NumPy's printed arrays -> Python lists: a comma between two values that only whitespace separates
    (``[1.  2.5]``, ``[ True False]``, ``['a' 'b']``, ``[1. -2.]``). Python literals never have two values
    side by side, except strings, which NumPy's print is the only place we meet them."""
    starts = [0]
    for line in io.StringIO(text):
        starts.append(starts[-1] + len(line))
    toks = [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT,
                              tokenize.ENDMARKER)]
    at: list[int] = []
    for prev, cur, nxt in zip(toks, toks[1:], toks[2:] + [None], strict=False):
        if prev.end == cur.start:
            continue
        ends = prev.type in _VALUE_TOKENS or prev.string in _ENDS
        begins = cur.type in _VALUE_TOKENS or cur.string in _STARTS or (
            cur.string in ("-", "+") and nxt is not None and nxt.type in _VALUE_TOKENS and cur.end == nxt.start)
        if ends and begins:
            at.append(starts[cur.start[0] - 1] + cur.start[1])
    pieces, last = [], 0
    for pos in at:  # one pass: splicing into the string per comma was quadratic on long prints
        pieces += [text[last:pos].rstrip(), ", "]
        last = pos
    return "".join(pieces) + text[last:]


class _Reader:
    def __init__(self) -> None:
        self.printed = False

    def eval(self, node: ast.AST, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise NotALiteral("nested too deeply")
        d = depth + 1
        if isinstance(node, ast.Constant):
            if node.value is Ellipsis:
                raise NotALiteral("a NumPy print cut short with '...'")
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = _number(self.eval(node.operand, d))
            return -v if isinstance(node.op, ast.USub) else +v
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):  # 1+2j, 1.-2.j
            a, b = _number(self.eval(node.left, d)), _number(self.eval(node.right, d))
            return a + b if isinstance(node.op, ast.Add) else a - b
        if isinstance(node, ast.List):
            return [self.eval(x, d) for x in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.eval(x, d) for x in node.elts)
        if isinstance(node, ast.Set):
            return {_hashable(self.eval(x, d)) for x in node.elts}
        if isinstance(node, ast.Dict):
            if any(k is None for k in node.keys):
                raise NotALiteral("a dict with ** unpacking")
            return {_hashable(self.eval(k, d)): self.eval(v, d) for k, v in zip(node.keys, node.values, strict=True)}
        if isinstance(node, ast.Call):
            return self._call(node, d)
        name = _name(node)
        if name is not None:
            if name in _CONSTANTS:
                return _CONSTANTS[name]
            if name in _TYPES or name in _NUMPY_TYPES:
                return name
        raise NotALiteral(f"{ast.unparse(node)[:60]!r} is not allowed")

    def _call(self, node: ast.Call, d: int) -> Any:
        fn = _name(node.func)
        args = [self.eval(a, d) for a in node.args if not isinstance(a, ast.Starred)]
        if len(args) != len(node.args) or any(kw.arg is None for kw in node.keywords):
            raise NotALiteral("a call with * or ** arguments")
        kwargs = {kw.arg: self.eval(kw.value, d) for kw in node.keywords}
        if fn in _ARRAYS and len(args) == 1 and set(kwargs) <= {"dtype"}:  # array([5.0]), array([1], dtype=int64)
            self.printed = True
            return args[0]
        if not kwargs and len(args) <= 2:
            if fn == "float" and len(args) == 1 and isinstance(args[0], (str, int, float)):
                return float(args[0])
            if fn == "int" and len(args) == 1 and isinstance(args[0], (int, float)) and not math.isinf(args[0]):
                return int(args[0])
            if fn == "complex" and all(isinstance(a, (int, float)) for a in args):
                return complex(*args)
            if fn == "complex" and len(args) == 1 and isinstance(args[0], str):
                return complex(args[0])
            if fn in _CONTAINERS and len(args) <= 1 and all(isinstance(a, (list, tuple, set)) for a in args):
                items = args[0] if args else ()
                return _CONTAINERS[fn](items if fn in ("list", "tuple") else map(_hashable, items))
            if fn in _NUMPY_TYPES and len(args) == 1:  # np.float64(1.5), a NumPy 2 scalar repr
                return _scalar(fn, args[0])
        raise NotALiteral(f"{ast.unparse(node)[:60]!r} is not allowed")


def _name(node: ast.AST) -> str | None:
    """``x`` or ``np.x`` / ``numpy.x`` -> ``x``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in _NUMPY_MODULES:
        return node.attr
    return None


def _number(v: Any) -> int | float | complex:
    if isinstance(v, bool) or not isinstance(v, (int, float, complex)):
        raise NotALiteral(f"arithmetic on {type(v).__name__}")
    return v


def _scalar(kind: str, v: Any) -> Any:
    if kind.startswith(("int", "uint")):
        return int(_number(v).real)
    if kind.startswith("complex") or kind == "clongdouble":
        return complex(_number(v))
    if kind == "bool_":
        return bool(v)
    if kind in ("str_", "bytes_"):
        return v
    return float(v) if isinstance(v, str) else float(_number(v).real)


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, set)):
        raise NotALiteral("an unhashable set item or dict key")
    return v
