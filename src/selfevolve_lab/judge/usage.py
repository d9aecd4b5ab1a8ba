"""The usage rule: does a solution really use the novel package, and only the novel package?

Two questions, answered on the AST before anything runs (`check_usage`, a fast first filter), then, for a
solution that passed its tests, the behavioural rule (`PerturbTargets`, `probe_point`, `apply_usage_rule`).

**Does it reach the original library (status ``uses_original_library``)?** Any of these is a reach:
* importing the library or a submodule; importing any ``_private`` module or name; importing any module
  but the package's and the standard modules the sandbox admits (`selfevolve_lab.sandbox.guard.STDLIB`, the
  same allowlist the jail enforces at run time, where this check is only the fast first filter);
* ``__import__``, ``eval``, ``exec``, ``compile``, ``globals``, ``locals``, ``vars``, ``breakpoint``,
  called or merely named; ``os.system``/``popen``/``exec*``/``spawn*``/``posix_spawn*``/``fork*``;
  ``sys.modules``, ``sys._getframe``, ``sys.meta_path`` (simple reassignments ``s = sys`` are followed);
* ``getattr``/``setattr``/``delattr``/``hasattr`` and ``operator.attrgetter``/``methodcaller`` with a
  name that is computed, ``_private``, internal or in ``sys.modules``'s family (``getattr(sys,
  "modules")``); passing ``getattr`` around (``g = getattr``); a format string that walks attributes
  (``"{0._core}".format(zwc)``);
* attribute walks through object internals (``__dict__``, ``__class__``, ``__mro__``, ``mro``,
  ``__subclasses__``, ``__globals__``, ``__closure__``, ``__code__``, ``__getattr__``, frames, ...) and
  the package's files (``__file__``, ``__path__``);
* any ``_private`` attribute, except one the solution defines itself (``self._cache = ...``, a method
  ``_step`` of its class) read on its own objects (``self``, ``cls``, its classes, names assigned from
  those): the package's internals hold the library, so they are off limits.

**Does it use the package meaningfully (status ``not_using_package``)?** Values are tracked through
the program with three levels: *plain*, *package object* (made by a package call that only builds
or converts data: the array constructors, ``copy``, ``astype``, ...), and *meaningful* (the result of
any other package function, of a method of a package object, of an operator applied to a package
object, or a package function itself handed to other code: ``map(zwc.f, x)``, ``sorted(x, key=zwc.f)``). Calls to functions defined in the solution carry the level of what they return and of their
arguments; converting a package object back to Python data (``tolist``, ``item``, ``float()``) drops it
to plain. The entry point passes if some value it returns is *meaningful*. So a pure-Python solution
that also builds an array, or round-trips its input through the constructor twice, is rejected.

The usage rule is defined by behaviour: the answer must depend on what the task's own APIs compute,
the way the task's reference answer does. When every test passed, the code runs once more in a fresh
sandbox child (the *probe run*) that calls the entry point exactly once, on the task's *probe input*,
with the task's APIs perturbed from before the code is executed: each returns a deliberately different
value of the same type and shape (`selfevolve_lab.sandbox.perturb.Perturbation`), with constants drawn from
the judge's secret ``probe_seed``. The probe input is one the generator stored with the task
(``provenance["usage_probe"]``), not among its tests; a task without one (an older file, an imported
official task) falls back to one of its test inputs, fixed by the task id. The test run carries no
perturbation, so nothing in a run tells it apart from another (no repeated input, no extra call, the
same package at import and at call time), and the perturbation cannot be worked out by hand. Aliases of
the same library object count as the API (``absolute`` for ``abs``), and so do the value classes'
methods of the same name (``a.sum()`` for ``sum``) and the operators that are the API (``a + b`` for
``add``, ``abs(a)`` for ``absolute``); constructors and converters are never perturbed. The probe's
answer must equal the reference's answer under the same perturbation (one run of the reference per task
per judge, cached), else the verdict is ``not_using_package``, whatever the code looks like: pure Python,
the original library reached through any door, a monkeypatched package, an answer laundered through an
identity (``zwc.<add>(r, 0)``, a ravel, a copy) or a check of the package (``if zwc.f(-1) != 1: ...``)
all give an answer that does not move as the reference's does. (For a task whose reference does not
react to the perturbation the rule cannot tell, and only the static check applies; the generator drops
such tasks.)
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import re
from dataclasses import dataclass
from typing import Any

from selfevolve_lab.judge.compare import equal
from selfevolve_lab.profiles import LibraryProfile, resolve
from selfevolve_lab.sandbox.guard import PARSE_LOCK, STDLIB, parse
from selfevolve_lab.sandbox.pool import TestOutcome
from selfevolve_lab.schema import Task, Verdict

PLAIN, PKG, MEANINGFUL = 0, 1, 2
ADMITTED = "closed book: the package and the standard modules " + ", ".join(sorted(STDLIB - {"__future__"}))

BANNED_MODULES = frozenset({
    "importlib", "imp", "builtins", "__builtin__", "gc", "inspect", "ctypes", "cffi", "pickle", "cPickle",
    "marshal", "shelve", "dill", "cloudpickle", "copyreg", "runpy", "pkgutil", "zipimport", "subprocess",
    "multiprocessing", "code", "codeop", "pty",
})
BANNED_CALLS = frozenset({"__import__", "eval", "exec", "compile", "globals", "vars", "breakpoint", "locals"})
BANNED_NAMES = frozenset({"__builtins__", "__loader__", "__spec__", "__import__"})
OS_BANNED_PREFIXES = ("system", "popen", "exec", "spawn", "posix_spawn", "fork")
SYS_BANNED = frozenset({"modules", "_getframe", "meta_path", "path_hooks", "path_importer_cache", "settrace",
                        "setprofile"})
INTERNAL_ATTRS = frozenset({
    "__dict__", "__class__", "__bases__", "__base__", "__mro__", "__subclasses__", "__globals__", "__closure__",
    "__code__", "__func__", "__self__", "__wrapped__", "__module__", "__builtins__", "__loader__", "__spec__",
    "__getattribute__", "__reduce__", "__reduce_ex__", "__init_subclass__", "__objclass__", "__import__",
    "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame", "cr_frame", "ag_frame", "tb_frame", "tb_next",
    "mro", "__file__", "__path__", "__cached__", "__getattr__", "__setattr__", "__delattr__", "__getstate__",
})
ATTR_FUNCS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
_FORMAT_WALK = re.compile(r"\{[^{}]*\.(_|mro\b)")
NAME_GETTERS = frozenset({"attrgetter", "methodcaller"})  # operator.attrgetter("_x")(obj) is getattr too
TO_PLAIN = frozenset({"float", "int", "bool", "str", "complex", "repr", "format"})
SELF_NAMES = frozenset({"self", "cls"})


@dataclass(frozen=True)
class UsageResult:
    ok: bool
    status: str | None = None  # "not_using_package" | "uses_original_library" | "runtime_error" (cannot compile)
    detail: str = ""


def check_usage(code: str, *, package: str, library: str, entry_point: str,
                trivial_apis: frozenset[str] = frozenset(), to_plain_methods: frozenset[str] = frozenset()
                ) -> UsageResult:
    """Apply the module's rule. ``trivial_apis``: package function/method names that only build or
    convert data; ``to_plain_methods``: methods that turn a package object into Python data. The whole
    analysis holds `PARSE_LOCK`: its depth is bounded by the recursion limit, which a rewrite in another
    thread raises for every thread (CPython 3.11), so the same code could get another verdict."""
    with PARSE_LOCK:
        return _check_usage(code, package, library, entry_point, trivial_apis, to_plain_methods)


def _check_usage(code: str, package: str, library: str, entry_point: str, trivial_apis: frozenset[str],
                 to_plain_methods: frozenset[str]) -> UsageResult:
    try:
        tree = parse(code)
    except (SyntaxError, ValueError):
        return UsageResult(True)  # the sandbox reports the syntax error itself
    except (RecursionError, MemoryError):  # the parser's own limits: no interpreter can compile it either
        return UsageResult(False, "runtime_error", "the code is nested too deeply to compile")
    nodes = list(ast.walk(tree))  # every pass below reads this one list: walking the tree is the cost
    roots = _Roots(nodes)
    reach = _find_reach(nodes, package, library, roots)
    if reach:
        return UsageResult(False, "uses_original_library", reach)
    try:
        flow = _Flow(tree, nodes, package, trivial_apis, to_plain_methods, roots)
        imports = bool(flow.pkg_modules or flow.pkg_funcs or flow.star)
        level = flow.entry_level(entry_point) if imports else None
    except (RecursionError, MemoryError):  # expressions too deep for this analysis: the behaviour decides
        return UsageResult(True, detail="too deep for the static check")
    if not imports:
        return UsageResult(False, "not_using_package", f"the solution never imports {package}")
    if level is None:
        return UsageResult(True)  # no such entry point: the sandbox reports it
    if level < MEANINGFUL:
        return UsageResult(False, "not_using_package",
                           f"no value returned by {entry_point}() comes from a {package} computation")
    return UsageResult(True)


# ------------------------------------------------------------------ reaching the library


class _Roots:
    """The name each attribute chain starts from, for every node of the tree at once: linear, where
    walking each chain from each of its links is quadratic in its length (a 60 kB chain cost seconds)."""

    def __init__(self, nodes: list[ast.AST]):
        self.attr: dict[int, str | None] = {}
        self.chain: dict[int, str | None] = {}
        for node in reversed(nodes):  # ast.walk is breadth-first: a node's children come after it
            if isinstance(node, ast.Attribute):
                v = node.value
                self.attr[id(node)] = v.id if isinstance(v, ast.Name) else self.attr.get(id(v))
            if isinstance(node, (ast.Attribute, ast.Call, ast.Subscript)):
                inner = node.func if isinstance(node, ast.Call) else node.value
                self.chain[id(node)] = inner.id if isinstance(inner, ast.Name) else self.chain.get(id(inner))

    def root(self, node: ast.AST) -> str | None:
        """The name an expression like ``a.b.c`` starts from."""
        return node.id if isinstance(node, ast.Name) else self.attr.get(id(node))

    def chain_root(self, node: ast.AST) -> str | None:
        """The name an expression like ``a.b(c)[0].d`` starts from."""
        return node.id if isinstance(node, ast.Name) else self.chain.get(id(node))


def _bad_name(name: ast.AST, how: str) -> str:
    """A reach when an attribute name given as data is computed, private, internal or sys.modules-like."""
    if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
        return f"calls {how}() with a computed attribute name"
    if name.value.split(".")[0].startswith("_") or name.value in INTERNAL_ATTRS or name.value in SYS_BANNED:
        return f"calls {how}() on the internal attribute {name.value!r}"
    return ""


def _own_private(nodes: list[ast.AST], roots: _Roots) -> tuple[set[str], set[str]]:
    """The solution's own ``_private`` attribute names (``self._x = ...`` targets, methods of its classes),
    and the names that hold its own objects (``self``, ``cls``, its classes, names assigned from them)."""
    attrs, owners = set(), set(SELF_NAMES)
    for node in nodes:
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            attrs.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            owners.add(node.name)
            attrs.update(b.name for b in node.body if isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef)))
    assigns = [n for n in nodes if isinstance(n, ast.Assign)]
    for _ in range(3):
        for node in assigns:
            if roots.chain_root(node.value) in owners:
                owners.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return attrs, owners


def _find_reach(nodes: list[ast.AST], package: str, library: str, roots: _Roots) -> str:
    os_names, sys_names = {"os"}, {"sys"}
    own_attrs, owners = _own_private(nodes, roots)
    aliases = [n for n in nodes if isinstance(n, ast.Assign) and isinstance(n.value, ast.Name)]
    for _ in range(3):  # simple reassignments (s = sys; t = s) alias the module too
        for node in aliases:
            for group in (os_names, sys_names):
                if node.value.id in group:
                    group.update(t.id for t in node.targets if isinstance(t, ast.Name))
    called = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            parts = [p for a in node.names for p in a.name.split(".")] + (
                (node.module or "").split(".") if isinstance(node, ast.ImportFrom) else [])
            private = [p for p in parts if p.startswith("_") and p != "__future__"]
            if private:
                return f"imports the private name {private[0]}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and _FORMAT_WALK.search(node.value):
            return "a format string walks into an attribute"  # '{0._core}'.format(zwc)
        if isinstance(node, ast.Import):
            for a in node.names:
                top = a.name.split(".")[0]
                if top == library:
                    return f"imports {a.name}"
                if top != package and a.name not in STDLIB:
                    return f"imports {a.name}, which the sandbox does not admit ({ADMITTED})"
                if top in BANNED_MODULES:
                    return f"imports {a.name}, which can load code by name or walk the interpreter"
                if top == "os":
                    os_names.add(a.asname or "os")
                if top == "sys":
                    sys_names.add(a.asname or "sys")
        elif isinstance(node, ast.ImportFrom):
            top = (node.module or "").split(".")[0]
            if node.level == 0 and top == library:
                return f"imports from {node.module}"
            if node.level or (top != package and node.module not in STDLIB):
                return f"imports from {'.' * node.level}{node.module or ''}, which the sandbox does not admit ({ADMITTED})"
            if top in BANNED_MODULES:
                return f"imports from {node.module}, which can load code by name or walk the interpreter"
            for a in node.names:
                if top == "os" and a.name.startswith(OS_BANNED_PREFIXES):
                    return f"imports os.{a.name}, which runs other programs"
                if top == "sys" and a.name in SYS_BANNED:
                    return f"imports sys.{a.name}"
        elif isinstance(node, ast.Name):
            if node.id in BANNED_NAMES:
                return f"uses {node.id}"
            if node.id == library:
                return f"names {library}"
            if node.id in BANNED_CALLS:
                return f"uses {node.id}"
            if node.id in ATTR_FUNCS | NAME_GETTERS and id(node) not in called:
                return f"passes {node.id} around"  # g = getattr; g(obj, name) escapes the name rules
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name) and f.id in BANNED_CALLS:
                return f"calls {f.id}()"
            if isinstance(f, ast.Name) and f.id in ATTR_FUNCS and len(node.args) >= 2:
                bad = _bad_name(node.args[1], f.id)
                if bad:
                    return bad
            getter = f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute) else "")
            if getter in NAME_GETTERS:
                for name in node.args[:1] if getter == "methodcaller" else node.args:
                    bad = _bad_name(name, getter)
                    if bad:
                        return bad
        elif isinstance(node, ast.Attribute):
            a = node.attr
            if a in INTERNAL_ATTRS:
                return f"walks object internals via .{a}"
            base = roots.root(node)
            if isinstance(node.value, ast.Name) and base in os_names and a.startswith(OS_BANNED_PREFIXES):
                return f"calls os.{a}, which runs other programs"
            if isinstance(node.value, ast.Name) and base in sys_names and a in SYS_BANNED:
                return f"uses sys.{a}"
            if a.startswith("_") and not a.startswith("__") and not (
                    a in own_attrs and roots.chain_root(node.value) in owners):
                return f"reaches the internal attribute .{a}"
    return ""


# ------------------------------------------------------------------ dataflow


class _Flow:
    def __init__(self, tree: ast.Module, nodes: list[ast.AST], package: str, trivial: frozenset[str],
                 to_plain: frozenset[str], roots: _Roots):
        self.package = package
        self.roots = roots
        self.trivial = trivial
        self.to_plain = to_plain
        self.pkg_modules: set[str] = set()  # names bound to the package or its submodules
        self.pkg_funcs: dict[str, str] = {}  # names bound to package attributes -> attribute name
        self.star = False
        self.funcs: dict[str, ast.AST] = {}
        self.defs: dict[str, list[ast.AST]] = {}  # every definition of a name: the one that runs may be any
        for node in nodes:
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == package:
                        self.pkg_modules.add(a.asname or package)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == package:
                for a in node.names:
                    if a.name == "*":
                        self.star = True
                    else:
                        self.pkg_funcs[a.asname or a.name] = a.name
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.funcs.setdefault(node.name, node)
                self.defs.setdefault(node.name, []).append(node)
            elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        self.funcs.setdefault(t.id, node.value)
                        self.defs.setdefault(t.id, []).append(node.value)
        assigns = [n for n in nodes if isinstance(n, ast.Assign) and all(isinstance(t, ast.Name) for t in n.targets)]
        for _ in range(3):  # simple reassignments: z2 = zwc, f = zwc.falekef, g = getattr(zwc, "kocito")
            for node in assigns:
                if isinstance(node.value, ast.Name) and node.value.id in self.pkg_modules:
                    self.pkg_modules.update(t.id for t in node.targets)
                elif (api := self._package_api(node.value)) is not None:
                    self.pkg_funcs.update((t.id, api) for t in node.targets)
        self.returns: dict[str, int] = dict.fromkeys(self.funcs, PLAIN)
        self.globals: dict[str, int] = {}
        for _ in range(6):  # helpers may call each other: iterate to a fixpoint
            before = (dict(self.returns), dict(self.globals))
            self.globals = self._run_block(tree.body, dict(self.globals), top=True)[0]
            for name in self.funcs:
                self.returns[name] = min(self._function_level(fn) for fn in self.defs[name])
            if (self.returns, self.globals) == before:
                break

    def entry_level(self, entry: str) -> int | None:
        levels = [self.returns[entry]] if entry in self.funcs else []
        if entry in self.globals and entry not in self.funcs:  # e.g. solve = zwc.some_function
            levels.append(self.globals[entry])
        return min(levels) if levels else None

    # -- statements

    def _function_level(self, fn: ast.AST) -> int:
        env = dict(self.globals)
        if isinstance(fn, ast.Lambda):
            return self._expr(fn.body, env)
        for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs:  # type: ignore[attr-defined]
            env[a.arg] = PLAIN
        level = PLAIN
        for _ in range(3):  # loops: assignments later in the body may feed earlier lines
            env, level = self._run_block(fn.body, env)
        return level

    def _run_block(self, body: list[ast.stmt], env: dict[str, int], top: bool = False) -> tuple[dict[str, int], int]:
        ret = PLAIN
        for stmt in body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(stmt, ast.Return) and not top:
                if stmt.value is not None:
                    ret = max(ret, self._expr(stmt.value, env))
                break  # what follows a return in its block never runs
            if isinstance(stmt, (ast.Raise, ast.Break, ast.Continue)):
                break
            if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.Constant):  # if False: / if 1:
                env, r = self._run_block(stmt.body if stmt.test.value else stmt.orelse, env, top)
                ret = max(ret, r)
            elif isinstance(stmt, ast.While) and isinstance(stmt.test, ast.Constant) and not stmt.test.value:
                env, r = self._run_block(stmt.orelse, env, top)
                ret = max(ret, r)
            elif isinstance(stmt, ast.Assign):
                pairs = [(t, stmt.value) for t in stmt.targets]
                for t, value in pairs:  # a, b = x, y binds each name to its own value
                    if (isinstance(t, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
                            and len(t.elts) == len(value.elts) and not any(isinstance(e, ast.Starred) for e in t.elts)):
                        for te, ve in zip(t.elts, value.elts, strict=True):
                            self._bind(te, self._expr(ve, env), env)
                    else:
                        self._bind(t, self._expr(value, env), env)
            elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)) and stmt.value is not None:
                lv = self._expr(stmt.value, env)
                if isinstance(stmt, ast.AugAssign):
                    cur = self._expr(stmt.target, env)
                    lv = MEANINGFUL if PKG in (lv, cur) or MEANINGFUL in (lv, cur) else PLAIN
                self._bind(stmt.target, lv, env, merge=True)
            elif isinstance(stmt, (ast.For, ast.AsyncFor)):
                self._bind(stmt.target, self._expr(stmt.iter, env), env)
                for block in (stmt.body, stmt.orelse):
                    env, r = self._run_block(block, env, top)
                    ret = max(ret, r)
            elif isinstance(stmt, (ast.While, ast.If)):  # each branch is a block of its own
                for block in (stmt.body, stmt.orelse):
                    env, r = self._run_block(block, env, top)
                    ret = max(ret, r)
            elif isinstance(stmt, (ast.With, ast.AsyncWith)):
                for item in stmt.items:
                    if item.optional_vars is not None:
                        self._bind(item.optional_vars, self._expr(item.context_expr, env), env)
                env, r = self._run_block(stmt.body, env, top)
                ret = max(ret, r)
            elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
                for block in (stmt.body + stmt.orelse, *(h.body for h in stmt.handlers), stmt.finalbody):
                    env, r = self._run_block(block, env, top)
                    ret = max(ret, r)
            elif isinstance(stmt, ast.Match):
                for c in stmt.cases:
                    env, r = self._run_block(c.body, env, top)
                    ret = max(ret, r)
            elif isinstance(stmt, ast.Expr):
                self._expr(stmt.value, env)
                if isinstance(stmt.value, (ast.Yield, ast.YieldFrom)) and not top:
                    ret = max(ret, self._expr(stmt.value, env))
        return env, ret

    def _bind(self, target: ast.AST, level: int, env: dict[str, int], merge: bool = False) -> None:
        if isinstance(target, ast.Name):
            env[target.id] = max(env.get(target.id, PLAIN), level) if merge else level
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                self._bind(t, level, env, merge)
        elif isinstance(target, ast.Starred):
            self._bind(target.value, level, env, merge)
        elif isinstance(target, (ast.Subscript, ast.Attribute)):  # out[i] = ... taints out
            root = self.roots.root(target.value if isinstance(target, ast.Subscript) else target)
            if root:
                env[root] = max(env.get(root, PLAIN), level)

    # -- expressions

    def _package_api(self, func: ast.AST) -> str | None:
        """The package attribute a call target names (``zwc.rfx.inv`` -> "inv"), if it is one."""
        if isinstance(func, ast.Name) and func.id in self.pkg_funcs:
            return self.pkg_funcs[func.id]
        if (isinstance(func, ast.Call) and isinstance(func.func, ast.Name) and func.func.id == "getattr"
                and len(func.args) == 2 and isinstance(func.args[1], ast.Constant)
                and isinstance(func.args[1].value, str)
                and (self.roots.root(func.args[0]) in self.pkg_modules or self._package_api(func.args[0]) is not None)):
            return func.args[1].value  # getattr(zwc, "falekef") is zwc.falekef
        if isinstance(func, ast.Attribute) and self.roots.root(func) in self.pkg_modules:
            return func.attr
        return None

    def _expr(self, node: ast.AST | None, env: dict[str, int]) -> int:
        if node is None:
            return PLAIN
        if isinstance(node, ast.Name):
            if node.id in env:
                return env[node.id]
            if node.id not in self.pkg_funcs:
                return PLAIN
            # a package function handed on (map(zwc.f, x), key=zwc.f) computes; the constructors don't
            return PKG if self.pkg_funcs[node.id] in self.trivial else MEANINGFUL
        if isinstance(node, ast.Call):
            return self._call(node, env)
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare, ast.BoolOp)):
            parts = [self._expr(c, env) for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
            return MEANINGFUL if any(p >= PKG for p in parts) else PLAIN  # package operators compute
        if isinstance(node, ast.Subscript):
            return max(self._expr(node.value, env), self._expr(node.slice, env))
        if isinstance(node, ast.Attribute):
            if self.roots.root(node) in self.pkg_modules:
                return PKG if node.attr in self.trivial else MEANINGFUL
            base = self._expr(node.value, env)
            return MEANINGFUL if base == PKG and node.attr not in self.trivial else base
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
            inner = dict(env)
            for gen in node.generators:
                self._bind(gen.target, self._expr(gen.iter, inner), inner)
            elts = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
            return max(self._expr(e, inner) for e in elts)
        if isinstance(node, ast.IfExp):
            return max(self._expr(node.body, env), self._expr(node.orelse, env))
        if isinstance(node, ast.NamedExpr):
            lv = self._expr(node.value, env)
            self._bind(node.target, lv, env)
            return lv
        if isinstance(node, ast.Lambda):
            return PLAIN
        children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
        return max((self._expr(c, env) for c in children), default=PLAIN)

    def _call(self, node: ast.Call, env: dict[str, int]) -> int:
        args = [self._expr(a, env) for a in node.args] + [self._expr(k.value, env) for k in node.keywords]
        top = max(args, default=PLAIN)
        api = self._package_api(node.func)
        if api is not None or (self.star and isinstance(node.func, ast.Name) and node.func.id not in env
                               and node.func.id not in self.funcs and not hasattr(builtins, node.func.id)):
            if api is not None and api in self.trivial:
                return max(PKG, top)
            return MEANINGFUL
        f = node.func
        if isinstance(f, ast.Attribute):
            base = self._expr(f.value, env)
            if base >= PKG:
                if f.attr in self.to_plain:
                    return PLAIN if base == PKG and top < MEANINGFUL else MEANINGFUL
                if f.attr in self.trivial:
                    return max(base, top)
                return MEANINGFUL
            root = self.roots.root(f.value)
            if root and root in env and top > env[root]:  # acc.append(value) carries value into acc
                env[root] = top
            return max(base, top)
        if isinstance(f, ast.Name):
            if f.id in self.funcs:
                return max(self.returns.get(f.id, PLAIN), top)
            if f.id in TO_PLAIN:
                return PLAIN if top == PKG else top
        return top


# ------------------------------------------------------------------ the behavioural rule


class PerturbTargets:
    """The dotted novel names a probe run perturbs for a task's APIs: the APIs, their aliases (the same
    library object under another name: ``absolute`` for ``abs``), and the profile's value classes' methods
    of the same name and operators that are the same computation (``a.sum()``, ``a + b``)."""

    def __init__(self, profile: LibraryProfile, mapping: dict[str, str]):
        self.profile, self.mapping = profile, mapping
        self._original = {v: k for k, v in mapping.items()}
        self._aliases: dict[int, list[str]] | None = None
        self._keep: list[Any] = []  # the library objects _aliases is keyed by (ids stay theirs)
        self._targets: dict[tuple[str, ...], list[str]] = {}

    def __call__(self, apis: list[str]) -> list[str]:
        key = tuple(apis)
        if key not in self._targets:
            names: list[str] = []
            for api in apis:
                names += [api] + self._same_computation(api)
            self._targets[key] = list(dict.fromkeys(names))
        return self._targets[key]

    def _same_computation(self, api: str) -> list[str]:
        original = self._original.get(api)
        mapping = self.mapping
        if original is None:
            return []
        obj = resolve(original)
        out = [mapping[o] for o in self._alias_index().get(id(obj), []) if obj is not None]
        short = original.rsplit(".", 1)[-1]
        name = getattr(obj, "__name__", short) if obj is not None else short
        for cls in self.profile.value_classes:
            if cls not in mapping:
                continue
            out += [mapping[f"{cls}.{n}"] for n in {short, name} if f"{cls}.{n}" in mapping]
            out += [f"{mapping[cls]}.{op}" for op in self.profile.operators.get(name, ())]
        return out

    def _alias_index(self) -> dict[int, list[str]]:
        """id(library function) -> the original names it goes by (module-level functions only)."""
        if self._aliases is None:
            index: dict[int, list[str]] = {}
            classes = set(self.profile.value_classes)
            for original in self.mapping:
                parent = original.rsplit(".", 1)[0]
                if parent in classes or not callable(obj := resolve(original)) or isinstance(obj, type):
                    continue
                if isinstance(resolve(parent), type):
                    continue  # a method of some class: not a module-level alias
                index.setdefault(id(obj), []).append(original)
                self._keep.append(obj)
            self._aliases = index
        return self._aliases


def probe_index(task: Task) -> int:
    """For a task without a stored probe input: the test whose input the probe run uses, the one an older
    generator chose (``provenance["usage_probe"]["test"]``), else one fixed by the task id."""
    stored = task.provenance.get("usage_probe")
    k = stored.get("test") if isinstance(stored, dict) else None
    if isinstance(k, int) and not isinstance(k, bool) and 0 <= k < len(task.tests):
        return k
    return int(hashlib.sha256(task.id.encode()).hexdigest()[:8], 16) % max(1, len(task.tests))


def probe_point(task: Task) -> tuple[dict[str, Any], Any]:
    """The probe input (tagged keyword arguments) and the reference's answer on it unperturbed: the
    generator's (``provenance["usage_probe"]``, an input not among the tests), else test `probe_index`'s."""
    stored = task.provenance.get("usage_probe")
    if isinstance(stored, dict) and isinstance(stored.get("input"), dict) and "output" in stored:
        return stored["input"], stored["output"]
    case = task.tests[probe_index(task)]
    return case.input, case.output


REFERENCE_UNRUN = "the sandbox failed the usage rule's probe of the reference"


def _kind(error: str) -> str:
    """An outcome's error class (``ValueError: ...`` -> ``ValueError``), or its run status (``timeout: ...``)."""
    return error.split(":", 1)[0].strip()


def apply_usage_rule(verdict: Verdict, task: Task, probe: TestOutcome | None, expected: TestOutcome | None) -> Verdict:
    """A passed verdict after its probe run: still passed only if the probe's answer is the reference's
    answer under the same perturbation (``expected``). Pure."""
    if expected is None:
        return verdict  # the task has nothing to perturb: the rule cannot tell
    if not expected.ok and expected.error == REFERENCE_UNRUN:  # never read as a pass
        return verdict.model_copy(update={"passed": False, "status": "sandbox_error", "detail": REFERENCE_UNRUN})
    if not expected.ok:  # with its APIs perturbed the reference fails under every draw: so must a solution that
        # calls them, and the same way (the package's exceptions have novel names: a plain raise differs)
        if probe is not None and not probe.ok and _kind(probe.error) == _kind(expected.error):
            return verdict
        return verdict.model_copy(update={"passed": False, "status": "not_using_package", "detail": (
            "the answer does not follow the task's APIs: with them returning other values it still gives one, "
            "while the reference's fails")})
    if equal(probe_point(task)[1], expected.value, task.compare)[0]:
        return verdict  # the reference does not react to the perturbation here: the rule cannot tell
    if probe is None:
        detail = "the probe run with the task's APIs perturbed did not run"
    # The detail is feedback a model may read (RL, ExIt): it names neither the task's APIs (it would teach
    # the closed book's answer) nor what the probe run said (the run could print what it found there).
    elif not probe.ok:
        detail = ("with the task's APIs perturbed the solution gave no answer, while the reference's answer "
                  "follows them")
    elif not equal(expected.value, probe.value, task.compare)[0]:
        detail = ("the answer does not follow the task's APIs: with them returning other values it does not "
                  "change as the reference's answer does")
    else:
        return verdict
    return verdict.model_copy(update={"passed": False, "status": "not_using_package", "detail": detail})
