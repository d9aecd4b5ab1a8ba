"""Closed book at run time: what a run's code can reach inside the jail, by allowlist.

Loaded by path inside the jail (stdlib only), and imported on the trusted side for its allowlist, which
the static check shares. The child installs it after its setup and before the code runs:

* **Imports.** ``__import__`` admits the package's public modules and the standard modules in
  `STDLIB`, nothing else: no original library, no ``sys``/``os``/``gc``/``importlib``, no private
  module, no relative import, no ``from <package> import *``.
* **Builtins.** The code's ``__builtins__`` holds `BUILTIN_NAMES` only: no ``eval``/``exec``/``compile``,
  ``globals``/``locals``/``vars``/``dir``, ``help``, ``breakpoint``, ``input``. ``getattr``/``setattr``/
  ``delattr``/``hasattr`` are the guarded versions below, ``open`` opens files of the run's directory.
* **Attributes.** The code is compiled from a rewritten AST in which every attribute read ``a.b`` is
  ``_SE_ga(a, "b")`` and every write of a ``_name`` goes through the same rule, so the rule holds for
  names computed at run time too. Refused: every ``_name`` and dunder (bar `SAFE_DUNDERS`), except
  ``_name``\\s of the code's own classes and their instances; every attribute of frames, tracebacks and
  code objects, and of generators and coroutines but their ``send``/``throw``/``close``; a module that is
  not admitted above, whatever public attribute holds it (``statistics.sys``); the few functions of
  admitted modules that read attributes or evaluate code by a name the caller gives (`HIDDEN`); and
  ``str.format`` with an attribute in a field (``"{0.x}"``). So no path leads to the package's private
  modules and name tables, docstrings, ``__globals__``, closures, frames, the collector or the library,
  and nothing enumerates the package (no ``dir``, ``vars`` or ``__dict__``).
* **Audit hook** (a second line, for what library code does on the code's behalf): opening or listing a
  file of the package or of the sandbox's own code, evaluating code compiled from a string (a module's
  import and ``collections.namedtuple`` excepted), starting a process, ``ctypes``, the collector's walks,
  tracing and further audit hooks are refused.

What remains possible is stated in the README ("Threat model of the judge").
"""

from __future__ import annotations

import ast
import builtins
import os
import sys
import sysconfig
import threading
import types

GA, OWN, SPELL = "_SE_ga", "_SE_own", "_SE_spell"  # the rewritten code's hooks; a run's names may not use _SE_

STDLIB = frozenset({
    "__future__", "abc", "array", "bisect", "cmath", "collections", "collections.abc", "contextlib", "copy",
    "datetime", "decimal", "fractions", "functools", "heapq", "io", "itertools", "json",
    "math", "numbers", "operator", "random", "re", "statistics", "string", "struct", "textwrap", "time",
    "typing", "unicodedata", "warnings",
})
# Functions of admitted modules that read an attribute by a name the caller gives, bypassing the rule.
# And io's openers, which take an ``opener`` that turns any path into any descriptor (the result pipe's too):
# the run's builtin `open` is the one way to a file.
HIDDEN = {"operator": frozenset({"attrgetter", "methodcaller"}), "string": frozenset({"Formatter"}),
          "io": frozenset({"open", "FileIO", "open_code"})}
# The dunders a run may name: what operators, builtins and statements call anyway (x.__add__(y) is x + y),
# and a class's name. Not the introspective ones (__dict__, __globals__, __reduce__, __array__, ...).
_OPS = ("add", "sub", "mul", "matmul", "truediv", "floordiv", "mod", "divmod", "pow", "lshift", "rshift", "and",
        "xor", "or")
# What functools.wraps/update_wrapper copy (and dataclasses and contextlib read back) and the copy protocol:
# admitted library code may read and write these, for the run, on objects that are neither modules nor the
# package's, the library's or the sandbox's (`Guard._foreign`): the run's own functions, its objects, the
# standard library's.
LIB_META = frozenset({"__dict__", "__name__", "__qualname__", "__doc__", "__module__", "__wrapped__",
                      "__annotations__", "__defaults__", "__kwdefaults__", "__type_params__", "__reduce_ex__",
                      "__reduce__", "__deepcopy__", "__copy__", "__getstate__", "__setstate__",
                      "__getnewargs_ex__", "__getnewargs__"})
SAFE_DUNDERS = frozenset(
    {f"__{p}{op}__" for op in _OPS for p in ("", "r", "i")} | {f"__{n}__" for n in (
        "init", "name", "class", "call", "enter", "exit", "len", "getitem", "setitem", "delitem", "contains",
        "iter", "next", "reversed", "eq", "ne", "lt", "le", "gt", "ge", "hash", "bool", "int", "float", "complex",
        "index", "str", "repr", "format", "round", "abs", "neg", "pos", "invert", "trunc", "floor", "ceil")})
# What a library reads from any object it meets as raw memory at an address the object names, or as a hook
# it calls with its own objects: no run names them, on any object (its own instances included: a red team
# set ``self.__array_interface__`` and read the interpreter's memory through the library).
MEMORY = frozenset({"__array_interface__", "__array_struct__", "__array__", "__array_function__", "__array_ufunc__",
                    "__array_wrap__", "__array_prepare__", "__array_finalize__", "__array_priority__",
                    "__array_namespace__", "__dlpack__", "__dlpack_device__", "__buffer__", "__release_buffer__"})
_GEN_OK = frozenset({"send", "throw", "close", "asend", "athrow", "aclose"})
_PLAIN = frozenset({int, float, complex, str, bytes, bool, type(None), type(Ellipsis), slice, range})
_CONTAINERS = (dict, types.MappingProxyType, list, tuple, set, frozenset)
_GEN_TYPES = (types.GeneratorType, types.CoroutineType, types.AsyncGeneratorType)
_OPAQUE = (types.FrameType, types.TracebackType, types.CodeType)
BUILTIN_NAMES = frozenset({
    "abs", "aiter", "all", "anext", "any", "ascii", "bin", "bool", "bytearray", "bytes", "callable", "chr",
    "classmethod", "complex", "dict", "divmod", "enumerate", "filter", "float", "format", "frozenset", "hash",
    "hex", "id", "int", "isinstance", "issubclass", "iter", "len", "list", "map", "max", "min", "next", "object",
    "oct", "ord", "pow", "print", "property", "range", "repr", "reversed", "round", "set", "slice", "sorted",
    "staticmethod", "str", "sum", "super", "tuple", "type", "zip", "None", "True", "False", "Ellipsis",
    "NotImplemented", "__debug__",
})
# Code evaluated from a string is refused but for namedtuple's, which it builds from names it checks are
# identifiers (dataclasses pastes its field names into code unchecked: a red team ran code of its own there).
_EXEC_OK = {"namedtuple": "/collections/__init__.py"}
GUESSES = 64  # names a run may look up that the package does not have (an honest one misspells a few)
_AUDIT_DENIED = frozenset({
    "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty", "subprocess.Popen",
    "ctypes.dlopen", "ctypes.dlsym", "ctypes.cdata", "ctypes.addressof", "ctypes.call_function",
    "ctypes.string_at", "ctypes.wstring_at", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
    "sys.settrace", "sys.setprofile", "sys.addaudithook", "sys._current_frames", "pty.spawn", "socket.socket",
    "os.chdir", "os.chmod", "os.chown", "os.link", "os.symlink", "os.rename",
})


class ClosedBook(AttributeError):
    """An attribute the run may not reach."""


class ClosedBookImport(ImportError):
    """A module the run may not import."""


# ------------------------------------------------------------------ the rewrite (runs in the child)


class _Rewrite(ast.NodeTransformer):
    """Attribute reads -> ``_SE_ga(obj, "name")``; writes and deletes -> a subscript of ``_SE_own(obj)``,
    which applies the same rule (so every target form works: tuples, ``for``, ``+=``).
    Private names are mangled here as the compiler would (``self.__x`` in class ``C`` is ``_C__x``)."""

    def __init__(self) -> None:
        self.classes: list[str] = []
        self.spelled: set[str] = set()  # every name the code spells, as attribute, import or string (`Guard.spelled`)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.spelled.update(a.name for a in node.names)
        self.spelled.update((node.module or "").split("."))
        return node

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        if isinstance(node.value, str) and node.value.isidentifier():  # getattr(x, "shape", None) spells it
            self.spelled.add(node.value)
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.spelled.update(p for a in node.names for p in a.name.split("."))
        return node

    def _mangle(self, name: str) -> str:
        if self.classes and name[:2] == "__" and name[-2:] != "__" and "." not in name:
            owner = self.classes[-1].lstrip("_")
            if owner:
                return f"_{owner}{name}"
        return name

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        self.classes.append(node.name)
        try:
            return self.generic_visit(node)
        finally:
            self.classes.pop()

    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id.startswith("_SE_"):
            raise SyntaxError(f"the name {node.id!r} is reserved by the sandbox")
        return node

    def visit_MatchClass(self, node: ast.AST) -> ast.AST:
        # A class pattern reads attributes in C, by the names in its keywords or in the class's
        # __match_args__ (which the run can make anything): nothing the guard could check.
        raise SyntaxError("class patterns (case C(...)) are not allowed in the sandbox: they read attributes "
                          "past its checks")

    def visit_match_case(self, node: ast.match_case) -> ast.AST:
        # A dotted name in a pattern (`case m.X:`, `{m.X: v}`) is read by the interpreter, past the guard;
        # rewritten into a call it is no pattern at all (its text parses back as a class pattern).
        if any(isinstance(n, ast.Attribute) for n in ast.walk(node.pattern)):
            raise SyntaxError("dotted names in patterns (case m.X:) are not allowed in the sandbox: they read "
                              "attributes past its checks")
        return self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        name = self._mangle(node.attr)
        self.spelled.add(name)
        if isinstance(node.ctx, ast.Load):
            call = ast.Call(ast.Name(GA, ast.Load()), [node.value, ast.Constant(name)], [])
            return ast.copy_location(call, node)
        # every write and delete too: `contextlib.sys = ...` changed what library code reads
        own = ast.Call(ast.Name(OWN, ast.Load()), [node.value], [])
        return ast.copy_location(ast.Subscript(own, ast.Constant(name), node.ctx), node)


# CPython 3.11's sys.setrecursionlimit moves every thread's recursion budget, and ast.parse checks its own
# depth against that budget: a parse in one thread while another thread changes the limit (rewrite_source
# does, in the pool's dispatcher threads) fails with "SystemError: AST constructor recursion depth mismatch",
# a correct answer reported as sandbox_error (seen in CI under load). Every trusted-side parse holds this lock.
PARSE_LOCK = threading.RLock()


def parse(code: str, filename: str = "<unknown>") -> ast.Module:
    """ast.parse under PARSE_LOCK (the trusted side's parses run in several threads)."""
    with PARSE_LOCK:
        return ast.parse(code, filename)


def _no_reserved_names(tree: ast.AST) -> None:
    """No identifier of the run's may start with the hooks' prefix, or be ``__builtins__``: not a name, and
    not what a class, function, argument, import alias, pattern capture, ``global`` or keyword binds or spells
    (a module-level ``class _SE_ga`` took the hook's place; ``__builtins__ = {...}`` gave every later function
    an ``__import__`` of the run's, whose result ``from m import x`` reads natively). Every identifier field of
    every node, not a list of node kinds. ``from m import _x`` is refused too: the import reads it natively."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant):  # data, not an identifier (`getattr(x, "_SE_ga")` meets the guard)
            continue
        if isinstance(node, ast.ImportFrom) and any(a.name.startswith("_") for a in node.names):
            raise SyntaxError("from-imports of private names are not allowed in the sandbox")
        for _, value in ast.iter_fields(node):
            for v in value if isinstance(value, list) else [value]:
                if isinstance(v, str) and (v == "__builtins__" or any(p.startswith("_SE_") for p in v.split("."))):
                    raise SyntaxError(f"the name {v!r} is reserved by the sandbox")


def _rewritten(tree: ast.Module) -> ast.Module:
    """The tree rewritten, opening (after a docstring and ``__future__`` imports) with the statement that
    hands the guard the names the code spells."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))  # the walk recurses twice per level: a 1200-term sum is 2400 deep
    try:
        _no_reserved_names(tree)
        rw = _Rewrite()
        tree = rw.visit(tree)
        return _spelling_first(tree, rw.spelled)
    finally:
        sys.setrecursionlimit(limit)


def _spelling_first(tree: ast.Module, spelled: set[str]) -> ast.Module:
    body = tree.body
    k = 1 if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) else 0
    while k < len(body) and isinstance(body[k], ast.ImportFrom) and body[k].module == "__future__":
        k += 1
    names = ast.Call(ast.Name("frozenset", ast.Load()), [ast.List([ast.Constant(n) for n in sorted(spelled)],
                                                                  ast.Load())], [])
    body.insert(k, ast.Expr(ast.Call(ast.Name(SPELL, ast.Load()), [names], [])))
    return ast.fix_missing_locations(tree)


def rewrite(code: str, filename: str = "solution.py") -> types.CodeType:
    """The run's code, compiled with every attribute access guarded. Raises SyntaxError (or
    RecursionError/MemoryError for code nested past the parser's limits)."""
    tree = _rewritten(ast.parse(code, filename))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20_000))
    try:
        return compile(tree, filename, "exec", dont_inherit=True)  # not guard.py's __future__ flags
    finally:
        sys.setrecursionlimit(limit)


def rewrite_source(code: str) -> str | None:
    """The rewritten program as source, made once on the trusted side so that a run's child only compiles
    it: parsing and rewriting in the child touched its copy-on-write memory for 0.5 ms a run. Parsing is not
    running: the text is never evaluated here. None when the code cannot be rewritten here (a syntax
    error, a tree too deep): the child then rewrites it, and reports what fails."""
    with PARSE_LOCK:
        return _rewrite_source(code)


def _rewrite_source(code: str) -> str | None:
    try:
        tree = _rewritten(ast.parse(code, "solution.py"))
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20_000))
        try:
            out = ast.unparse(tree)
        finally:
            sys.setrecursionlimit(limit)
        back = compile(out, "solution.py", "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
        # the child compiles this text as it is: it must be the very tree that was checked and rewritten
        # (`case _SE_ga(g, "x"):` read back as a class pattern, not the rewritten value pattern it came from)
        return out if ast.dump(back) == ast.dump(tree) else None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


# ------------------------------------------------------------------ the run-time rule


class Guard:
    """The run's namespace: its builtins, import and attribute rules. Built in the worker once (the
    package's public modules are known by then), then `install`ed in each child."""

    def __init__(self, package: str | None, deny_dirs: list[str], library: str | None = None):
        self.package = package
        # whose functions, classes and instances admitted library code may not read metadata of for the run
        self.foreign = {m for m in (package, library, "guard", "worker", "protocol", "perturb") if m}
        self._owned_roots = self.foreign - {package}  # the package's public objects are the API
        self._owned_types: dict[int, tuple[type, bool]] = {}
        here = os.path.dirname(os.path.abspath(__file__)) + "/"
        lib = getattr(sys.modules.get(library or ""), "__file__", None)
        # the library's directory, or its one file (a standard module's directory is the standard library's)
        lib = () if not lib else (os.path.dirname(lib) + "/",) if lib.endswith("__init__.py") else (lib,)
        self._owned_dirs = (here, *lib)
        # the perturber's wrappers stand in for the package's functions in a probe run: they are the package's
        self._stand_in = here + "perturb.py"
        self.modules = set(STDLIB) - {library}  # a standard module can be the library (statistics)
        if package:
            self.modules |= {m for m in list(sys.modules) if (m == package or m.startswith(package + "."))
                             and not any(p.startswith("_") for p in m.split("."))}
        # and /proc: /proc/self/mem would read (and write) the run's own memory, the guard's state included
        self.deny_dirs = tuple(os.path.realpath(d).rstrip("/") + "/" for d in [*deny_dirs, "/proc"] if d)
        self.user_types: set[int] = set()
        self.module_name = "solution"  # the run's module: its classes' __module__
        self._keep: list[type] = []
        self._code: types.CodeType | None = None
        self.armed = False
        self.spelled: frozenset[str] | None = None
        self.misses = 0
        self._facades: dict[str, _Facade] = {}
        self.workdir = "/nonexistent/"
        self._stdlib: tuple[str, ...] = ("/nonexistent/",)
        self._real_import = builtins.__import__
        self._real_build_class = builtins.__build_class__
        mro = type.__dict__["__mro__"].__get__
        tdict = type.__dict__["__dict__"].__get__
        self._mro, self._tdict = mro, tdict
        self.builtins = self._builtins()

    def shield_stdlib(self) -> None:
        """Give every standard-library module guarded ``getattr``/``setattr``/``delattr``/``hasattr``/
        ``vars``/``dir`` (module globals shadow the builtins): an admitted function that reads or writes an
        attribute by a name its caller chose (``functools.update_wrapper(sink, obj, assigned=(name,))``, the
        red team's door to everything) obeys the run's rule whenever the run's code is on the stack.
        Installed in the worker once: until a run arms the guard, and for the worker's own code after it,
        they are plain calls."""
        stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"]) + "/"
        self._stdlib = (stdlib, os.path.dirname(os.__file__) + "/")
        hooks = {"getattr": self._lib_getattr, "setattr": self._lib_setattr, "delattr": self._lib_delattr,
                 "hasattr": self._lib_hasattr, "vars": self._lib_vars, "dir": self._lib_dir}
        for mod in list(sys.modules.values()):
            f = getattr(mod, "__file__", None)
            if not isinstance(f, str) or "-packages/" in f or not (f.startswith(self._stdlib)
                                                                   or os.path.realpath(f).startswith(stdlib)):
                continue
            d = vars(mod)
            for k, v in hooks.items():
                d.setdefault(k, v)

    def _for_run(self) -> bool:
        """Whether the standard-library code calling a hook acts for the run's code: the run's code is on
        the stack, also past the package or the library (a callback they call, a function the run hands to
        them, which could otherwise serve as a trampoline), unless a module is being imported in between
        (the import system and the module's own code run then, as in the worker: ``numpy.ma`` decorating
        its classes on first use; the run imports only admitted modules, through its own ``__import__``)."""
        if not self.armed:
            return False
        f = sys._getframe(2)
        while f is not None:
            code = f.f_code
            if code.co_filename == "solution.py":
                return True
            if code.co_name == "<module>" or code.co_filename.startswith("<frozen importlib"):
                return False
            f = f.f_back
        return False

    def _lib_getattr(self, obj, name, *default):
        if not self._for_run():
            return getattr(obj, name, *default)
        return self.getattr(obj, name, *default, lib=sys._getframe(1).f_code.co_consts or (None,))

    def _lib_hasattr(self, obj, name):
        if not self._for_run():
            return hasattr(obj, name)
        return self.hasattr(obj, name, lib=sys._getframe(1).f_code.co_consts or (None,))

    def _lib_setattr(self, obj, name, value):
        if self._for_run():
            self.setattr(obj, name, value, lib=True)
        else:
            setattr(obj, name, value)

    def _lib_delattr(self, obj, name):
        if self._for_run():
            self.delattr(obj, name, lib=True)
        else:
            delattr(obj, name)

    def _lib_vars(self, *obj):
        if obj and self._for_run() and not self._own(obj[0], "__dict__"):
            raise TypeError("closed book: vars() of an object the run did not make")
        return vars(*obj) if obj else sys._getframe(1).f_locals

    def _lib_dir(self, *obj):
        if obj and self._for_run() and not self._own(obj[0], "__dict__"):
            raise TypeError("closed book: dir() of an object the run did not make")
        return dir(*obj) if obj else sorted(sys._getframe(1).f_locals)

    def preload(self) -> None:
        """Import the admitted standard modules once, in the worker: runs then only find them."""
        for m in sorted(STDLIB):
            try:
                self._real_import(m)
            except ImportError:
                self.modules.discard(m)

    def warm(self) -> None:
        """Run the rewrite and the checks once in the worker, before it forks: each child would otherwise
        specialise their bytecode again on its own copy-on-write pages (measured at 0.5 ms a run)."""
        code = ("import math\nfrom collections import Counter\nclass C:\n    def __init__(self):\n"
                "        self._n = math.pi\n    def f(self):\n        self._n += 1\n        return self._n.real\n"
                "def solve(x):\n    return [C().f(), getattr(x, 'count')(1), hasattr(x, '_y'), Counter(x).most_common(1),"
                " '{}'.format(1), x.__len__()]\n")
        for _ in range(20):  # the interpreter specialises a code path after a few runs of it
            self.spelled = None
            ns = self.namespace()
            exec(self.compile(code), ns)
            ns["solve"]([1, 2])
        self.user_types.clear()
        self._keep.clear()
        self._code = self.spelled = None
        self.misses = 0

    # -- the namespace

    def _builtins(self) -> dict:
        out = {n: getattr(builtins, n) for n in BUILTIN_NAMES if hasattr(builtins, n)}
        for n, v in vars(builtins).items():
            if isinstance(v, type) and issubclass(v, BaseException):
                out[n] = v
        out.update(__import__=self.import_, __build_class__=self.build_class, getattr=self.getattr,
                   setattr=self.setattr, delattr=self.delattr, hasattr=self.hasattr, open=self.open)
        return out

    def namespace(self) -> dict:
        return {"__name__": self.module_name, "__builtins__": self.builtins, GA: self.literal_getattr, OWN: _Own(self),
                SPELL: self._spell}

    def _spell(self, names) -> None:
        """The rewritten code's first statement: the attribute names it spells (once per run)."""
        if self.spelled is not None or type(names) is not frozenset:
            raise ClosedBook("closed book: the sandbox's names are set once, by the sandbox")
        self.spelled = names

    def compile(self, code: str, rewritten: bool = False) -> types.CodeType:
        """The run's code object: ``code`` rewritten here, or already rewritten by `rewrite_source`."""
        self._code = compile(code, "solution.py", "exec", dont_inherit=True) if rewritten else rewrite(code)
        return self._code

    def build_class(self, func, name, *bases, **kw):
        cls = self._real_build_class(func, name, *bases, **kw)
        # the run's own only if this statement made it: a metaclass may return any class that exists
        # (`metaclass=lambda *a: type(zwc.f)` made FunctionType "the run's", and __globals__ readable); a
        # class made here from the body's namespace keeps that namespace's __module__, the run's module
        if isinstance(cls, type) and vars(cls).get("__module__") == self.module_name and cls.__name__ == name:
            self.user_types.add(id(cls))
            self._keep.append(cls)
        return cls

    # -- imports

    def import_(self, name, globals=None, locals=None, fromlist=(), level=0):
        if level:
            raise ClosedBookImport("relative imports are not allowed in the sandbox")
        name = str(name)
        if name not in self.modules:
            raise ClosedBookImport(f"import of {name!r} is not allowed in the sandbox (closed book): only "
                                   f"{self.package + ' and ' if self.package else ''}these standard modules: "
                                   f"{', '.join(sorted(STDLIB & self.modules))}")
        pkg = self.package is not None and (name == self.package or name.startswith(self.package + "."))
        if pkg and not set(name.split(".")[1:]) <= (self.spelled or set()):
            raise ClosedBookImport(f"the code never spells {name!r}, so it cannot import it")  # no guessing
        top = self._real_import(name, None, None, (), 0)
        if not fromlist:
            return self.facade(top)
        mod = sys.modules[name]
        for f in fromlist:
            f = str(f)
            if f == "*":
                raise ClosedBookImport(f"'from {name} import *' is not allowed in the sandbox")
            if f.startswith("_") or f in HIDDEN.get(name, ()) or (pkg and f not in (self.spelled or ())):
                raise ClosedBookImport(f"cannot import {f!r} from {name!r} in the sandbox")
            if f"{name}.{f}" in self.modules and not hasattr(mod, f):
                self._real_import(f"{name}.{f}", None, None, (), 0)
            self._admit(getattr(mod, f, None), name, f, module=True)
        return self.facade(mod)

    # -- attributes

    def _own(self, obj, name: str) -> bool:
        """``_name`` on the run's own class or instance: defined by no class but the run's (or only in the
        instance's dict, or by ``type``: ``C.__mro__``, ``C.__subclasses__()`` of its own class ``C``)."""
        cls = obj if issubclass(type(obj), type) else type(obj)
        if id(cls) not in self.user_types:
            return False
        for k in self._mro(cls):
            if name in self._tdict(k):
                return id(k) in self.user_types
        return True

    def _foreign(self, obj) -> bool:
        """A module, or a function, class or instance of the package, the library or the sandbox (a
        function by where its code is, anything else by its class's module)."""
        t = type(obj)
        if issubclass(t, types.ModuleType):
            return True
        if t is types.FunctionType:
            where = obj.__code__.co_filename
            return not (where == "solution.py" or where.startswith("<") or (
                where.startswith(self._stdlib) and "-packages/" not in where))
        cls = obj if issubclass(t, type) else t
        mod = self._tdict(cls).get("__module__")
        return not isinstance(mod, str) or mod.split(".")[0] in self.foreign

    def check(self, obj, name, lib=()) -> str:
        """Refuse what the rule refuses (`lib`: asked by admitted library code for the run)."""
        if type(name) is not str:
            raise TypeError("attribute name must be a string")
        if name in MEMORY:
            raise ClosedBook(f"closed book: .{name} is not reachable in the sandbox")
        if name[:1] == "_" and name not in SAFE_DUNDERS and not self._own(obj, name) and not (
                lib and name in LIB_META and not self._foreign(obj)
                and not (name == "__dict__" and issubclass(type(obj), type))):  # a class's: its private methods
            raise ClosedBook(f"closed book: .{name} is not reachable in the sandbox")
        if issubclass(type(obj), _OPAQUE) or (issubclass(type(obj), _GEN_TYPES) and name not in _GEN_OK):
            raise ClosedBook(f"closed book: the attributes of {type(obj).__name__} objects are not reachable")
        if issubclass(type(obj), types.ModuleType) and name in HIDDEN.get(_module_name(obj), ()):
            raise ClosedBook(f"closed book: {obj.__name__}.{name} is not available in the sandbox")
        return name

    def _admit(self, value, owner, name, module: bool = False):
        """A value a run is handed: a module only as its facade (`_Facade`), and only an admitted one; never
        an object of the library or the sandbox (`_owned`), and from a module (``module``) no container
        holding one: ``copy.dispatch_table`` held the library's own reducers, a red team's way to raw arrays
        and from there to memory."""
        t = type(value)
        if t in _PLAIN:
            return value
        if issubclass(t, types.ModuleType) and t is not _Facade:
            if value.__name__ not in self.modules:
                raise ClosedBook(f"closed book: {owner}.{name} is a module the sandbox does not admit")
            return self.facade(value)
        if self._owned(value) or (module and issubclass(t, _CONTAINERS) and self._holds_owned(value)):
            raise ClosedBook(f"closed book: {owner}.{name} holds the library's or the sandbox's own objects")
        return value

    def _owned(self, obj) -> bool:
        """An object of the library or the sandbox (not the package's public ones, which are the API): a
        function by where its code is, a C function by the module or object it belongs to, anything else
        by its class's module (the real one: a run's class naming the library counts as the library's)."""
        t = type(obj)
        if t in _PLAIN or t is _Facade:
            return False
        if t is types.FunctionType or t is types.MethodType:
            f = obj.__func__ if t is types.MethodType else obj
            if type(f) is not types.FunctionType:
                return self._owned(f)
            where = f.__code__.co_filename
            return where.startswith(self._owned_dirs) and where != self._stand_in
        if t is types.BuiltinFunctionType:
            owner = obj.__self__
            if owner is not None and not issubclass(type(owner), types.ModuleType):
                return self._owned(owner)
            where = owner.__name__ if owner is not None else obj.__module__
            return isinstance(where, str) and where.split(".")[0] in self._owned_roots
        if issubclass(t, types.ModuleType):
            return True
        cls = obj if issubclass(t, type) else t
        hit = self._owned_types.get(id(cls))
        if hit is None or hit[0] is not cls:
            mod = type.__dict__["__module__"].__get__(cls)
            hit = self._owned_types[id(cls)] = (cls, isinstance(mod, str) and mod.split(".")[0] in self._owned_roots)
        return hit[1]

    def _holds_owned(self, value, budget: int = 100_000) -> bool:
        """Whether a container holds (at any depth) an object of the library or the sandbox, or a module."""
        stack, seen = [value], set()
        while stack:
            v = stack.pop()
            if id(v) in seen:
                continue
            seen.add(id(v))
            budget -= 1
            if budget < 0:
                return True  # too large to check: not handed out
            t = type(v)
            if t in _PLAIN:
                continue
            if issubclass(t, types.ModuleType) or self._owned(v):
                return True
            if issubclass(t, (dict, types.MappingProxyType)):
                stack.extend(v.keys())
                stack.extend(v.values())
            elif issubclass(t, _CONTAINERS):
                stack.extend(v)
        return False

    def facade(self, module) -> _Facade:
        f = self._facades.get(module.__name__)
        if f is None:
            f = self._facades[module.__name__] = _Facade(module.__name__)
            _REAL[id(f)] = (module, self)
        return f

    def _package_object(self, obj) -> bool:
        t = type(obj)
        if issubclass(t, types.ModuleType):
            name = _module_name(obj)
            return self.package is not None and (name == self.package or name.startswith(self.package + "."))
        mod = self._tdict(obj if issubclass(t, type) else t).get("__module__")
        return isinstance(mod, str) and mod.split(".")[0] == self.package

    def _lookup(self, obj, name, *default):
        """The raw lookup, counting the names the package turns out not to have: past `GUESSES`, no lookup on
        the package's objects answers (a red team spelled 7,000 guesses as string constants in one run)."""
        if not self._package_object(obj):
            return getattr(obj, name, *default)
        if self.misses > GUESSES:  # not an AttributeError: `from pkg import sub` would then fall back to
            # sys.modules and hand the run the real submodule
            raise PermissionError("closed book: too many names the package does not have were looked up (guessing)")
        try:
            return getattr(obj, name)
        except AttributeError:
            self.misses += 1
            if default:
                return default[0]
            raise

    def literal_getattr(self, obj, name):
        """``obj.name`` as the code spells it."""
        self.check(obj, name)
        value = self._lookup(obj, name)
        return _checked_format(value) or self._admit(value, type(obj).__name__, name)

    def _made_by_run(self, obj) -> bool:
        return id(obj if issubclass(type(obj), type) else type(obj)) in self.user_types

    def getattr(self, obj, name, *default, lib=()):
        """``getattr(obj, name)`` with a name computed at run time, or asked by library code for the run
        (``lib``: the constants of the library function asking, the names it may ask by itself). On what
        the run did not make, the name must be one the code spells somewhere or the library's own: a run
        cannot look names up by guessing them (a red team brute-forced 3000 pronounceable strings in 30 ms),
        whatever object forwards the lookup (a ``types.GenericAlias`` forwards to its origin)."""
        try:
            self.check(obj, name, lib)
            if (name[:1] != "_" and name not in (self.spelled or ()) and not self._made_by_run(obj)
                    and name not in (lib or ())):  # (_names: `check`'s rule)
                raise ClosedBook(f"closed book: the code never spells .{name}, so it cannot look it up")
            if (issubclass(type(obj), types.ModuleType) and _module_name(obj) not in self.modules
                    and name not in (lib or ())):
                # a module the run may not import, held by library code (contextlib.redirect_stdout reads
                # getattr(sys, self._stream), a name the run can set): only the library's own names
                raise ClosedBook(f"closed book: {obj.__name__}.{name} is not reachable in the sandbox")
        except ClosedBook:
            if default:  # as for an attribute that is not there
                return default[0]
            raise
        value = self._lookup(obj, name, *default)
        return _checked_format(value) or self._admit(value, type(obj).__name__, name)

    def hasattr(self, obj, name, lib=()):
        try:
            self.getattr(obj, name, lib=lib)
        except AttributeError:
            return False
        return True

    def setattr(self, obj, name, value, lib: bool = False):
        self._check_write(obj, name, lib)
        setattr(obj, name, value)

    def delattr(self, obj, name, lib: bool = False):
        self._check_write(obj, name, lib)
        delattr(obj, name)

    def _check_write(self, obj, name, lib: bool = False) -> None:
        if lib and not issubclass(type(obj), types.ModuleType) and not self._foreign(obj):
            return  # library code building an object for the run (typing.NamedTuple copies the class body)
        self.check(obj, name)
        if issubclass(type(obj), types.ModuleType) or (issubclass(type(obj), type) and id(obj) not in self.user_types):
            raise ClosedBook(f"closed book: the sandbox does not let a run change .{name} of {obj!r}")

    def open(self, file, mode="r", buffering=-1, encoding=None, errors=None, newline=None, closefd=True,
             opener=None):
        """``open`` for the run's own files: a path in its working directory, and no ``opener`` (which could
        hand back any descriptor, the result pipe's included, whatever the path says)."""
        if opener is not None or not isinstance(file, (str, bytes, os.PathLike)) or not (
                os.path.realpath(os.fsdecode(file)) + "/").startswith(self.workdir):
            raise PermissionError(f"closed book: a run may open files in its working directory only, by path, "
                                  f"not {file!r}")
        return builtins.open(file, mode, buffering, encoding, errors, newline, closefd)

    # -- the audit hook (library code acting for the run)

    def install(self, workdir: str) -> None:
        # Library code that finds a module by name (enum.global_enum wrote into sys.modules[cls.__module__])
        # finds none of the sandbox's: the worker holds them by reference.
        for name in ("guard", "protocol", "perturb"):
            sys.modules.pop(name, None)
        sys.modules["__main__"] = types.ModuleType("__main__")
        self.workdir = os.path.realpath(workdir).rstrip("/") + "/"
        sys.addaudithook(self._audit)
        self.armed = True

    def _audit(self, event: str, args: tuple) -> None:
        if not self.armed:
            return
        if event == "open" or event in ("os.listdir", "os.scandir"):
            path = args[0] if args else None
            if isinstance(path, (str, bytes)):
                p = os.path.realpath(os.fsdecode(path)) + "/"
                if p.startswith(self.deny_dirs):
                    raise PermissionError(f"closed book: {os.fsdecode(path)} is not readable in the sandbox")
            if event == "open" and self._for_run() and not (
                    isinstance(path, (str, bytes)) and p.startswith(self.workdir)):
                # what builtin open allows, whichever function opens it for the run (io.FileIO read any
                # file of the jail, and the result pipe by its descriptor)
                raise PermissionError(f"closed book: a run may open files in its working directory only, "
                                      f"not {path!r}")
        elif event == "exec":
            code = args[0] if args else None
            if code is self._code:
                return  # the run's own module
            if (isinstance(code, types.CodeType) and code.co_filename.startswith("/")
                    and not code.co_filename.startswith(self.workdir)
                    and sys._getframe(1).f_code.co_filename == "<frozen importlib._bootstrap>"):
                return  # a module file being imported, by the import system (not a `compile(s, "/x.py")`)
            caller = sys._getframe(1).f_code  # the two that build code from validated identifiers only
            where = _EXEC_OK.get(caller.co_name)
            if where and caller.co_filename.startswith(self._stdlib) and caller.co_filename.endswith(where):
                return
            raise PermissionError("closed book: evaluating code is not allowed in the sandbox")
        elif event in _AUDIT_DENIED or event.startswith(("ctypes.", "os.exec", "os.spawn")):
            raise PermissionError(f"closed book: {event} is not allowed in the sandbox")


_REAL: dict[int, tuple[types.ModuleType, Guard]] = {}  # facade id -> (its module, the guard): out of reach


def _module_name(module) -> str:
    """A module's name; a facade's is its module's (whatever the run did to the facade)."""
    real = _REAL.get(id(module)) if type(module) is _Facade else None
    return real[0].__name__ if real else module.__name__


class _Facade(types.ModuleType):
    """What a run holds for a module: its attributes are read through the class (the module's own, a
    submodule or an admitted module as its facade), while the facade's ``__dict__`` holds nothing of the
    module's. Library code that reads or writes a module's ``__dict__`` in plain attribute syntax
    (``copy``'s ``y.__dict__.update(state)``, ``abc.update_abstractmethods``'s ``cls.__dict__.items()``: a
    red team listed the package's namespace and wrote into ``abc``'s globals so) sees and changes only this."""

    def __init__(self, name):  # the run can call it (zwc.__init__('operator') renamed its facade): once only
        if id(self) in _REAL:
            raise TypeError("closed book: a module is named once, by the sandbox")
        super().__init__(name)

    @property
    def __name__(self):  # read natively by `from m import x`'s fallback, sys.modules[m.__name__ + ".x"]:
        real = _REAL.get(id(self))  # the module's, whatever ModuleType.__init__ wrote into the facade
        return real[0].__name__ if real else self.__dict__.get("__name__")

    def __getattr__(self, name):
        real = _REAL.get(id(self))
        if name[:1] == "_" or real is None:  # whoever asks, in C or in library code: no private name, no
            raise AttributeError(name)  # __builtins__; and a facade the run made itself is of nothing
        module, guard = real
        return guard._admit(guard._lookup(module, name), module.__name__, name, module=True)


class _Own:
    """``_SE_own(obj)["_name"]``: reads, writes and deletes of ``_names`` under the guard's rule."""

    __slots__ = ("_g",)

    def __init__(self, guard: Guard):
        self._g = guard

    def __call__(self, obj):
        return _OwnRef(self._g, obj)


class _OwnRef:
    __slots__ = ("_g", "_o")

    def __init__(self, guard: Guard, obj):
        self._g, self._o = guard, obj

    def __getitem__(self, name):
        return self._g.getattr(self._o, name)

    def __setitem__(self, name, value):
        self._g.setattr(self._o, name, value)

    def __delitem__(self, name):
        self._g.delattr(self._o, name)


def _check_format(fmt, depth: int = 0) -> None:
    """Refuse a format string whose fields read attributes (``{0.x}``, also nested in a spec):
    ``str.format`` reads them with the interpreter's getattr, which the rule cannot see."""
    import string

    if depth > 2 or type(fmt) is not str:
        return
    for _, field, spec, _ in string.Formatter().parse(fmt):
        if field and "." in field:
            raise ClosedBook("closed book: a format field may not read an attribute in the sandbox")
        if spec:
            _check_format(spec, depth + 1)


_FORMAT, _FORMAT_MAP = str.format, str.format_map


def _checked_format(value):
    """``str.format``/``format_map`` however the object it was read from led there (a str, a str class, or
    ``super(S, s)``, which a red team used to read ``{0.__globals__[LIB]}`` past a check keyed on the
    object's type): bound, its string is checked now (a string cannot change); unbound, it checks its first
    argument. None for any other value."""
    if value is _FORMAT or value is _FORMAT_MAP:  # on every attribute read: kept cheap
        def format_(fmt, *args, **kw):
            _check_format(fmt)
            return value(fmt, *args, **kw)

        return format_
    if (type(value) is types.BuiltinMethodType and value.__name__ in ("format", "format_map")
            and isinstance(value.__self__, str)):
        _check_format(str.__getitem__(value.__self__, slice(None)))  # its own characters, whatever __str__ says
        return value
    return None
