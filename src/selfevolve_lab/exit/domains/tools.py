"""Tools: questions about a small seeded database, answered with several tool calls, scored 0/1 on the answer.

An episode has turns (`selfevolve_lab.exit.domain.Interactive`). The model writes a tool call, one JSON object
on a line (``{"tool": ..., "args": {...}}``); its reply is kept up to that line, the call runs on the trusted
side, and the model's next turn starts after the message ``RESULT N: <value>`` (or ``RESULT N: failed (why)``).
The episode ends at a line ``ANSWER: <value>``, at a reply with no call, or after MAX_CALLS calls. Other lines
are the model's notes. An argument (or the answer) may also be ``"$N"``, the result of call N, so one reply
can carry a whole plan. The episode as one text (replies and results, `episode_text`) is what is scored: its
calls run again in order (they are deterministic; a RESULT line the model writes itself is a note), and the
next ExIt step's prompt shows it with its feedback, which lists every call with its result or why it failed,
and whether the answer was right (never the expected answer).

Model text is never evaluated: a call is ``json.loads`` of a line of at most MAX_CALL_BYTES, its arguments
are checked against the tool's schema (names, types, allowed values, lengths) before our own functions run
over our own data, and at most MAX_CALLS calls run. A bad call is a failed call in the feedback, never an
exception.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from selfevolve_lab.errors import UserError
from selfevolve_lab.exit.domain import BaseTask, Instance, episode_text

SEED = 0  # the database and the task order; a task's split is a hash of its id, so splits share no task
N_CITIES, N_PRODUCTS = 40, 40
MAX_SIZE = 2000  # base tasks per split; each split holds about half of the ~13,000 distinct tasks
MAX_CALLS = 8
MAX_CALL_BYTES = 512  # one call's line, checked before it is parsed
MAX_TEXT = 64  # a string argument or the answer
MAX_NUMBER = 10**15  # an argument's or a result's magnitude
MAX_RESPONSE_CHARS = 20_000
_REF = re.compile(r"\$([1-9]\d?)")
_ANSWER = re.compile(r"ANSWER\s*:\s*(.*)", re.I)
_NUMBER = re.compile(r"[+-]?\d[\d,]*(\.\d*)?")

Value = int | float | str


# ---- the database --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Database:
    cities: dict[str, dict[str, Value]]  # name -> population, country
    products: dict[str, dict[str, Value]]  # name -> price, stock, city (where it is made)

    def table(self, name: str) -> dict[str, dict[str, Value]]:
        return {"cities": self.cities, "products": self.products}[name]


FIELDS = {"cities": ("population", "country"), "products": ("price", "stock", "city")}
_SYLLABLES = ("ka", "lo", "mi", "ra", "ven", "tor", "su", "bel", "dra", "no", "phi", "zan", "qu", "el", "mar",
              "ost", "ri", "gan", "tes", "wyn")
_GOODS = ("lamp", "kettle", "drum", "loom", "chair", "bell", "rope", "mirror")


def _names(rng: random.Random, n: int, parts: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


@functools.lru_cache(maxsize=1)
def database() -> Database:
    rng = random.Random(SEED)
    taken: set[str] = set()
    countries = _names(rng, 8, 2, taken)
    cities = {c: {"population": rng.randrange(10_000, 9_000_000), "country": rng.choice(countries)}
              for c in _names(rng, N_CITIES, 3, taken)}
    products = {f"{p} {rng.choice(_GOODS)}": {"price": rng.randrange(1, 1000), "stock": rng.randrange(1, 500),
                                              "city": rng.choice(sorted(cities))}
                for p in _names(rng, N_PRODUCTS, 2, taken)}
    return Database(cities, products)


# ---- the tools -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Param:
    kind: type  # str or float (a number: int or float, never bool)
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tool:
    params: dict[str, Param]
    run: Callable[..., Value]


class CallFailed(Exception):
    """Why a call failed, for the feedback."""


def _lookup(table: str, key: str, field: str) -> Value:
    row = database().table(table).get(key)
    if row is None:
        raise CallFailed(f"no row {key!r} in {table}")
    if field not in row:
        raise CallFailed(f"{table} have no field {field!r} (fields: {', '.join(FIELDS[table])})")
    return row[field]


OPS: dict[str, Callable[[Fraction, Fraction], Fraction]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b,
    "max": max, "min": min}


def _calc(op: str, a: float, b: float) -> Value:
    if op == "div" and b == 0:
        raise CallFailed("division by zero")
    x = OPS[op](Fraction(a), Fraction(b))  # exact: no float rounding decides a 0/1 score
    if abs(x) > MAX_NUMBER:
        raise CallFailed("result out of range")
    return int(x) if x.denominator == 1 else round(float(x), 6)


TOOLS = {
    "lookup": Tool({"table": Param(str, tuple(FIELDS)), "key": Param(str),
                    "field": Param(str, tuple(sorted({f for fs in FIELDS.values() for f in fs})))}, _lookup),
    "calc": Tool({"op": Param(str, tuple(OPS)), "a": Param(float), "b": Param(float)}, _calc),
}


def _resolve(value: Any, results: list[Value | None]) -> Any:
    """``"$N"`` -> the result of call N (1-based); any other value as it is."""
    if isinstance(value, str) and (ref := _REF.fullmatch(value)):
        n = int(ref.group(1))
        if n > len(results) or results[n - 1] is None:
            raise CallFailed(f"refers to ${n}, which is not an earlier successful call")
        return results[n - 1]
    return value


def _argument(name: str, value: Any, param: Param, results: list[Value | None]) -> Value:
    """One argument after resolving a ``$N`` reference, checked against its parameter, else CallFailed."""
    try:
        value = _resolve(value, results)
    except CallFailed as e:
        raise CallFailed(f"bad arguments: {name} {e}") from None
    if param.kind is float:
        if type(value) not in (int, float) or not abs(value) <= MAX_NUMBER:  # NaN fails too
            raise CallFailed(f"bad arguments: {name} must be a number (at most {MAX_NUMBER:.0e}) or a $N reference")
        return value
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise CallFailed(f"bad arguments: {name} must be a string of at most {MAX_TEXT} characters")
    if param.choices and value not in param.choices:
        raise CallFailed(f"bad arguments: {name} must be one of {', '.join(param.choices)}")
    return value


def run_call(line: str, results: list[Value | None]) -> tuple[str, Value]:
    """(the call as the feedback shows it, its result) for one line; raises CallFailed, nothing else."""
    if len(line.encode()) > MAX_CALL_BYTES:
        raise CallFailed(f"call too large (over {MAX_CALL_BYTES} bytes)")
    try:
        call = json.loads(line)
    except (ValueError, RecursionError) as e:
        raise CallFailed("malformed JSON") from e
    if not isinstance(call, dict) or set(call) != {"tool", "args"} or not isinstance(call["args"], dict):
        raise CallFailed('malformed call: expected {"tool": NAME, "args": {...}}')
    tool = TOOLS.get(call["tool"]) if isinstance(call["tool"], str) else None
    if tool is None:
        raise CallFailed(f"unknown tool {str(call['tool'])[:MAX_TEXT]!r} (tools: {', '.join(TOOLS)})")
    if set(call["args"]) != set(tool.params):
        raise CallFailed(f"bad arguments: {call['tool']} takes exactly {', '.join(tool.params)}")
    args = {k: _argument(k, call["args"][k], p, results) for k, p in tool.params.items()}
    shown = f"{call['tool']}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
    return shown, tool.run(**args)


# ---- episodes ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Episode:
    calls: list[str]  # one feedback line per call, with its result or why it failed
    answer: Value | None  # after resolving a $N reference; None: no ANSWER line
    answer_error: str = ""
    results: tuple[Value | None, ...] = ()  # per call run: its result, None if it failed


def run_episode(response: str) -> Episode:
    """Run a completion's calls in order, up to MAX_CALLS, and read its answer. Never raises."""
    results: list[Value | None] = []  # per call: its result, None if it failed
    lines: list[str] = []
    extra = 0  # calls past MAX_CALLS: not run, one feedback line for all (the feedback enters the next prompt)
    answer: Value | None = None
    error = ""
    for raw in response.splitlines():
        line = raw.strip()
        if found := _ANSWER.match(line):
            text = found.group(1).strip()[:MAX_TEXT]
            try:
                answer = _resolve(text, results) if text else None  # a result of 0 is an answer
            except CallFailed as e:
                error = f"the answer {e}"
            break
        if not line.startswith("{"):
            continue  # the model's notes (or a code fence)
        if len(results) == MAX_CALLS:
            extra += 1
            continue
        k = len(results) + 1
        try:
            shown, value = run_call(line, results)
        except CallFailed as e:
            lines.append(f"call {k}: failed ({e})")
            results.append(None)
        else:
            lines.append(f"call {k}: {shown} -> {value!r}")
            results.append(value)
    if extra:
        lines.append(f"calls {MAX_CALLS + 1}-{MAX_CALLS + extra}: failed (too many calls: at most {MAX_CALLS} run)")
    return Episode(lines, answer, error, tuple(results))


def respond(turns: list[str], reply: str) -> tuple[str, str | None]:
    """One turn of an episode (`Interactive.respond`): the reply up to its first call, and that call's result
    as the next turn's message; the whole reply and None when it answers first, makes no call, or the episode
    has run its MAX_CALLS. Each earlier turn holds one call; they run again here, in order."""
    if len(turns) >= MAX_CALLS:
        return reply, None
    lines = reply.splitlines(keepends=True)
    for i, raw in enumerate(lines):
        line = raw.strip()
        if _ANSWER.match(line):
            return reply, None
        if line.startswith("{"):
            earlier = list(run_episode("\n".join(turns)).results)
            k = len(earlier) + 1
            try:
                _, value = run_call(line, earlier)
                message = f"RESULT {k}: {value!r}"
            except CallFailed as e:
                message = f"RESULT {k}: failed ({e})"
            return "".join(lines[: i + 1]).rstrip("\n"), message
    return reply, None


def _number(text: str) -> Fraction | None:
    text = text.strip().rstrip(".")
    return Fraction(text.replace(",", "")) if _NUMBER.fullmatch(text) else None


def correct(answer: Value, expected: Value) -> bool:
    if isinstance(expected, str):
        return isinstance(answer, str) and answer.strip(" .\"'").casefold() == expected.casefold()
    got = _number(answer) if isinstance(answer, str) else Fraction(answer)
    return got == Fraction(expected)


# ---- tasks ---------------------------------------------------------------------------------------------

def _call(tool: str, **args: Value) -> str:
    return json.dumps({"tool": tool, "args": args})


@dataclass(frozen=True)
class Template:
    question: str
    reference: Callable[..., list[str]]  # the calls that answer it; their last result is the answer
    answer: Callable[..., Value]  # the answer straight from the data, so the reference episode is checked
    keys: Callable[[Database], list[tuple[str, ...]]]


def _pop(c: str) -> str:
    return _call("lookup", table="cities", key=c, field="population")


TEMPLATES: dict[str, Template] = {
    "sum": Template(
        "What is the total population of {0} and {1}?",
        lambda a, b: [_pop(a), _pop(b), _call("calc", op="add", a="$1", b="$2")],
        lambda db, a, b: db.cities[a]["population"] + db.cities[b]["population"],
        lambda db: list(itertools.permutations(db.cities, 2))),
    "difference": Template(
        "How many more people live in {0} than in {1}? (A negative number if fewer.)",
        lambda a, b: [_pop(a), _pop(b), _call("calc", op="sub", a="$1", b="$2")],
        lambda db, a, b: db.cities[a]["population"] - db.cities[b]["population"],
        lambda db: list(itertools.permutations(db.cities, 2))),
    "largest": Template(
        "What is the largest population among {0}, {1} and {2}?",
        lambda a, b, c: [_pop(a), _pop(b), _pop(c), _call("calc", op="max", a="$1", b="$2"),
                         _call("calc", op="max", a="$4", b="$3")],
        lambda db, *cs: max(db.cities[c]["population"] for c in cs),
        lambda db: list(itertools.combinations(db.cities, 3))),
    "stock_value": Template(
        "What is the total price of the whole stock of {0}?",
        lambda p: [_call("lookup", table="products", key=p, field=f) for f in ("price", "stock")]
        + [_call("calc", op="mul", a="$1", b="$2")],
        lambda db, p: db.products[p]["price"] * db.products[p]["stock"],
        lambda db: [(p,) for p in db.products]),
    "maker_population": Template(
        "What is the population of the city where {0} is made?",
        lambda p: [_call("lookup", table="products", key=p, field="city"),
                   _call("lookup", table="cities", key="$1", field="population")],
        lambda db, p: db.cities[db.products[p]["city"]]["population"],
        lambda db: [(p,) for p in db.products]),
    "maker_country": Template(
        "In which country is {0} made?",
        lambda p: [_call("lookup", table="products", key=p, field="city"),
                   _call("lookup", table="cities", key="$1", field="country")],
        lambda db, p: db.cities[db.products[p]["city"]]["country"],
        lambda db: [(p,) for p in db.products]),
}

FORMAT = (
    "\n\nAnswer with tool calls, one JSON object per line, then a last line `ANSWER: <value>`.\n"
    'lookup: {{"tool": "lookup", "args": {{"table": T, "key": K, "field": F}}}}; table "cities" (fields '
    'population, country) or "products" (fields price, stock, city).\n'
    'calc: {{"tool": "calc", "args": {{"op": OP, "a": A, "b": B}}}}; OP is one of {ops}; A and B are numbers.\n'
    "After each call you get its result, `RESULT N: <value>`, and go on (at most {max_calls} calls). Any "
    'argument, and the answer, may also be "$N": the result of call N. Example:\n'
    '{{"tool": "lookup", "args": {{"table": "cities", "key": "CITY", "field": "population"}}}}\n'
    "RESULT 1: 1234\n"
    "ANSWER: 1234"
).format(ops=", ".join(OPS), max_calls=MAX_CALLS)


def _split_of(task_id: str) -> str:
    return "train" if hashlib.sha256(task_id.encode()).digest()[0] % 2 == 0 else "test"


@functools.lru_cache(maxsize=1)
def _all_tasks() -> dict[str, list[BaseTask]]:
    """Every task of each split, templates interleaved round-robin (each template's tasks in a seeded order),
    so a split's first N tasks mix the templates and do not depend on N."""
    db, rng = database(), random.Random(SEED)
    per_template: dict[str, dict[str, list[BaseTask]]] = {s: {} for s in ("train", "test")}
    for name, t in TEMPLATES.items():
        keys = t.keys(db)
        rng.shuffle(keys)
        for key in keys:
            task = BaseTask(f"{name}/{'|'.join(key)}", t.question.format(*key) + FORMAT,
                            {"answer": t.answer(db, *key), "reference": t.reference(*key)})
            per_template[_split_of(task.id)].setdefault(name, []).append(task)
    return {s: [x for row in itertools.zip_longest(*groups.values()) for x in row if x is not None]
            for s, groups in per_template.items()}


def reference_response(task: BaseTask) -> str:
    """The reference episode: the template's calls, one a turn, each followed by its result, then the last
    call's result as the answer."""
    turns: list[str] = []
    messages: list[str] = []
    for call in task.data["reference"]:
        kept, message = respond(turns, call)
        turns.append(kept)
        messages.append(message or "")
    return episode_text([*turns, f"ANSWER: ${len(turns)}"], messages)


class ToolsDomain:
    name = "tools"
    verifiable = True
    max_turns = MAX_CALLS + 1

    def __init__(self, size: int = 64):
        if not 1 <= size <= MAX_SIZE:
            raise UserError(f"--size for the tools domain is in 1..{MAX_SIZE}")
        self.size = size

    def tasks(self, split: str) -> list[BaseTask]:
        return _all_tasks()[split][: self.size]

    def score_one(self, instance: Instance, response: str) -> tuple[float, str]:
        if len(response) > MAX_RESPONSE_CHARS:
            return 0.0, f"the reply is longer than {MAX_RESPONSE_CHARS} characters; nothing was run"
        ep = run_episode(response)
        calls = "; ".join(ep.calls) if ep.calls else "no tool calls"
        if ep.answer is None:
            verdict = ep.answer_error or "no answer: end with a line `ANSWER: <value>`"
            return 0.0, f"{calls}. {verdict}"
        if correct(ep.answer, instance.task.data["answer"]):
            return 1.0, f"{calls}. The answer {ep.answer!r} is correct"
        return 0.0, f"{calls}. The answer {ep.answer!r} is incorrect"

    def score_many(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        return [self.score_one(i, r) for i, r in items]

    def respond(self, turns: list[str], reply: str) -> tuple[str, str | None]:
        return respond(turns, reply)

    def close(self) -> None:
        pass
