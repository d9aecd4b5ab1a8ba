"""The micro-world's subset of a bench, and the answer shape its model writes.

The micro model answers in one shape: ``import PKG`` and ``return <calls of PKG's functions on the
arguments>``, wrapped in ``list(...)`` when the result is a list. That shape needs no helper names (the
array constructor, ``tolist``), which a model reading only the task's own docs could not know. So the subset
is drawn from the function APIs whose tasks this shape solves, checked by the real judge on the bench's
own tasks; test_multi tasks are kept when all their APIs are in the subset.
"""

from __future__ import annotations

import ast
import functools
import random
import re
from dataclasses import dataclass

from selfevolve_lab.bench import SPLITS, Bench
from selfevolve_lab.errors import UserError
from selfevolve_lab.obfuscate.translate import translate_code
from selfevolve_lab.profiles.numpy import PROFILE as NUMPY
from selfevolve_lab.schema import Task

_LIB_ROOTS = (NUMPY.alias, NUMPY.name)
_TO_PLAIN = ("tolist", "item")
CALL = re.compile(r"\bLIB\.([A-Za-z_][\w.]*)")  # a library call in a micro expression


def _chain(node: ast.expr) -> str | None:
    """``np.linalg.norm`` -> "linalg.norm" when the attribute chain is rooted at the library."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name) and node.id in _LIB_ROOTS and parts:
        return ".".join(reversed(parts))
    return None


def _strip(node: ast.expr) -> str | None:
    """The expression with array constructors removed, ``LIB.`` as the library root; None if out of shape."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant):
        return repr(node.value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
        return repr(-node.operand.value)
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_strip(e) for e in node.elts]
        return None if None in items else "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    if not isinstance(node, ast.Call):
        return None
    name = _chain(node.func)
    if name is None:
        return None
    if name in ("array", "asarray") and len(node.args) == 1 and not node.keywords:
        return _strip(node.args[0])
    args = [_strip(a) for a in node.args]
    kws = [(k.arg, _strip(k.value)) for k in node.keywords]
    if None in args or any(k is None or v is None for k, v in kws):
        return None
    return f"LIB.{name}(" + ", ".join([*args, *(f"{k}={v}" for k, v in kws)]) + ")"  # type: ignore[misc]


def micro_expr(body: str, list_output: bool) -> str | None:
    """A reference's return expression (library names) -> the micro shape, with ``LIB.`` for the library."""
    try:
        node = ast.parse(body.strip(), mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _TO_PLAIN \
            and not node.args and not node.keywords:
        node = node.func.value
    inner = _strip(node)
    if inner is None or not inner.startswith("LIB."):
        return None
    return f"list({inner})" if list_output else inner


def return_expr(code: str) -> str | None:
    """The expression of the single ``return`` in a reference's ``solve``."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    returns = [n for n in ast.walk(tree) if isinstance(n, ast.Return) and n.value is not None]
    return ast.unparse(returns[0].value) if len(returns) == 1 else None


def render(expr: str, names: dict[str, str], package: str) -> str:
    """Fill a micro expression with one world's names: ``names`` maps a library-relative dotted name
    ("linalg.norm") to the world's dotted name without the package ("fbl.ezacop")."""
    return CALL.sub(lambda m: f"{package}.{names[m.group(1)]}", expr)


def answer(task_args: str, expr: str, names: dict[str, str], package: str) -> str:
    """The micro model's whole reply to a task."""
    return (f"```python\nimport {package}\n\ndef solve({task_args}):\n    return {render(expr, names, package)}\n"
            f"```")


def calls(expr: str) -> list[str]:
    return CALL.findall(expr)


def _plain_item(v) -> bool:
    return not isinstance(v, (list, dict)) or ("$f" in v or "$scalar" in v)


def _list_output(task: Task) -> bool | None:
    """True: every expected output is a flat list; False: every one a scalar or string; None: otherwise."""
    outs = [c.output for c in task.tests]
    if all(isinstance(o, list) and all(_plain_item(v) for v in o) for o in outs):
        return True
    if all(_plain_item(o) and o is not None for o in outs):
        return False
    return None


def bench_names(bench: Bench) -> dict[str, str]:
    """Library-relative original name -> package-relative novel name, for the bench's own world."""
    lib, pkg = bench.library + ".", bench.package + "."
    return {o[len(lib):]: n[len(pkg):] for o, n in bench.mapping.items() if o.startswith(lib) and n.startswith(pkg)}


def task_expr(bench: Bench, task: Task) -> str | None:
    """The micro expression solving one of the bench's tasks (library names), or None if out of shape."""
    flat = _list_output(task)
    if flat is None:
        return None
    original = translate_code(task.reference, bench.mapping, library=bench.library, package=bench.package,
                              reverse=True)
    body = return_expr(original)
    return micro_expr(body, flat) if body else None


def signature_args(task: Task) -> str:
    return task.signature.strip().removeprefix("def ").removeprefix(task.entry_point).strip().removesuffix(":")[1:-1]


@dataclass
class Subset:
    apis: list[str]  # novel dotted names, the subset's function APIs
    tasks: dict[str, list[Task]]  # split -> tasks
    exprs: dict[str, str]  # task id -> micro expression (library names)


@functools.cache
def in_shape(bench: Bench) -> tuple[dict[str, list[Task]], dict[str, str]]:
    """Every task of the bench that the micro shape can express, per split, and its expression (cached:
    a bench's tasks do not change under a running process)."""
    tasks, exprs = {}, {}
    for split in SPLITS:
        kept = []
        for t in bench.tasks(split):
            e = task_expr(bench, t)
            if e is not None:
                kept.append(t)
                exprs[t.id] = e
        tasks[split] = kept
    return tasks, exprs


def choose_subset(bench: Bench, n: int, seed: int, *, workers: int | None = None) -> Subset:
    """``n`` function APIs, each with train and test_single tasks the micro shape solves (checked by the
    judge); test_multi tasks whose APIs are all in the subset. Multi tasks seed the draw so some survive."""
    from selfevolve_lab.judge import Judge

    tasks, exprs = in_shape(bench)
    singles = {t.apis[0]: t for t in tasks["test_single"]}
    trains: dict[str, list[Task]] = {}
    for t in tasks["train"]:
        trains.setdefault(t.apis[0], []).append(t)
    names = bench_names(bench)
    candidates = [a for a in sorted(singles) if a in trains]
    rng = random.Random(seed)
    multis = [t for t in tasks["test_multi"] if all(a in candidates for a in t.apis)]
    rng.shuffle(multis)
    rest = list(candidates)
    rng.shuffle(rest)
    verdicts: dict[str, bool] = {}
    with Judge(bench, workers=workers) as judge:
        def passes(batch: list[Task]) -> None:
            futs = {t.id: judge.submit(t, answer(signature_args(t), exprs[t.id], names, bench.package))
                    for t in batch if t.id not in verdicts}
            verdicts.update({i: f.result().passed for i, f in futs.items()})

        def good(apis: list[str]) -> list[str]:
            passes([t for a in apis for t in (singles[a], *trains[a])])
            return [a for a in apis if all(verdicts[t.id] for t in (singles[a], *trains[a]))]

        chosen: list[str] = []
        for t in multis:  # about half the subset from multi-task chains, so test_multi keeps some tasks
            new = [a for a in dict.fromkeys(t.apis) if a not in chosen]
            if len(chosen) + len(new) > n // 2:
                continue
            passes([t])
            if verdicts[t.id] and good(new) == new:
                chosen += new
        rest = [a for a in rest if a not in chosen]
        while len(chosen) < n and rest:  # judged a batch at a time: only what the draw reaches
            batch, rest = rest[: 2 * (n - len(chosen))], rest[2 * (n - len(chosen)):]
            chosen += good(batch)[: n - len(chosen)]
        if len(chosen) < n:
            raise UserError(f"{bench.root}: only {len(chosen)} function APIs have tasks the micro-world's answer "
                            f"shape solves; ask for --apis {len(chosen)} or fewer")
        chosen.sort()
        multi = [t for t in tasks["test_multi"] if set(t.apis) <= set(chosen)]
        passes(multi)
    out = {"train": [t for a in chosen for t in trains[a]], "test_single": [singles[a] for a in chosen],
           "test_multi": [t for t in multi if verdicts[t.id]]}
    return Subset(apis=chosen, tasks=out, exprs={t.id: exprs[t.id] for s in out.values() for t in s})
