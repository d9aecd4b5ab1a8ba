"""Math: procedural `reasoning-gym` families, scored 0/1 by our own checks, never by the families' verifiers.

The answer is the text inside <answer>...</answer>, else the last non-empty line. Feedback says whether
it was right, never the expected answer. reasoning-gym's countdown verifier evaluates the answer with
sympy's ``parse_expr`` (an ``eval``: model text would run on the trusted side), so every family's answer
is checked here: a number is compared as a number, an expression goes through ``safe_eval``, which
accepts only numeric literals, unary +/-, binary + - * / and parentheses, with caps on size and magnitude.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from collections.abc import Callable
from fractions import Fraction

from selfevolve_lab.errors import UserError
from selfevolve_lab.exit.domain import BaseTask, Instance

FAMILIES = ("basic_arithmetic", "chain_sum", "countdown")
# Random(seed + index) draws an item, so the splits' seeds stay further apart than any size allowed
SEEDS = {"train": 1, "test": 1_000_001}
MAX_SIZE = 1_000_000
FORMAT = "\n\nThink briefly, then give only the final answer inside <answer></answer> tags."
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)
MAX_ANSWER_CHARS = 200
MAX_NODES = 64
MAX_BITS = 64  # numerator and denominator of every intermediate result
_NUMBER = re.compile(r"[+-]?\d[\d,]*(\.\d*)?")
_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
           ast.Div: lambda a, b: a / b}
_UNARY = {ast.UAdd: lambda a: a, ast.USub: lambda a: -a}


def extract_answer(response: str) -> str | None:
    found = _ANSWER.findall(response or "")
    if found:
        return found[-1].strip() or None
    lines = [ln.strip() for ln in (response or "").splitlines() if ln.strip()]
    if not lines:
        return None
    return re.sub(r"^(final answer|answer)\s*[:=]\s*", "", lines[-1], flags=re.I) or None


class UnsafeExpression(ValueError):
    pass


def _small(x: Fraction) -> Fraction:
    if x.numerator.bit_length() > MAX_BITS or x.denominator.bit_length() > MAX_BITS:
        raise UnsafeExpression("a value is too large")
    return x


def _literals(text: str) -> ast.Expression:
    if len(text) > MAX_ANSWER_CHARS:
        raise UnsafeExpression(f"longer than {MAX_ANSWER_CHARS} characters")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise UnsafeExpression("not an arithmetic expression") from e
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise UnsafeExpression(f"more than {MAX_NODES} syntax nodes")
    allowed = (ast.Expression, ast.Constant, ast.UnaryOp, ast.BinOp, *_BINOPS, *_UNARY)
    for n in nodes:
        if not isinstance(n, allowed) or (isinstance(n, ast.Constant) and type(n.value) not in (int, float)):
            raise UnsafeExpression(f"{type(n).__name__} is not allowed")
    return tree


def _value(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, float) and not math.isfinite(node.value):
            raise UnsafeExpression("a literal is not finite")
        return _small(Fraction(node.value))
    if isinstance(node, ast.UnaryOp):
        return _UNARY[type(node.op)](_value(node.operand))
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Div) and right == 0:
            raise UnsafeExpression("division by zero")
        return _small(_BINOPS[type(node.op)](left, right))
    raise UnsafeExpression(f"{type(node).__name__} is not allowed")  # _literals let nothing else through


def safe_eval(text: str) -> Fraction:
    """The exact value of an arithmetic expression; raises UnsafeExpression on anything else. Linear in
    the (capped) text and no intermediate result exceeds MAX_BITS, so it ends fast on any input."""
    return _value(_literals(text).body)


def int_literals(text: str) -> list[int]:
    """The literal integers of an expression safe_eval accepts (a float literal is not one)."""
    return [n.value for n in ast.walk(_literals(text)) if isinstance(n, ast.Constant) and type(n.value) is int]


def _number(text: str) -> Fraction:
    """A plain number, as reasoning-gym's numeric families accept it ("+01,000.00" == 1000)."""
    text = text.strip()
    if len(text) > MAX_ANSWER_CHARS or not _NUMBER.fullmatch(text):
        raise UnsafeExpression("not a number")
    return Fraction(text.replace(",", "").rstrip("."))


def _numeric(answer: str, entry: dict) -> bool:
    return _number(answer) == Fraction(entry["answer"])


def _countdown(answer: str, entry: dict) -> bool:
    meta = entry["metadata"]
    return sorted(int_literals(answer)) == sorted(meta["numbers"]) and safe_eval(answer) == meta["target"]


SCORERS: dict[str, Callable[[str, dict], bool]] = {"basic_arithmetic": _numeric, "chain_sum": _numeric,
                                                   "countdown": _countdown}


class MathDomain:
    name = "math"
    verifiable = True

    def __init__(self, families: tuple[str, ...] = FAMILIES, size: int = 64):
        unknown = set(families) - set(SCORERS)
        if unknown or not families or not 1 <= size <= MAX_SIZE:
            raise UserError(f"unknown math families {sorted(unknown)} (choose from {', '.join(SCORERS)}) "
                            f"or --size not in 1..{MAX_SIZE}")
        self.families, self.size = tuple(families), size

    @functools.lru_cache(maxsize=16)  # noqa: B019  (one domain object per run)
    def _dataset(self, family: str, seed: int):
        import reasoning_gym

        return reasoning_gym.create_dataset(family, size=self.size, seed=seed)

    def tasks(self, split: str) -> list[BaseTask]:
        seed = SEEDS[split]
        out = []
        for family in self.families:
            ds = self._dataset(family, seed)
            for i in range(self.size):
                out.append(BaseTask(f"{family}/{seed}/{i}", ds[i]["question"] + FORMAT,
                                    {"family": family, "seed": seed, "index": i}))
        return out

    def score_one(self, instance: Instance, response: str) -> tuple[float, str]:
        answer = extract_answer(response)
        if answer is None:
            return 0.0, "no answer found: give the final answer inside <answer></answer> tags"
        d = instance.task.data
        entry = self._dataset(d["family"], d["seed"])[d["index"]]
        try:
            ok = SCORERS[d["family"]](answer, entry)
        except UnsafeExpression as e:
            return 0.0, f"the answer {answer[:80]!r} could not be checked ({e})"
        return (1.0, "correct") if ok else (0.0, f"the answer {answer[:80]!r} is incorrect")

    def score_many(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        return [self.score_one(i, r) for i, r in items]

    def close(self) -> None:
        pass
