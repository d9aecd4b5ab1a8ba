"""Introspecting a library's public API: the things that get novel names.

Generic over any importable library. Its profile (`selfevolve_lab.profiles`) names the submodules to walk and
the names to leave out; libraries without a profile get their top-level module only.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import re
import subprocess
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from selfevolve_lab import profiles
from selfevolve_lab.errors import UserError
from selfevolve_lab.profiles import LibraryProfile


@dataclass(frozen=True)
class SurfaceItem:
    original: str  # dotted from the library root, e.g. "numpy.linalg.inv", "numpy.ndarray.tolist"
    kind: str  # an ApiKind
    obj: Any = field(compare=False, repr=False)
    owner: str | None = None  # for methods/properties/attributes: the dotted class
    doc: str = field(default="", compare=False, repr=False)
    signature: str | None = None


@dataclass
class Surface:
    library: str
    version: str
    modules: list[str]  # dotted module names, root first
    items: list[SurfaceItem]
    profile: LibraryProfile

    def parameter_names(self) -> frozenset[str]:
        """Keyword names of every callable: they stay as they are (calls use them)."""
        out: set[str] = set()
        for it in self.items:
            if it.signature:
                for m in re.finditer(r"[(,]\s*\*{0,2}([A-Za-z_][A-Za-z0-9_]*)", it.signature):
                    out.add(m.group(1))
        return frozenset(out)


def _public_names(mod: types.ModuleType) -> list[str]:
    names = getattr(mod, "__all__", None)
    if names is None:
        names = [n for n in dir(mod) if not n.startswith("_")]
    return sorted({n for n in names if not n.startswith("_")})


def _signature(obj: Any) -> str | None:
    try:
        return str(inspect.signature(obj))
    except (TypeError, ValueError):
        return None


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__) if isinstance(getattr(obj, "__doc__", None), str) else ""


def python_inherited(cls: type, name: str) -> bool:
    """Whether ``cls.name`` comes from a Python builtin base (``str.split`` on a string scalar type):
    Python's names, not the library's, so they keep their names."""
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass.__module__ == "builtins"
    return False


def _class_members(cls: type, dotted: str, skip: frozenset[str], root: str) -> list[SurfaceItem]:
    out = []
    for name in sorted(dir(cls)):
        if name.startswith("_") or f"{dotted}.{name}"[len(root) + 1:] in skip or python_inherited(cls, name):
            continue
        try:
            static = inspect.getattr_static(cls, name)
            live = getattr(cls, name)
        except AttributeError:
            continue
        if isinstance(static, (classmethod, staticmethod)) or (
                inspect.isbuiltin(live) and getattr(live, "__self__", None) is cls):
            kind = "method"
        elif callable(live) and not isinstance(live, type) and not isinstance(static, property):
            kind = "method"
        elif isinstance(static, property) or inspect.isgetsetdescriptor(static) or inspect.ismemberdescriptor(static) \
                or hasattr(type(static), "__get__"):  # cached_property and other descriptors
            kind = "property"
        else:
            kind = "attribute"
        out.append(SurfaceItem(f"{dotted}.{name}", kind, static, owner=dotted, doc=_doc(live),
                               signature=_signature(live) if kind == "method" else None))
    return out


def introspect(library: str) -> Surface:
    """The public surface of ``library`` (raises UserError if it cannot be imported)."""
    try:
        root = importlib.import_module(library)
    except ImportError as e:
        raise UserError(f"unknown library {library!r}: cannot import it ({e})") from None
    except Exception as e:  # a library that fails on import is bad input too
        raise UserError(f"library {library!r} failed to import: {e}") from None
    profile = profiles.get(library)
    modules = [library] + [f"{library}.{s}" for s in profile.submodules]
    items: list[SurfaceItem] = []
    seen_classes: dict[int, str] = {}
    for modname in modules:
        mod = importlib.import_module(modname)
        if modname != library:
            items.append(SurfaceItem(modname, "module", mod, doc=_doc(mod)))
        # a class known by several names is exposed under its own __name__; the others are aliases
        names = _public_names(mod)
        names.sort(key=lambda n: (not (isinstance(getattr(mod, n, None), type)
                                       and getattr(mod, n).__name__ == n), n))
        for name in names:
            dotted = f"{modname}.{name}"
            if dotted[len(library) + 1:] in profile.skip:
                continue
            obj = getattr(mod, name, None)
            if obj is None and name != "newaxis":
                continue
            if isinstance(obj, types.ModuleType):
                continue
            if isinstance(obj, type):
                kind = "exception" if issubclass(obj, BaseException) else "class"
                if id(obj) in seen_classes:  # an alias of a class already exposed (e.g. float_ -> float64)
                    items.append(SurfaceItem(dotted, "attribute", obj, doc="", signature=None))
                    continue
                seen_classes[id(obj)] = dotted
                items.append(SurfaceItem(dotted, kind, obj, doc=_doc(obj), signature=_signature(obj)))
                if kind == "class":
                    items += _class_members(obj, dotted, profile.skip, library)
            elif callable(obj):
                items.append(SurfaceItem(dotted, "function", obj, doc=_doc(obj), signature=_signature(obj)))
            else:
                items.append(SurfaceItem(dotted, "constant", obj, doc="", signature=None))
    version = str(getattr(root, "__version__", "") or "stdlib")
    pristine = _pristine_docs(library, modules, [it.original for it in items if it.doc])
    items = [dataclasses.replace(it, doc=pristine.get(it.original, it.doc)) for it in items]
    return Surface(library, version, modules, items, profile)


# Other libraries edit docstrings they do not own: scikit-learn imports SciPy, which appends a section
# to numpy.sinc's docstring in place. A bench must not depend on what else the building process imported,
# so the docs are read again in a fresh interpreter that imports the library alone.
_READ_DOCS = """
import importlib, inspect, json, sys
path, modules, names = json.loads(sys.stdin.read())
sys.path[:] = path
for m in modules:
    importlib.import_module(m)
out = {}
for dotted in names:
    obj = sys.modules[modules[0]]
    for part in dotted.split(".")[1:]:
        obj = getattr(obj, part, None)
    doc = getattr(obj, "__doc__", None)
    if isinstance(doc, str):
        out[dotted] = inspect.cleandoc(doc)
sys.stdout.write(json.dumps(out))
"""


def _pristine_docs(library: str, modules: list[str], names: list[str]) -> dict[str, str]:
    try:
        proc = subprocess.run([sys.executable, "-c", _READ_DOCS], input=json.dumps([sys.path, modules, names]),
                              capture_output=True, text=True, timeout=300)
        return json.loads(proc.stdout) if proc.returncode == 0 else {}
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return {}  # the in-process docs stand
