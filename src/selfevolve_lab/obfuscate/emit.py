"""From a Surface to a mapping and an importable package.

The mapping (original dotted -> novel dotted) is drawn in sorted order from one seeded generator. An
attribute name of the library's classes (a method or property) gets one novel name for every class,
because translated code cannot know a receiver's type. The package is the runtime (`runtime.py`, as
``_core.py``), one small file per module, and ``_data.py`` with the tables, zlib-compressed and
base85-encoded so that no file spells an original identifier.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from selfevolve_lab.obfuscate.names import NameGenerator, english_words
from selfevolve_lab.obfuscate.surface import Surface, SurfaceItem
from selfevolve_lab.profiles import resolve

MODULE_TEMPLATE = '"""{doc}"""\n\nfrom ._core import install as _install\n\n_install(globals(), __name__)\ndel _install\n'
PACKAGE_TEMPLATE = ('"""{doc}"""\n\nfrom ._core import install_package as _install_package\n\n'
                    '_install_package(globals())\ndel _install_package\n')
BUILTIN_EXCEPTIONS = ("ArithmeticError", "AssertionError", "AttributeError", "BufferError", "EOFError",
                      "FloatingPointError", "ImportError", "IndexError", "KeyError", "LookupError", "MemoryError",
                      "NotImplementedError", "OSError", "OverflowError", "RecursionError", "RuntimeError",
                      "TypeError", "UnicodeError", "ValueError", "ZeroDivisionError", "FileNotFoundError",
                      "Exception")


@dataclass
class Naming:
    package: str
    mapping: dict[str, str] = field(default_factory=dict)  # original dotted -> novel dotted
    attr_names: dict[str, str] = field(default_factory=dict)  # class attribute name -> novel name
    builtin_exceptions: dict[str, str] = field(default_factory=dict)
    array_type: str = ""  # novel name of the library's array class, if any


def short(dotted: str) -> str:
    return dotted.rsplit(".", 1)[-1]


def choose_names(surface: Surface, seed: int, package: str, official: dict | None = None) -> Naming:
    """Draw novel names for every surface item; ``official`` is a parsed official-layout mapping."""
    lib = surface.library
    forbidden = {short(it.original) for it in surface.items} | {lib, package}
    for it in surface.items:
        forbidden.update(p for p in it.original.split("."))
    gen = NameGenerator(seed, forbidden)
    naming = Naming(package)
    mod_names = {lib: package}
    for m in surface.modules[1:]:
        sub = short(m)
        novel = (official or {}).get("modules", {}).get(sub) if official else None
        mod_names[m] = f"{package}.{novel or (sub if official else gen.module())}"
    naming.mapping.update(mod_names)
    owners = {it.original for it in surface.items if it.kind in ("class", "exception")}
    array_type = (official or {}).get("array_type")
    for it in sorted(surface.items, key=lambda i: i.original):
        if it.kind == "module":
            continue
        mod, name = it.original.rsplit(".", 1)
        if it.owner is not None:
            continue
        if official is not None:
            novel = official["names"].get(it.original, name)
            if array_type and it.original == surface.profile.array_class:
                novel = array_type
        elif it.kind in ("class", "exception"):
            novel = gen.cls()
        else:
            novel = gen.api()
        naming.mapping[it.original] = f"{mod_names[mod]}.{novel}"
    for it in sorted(surface.items, key=lambda i: i.original):
        if it.owner is None or it.owner not in owners:
            continue
        attr = short(it.original)
        if attr not in naming.attr_names:
            naming.attr_names[attr] = attr if official is not None else gen.api()
        naming.mapping[it.original] = f"{naming.mapping[it.owner]}.{naming.attr_names[attr]}"
    for exc in BUILTIN_EXCEPTIONS:
        naming.builtin_exceptions[exc] = gen.cls() + "Error"
    return naming


def words_table(naming: Naming, surface: Surface) -> dict[str, dict[str, str]]:
    """Short original token -> novel token, split into distinctive and ambiguous (English) words.

    Distinctive tokens are rewritten anywhere in reprs and messages; ambiguous ones only in code
    position (before "(", after ".", or quoted), so "cannot reshape array of size 6" keeps its words.
    """
    english = english_words()
    params = surface.parameter_names()  # keyword names (dtype=...) stay; only code-position uses are renamed
    distinct: dict[str, str] = {}
    ambiguous: dict[str, str] = {}
    pairs = sorted((short(o), short(n)) for o, n in naming.mapping.items())
    pairs += [(name, naming.package) for name in (surface.library, *surface.profile.display_names)]
    for orig, novel in pairs:
        if orig == novel:
            continue
        table = ambiguous if orig.lower() in english or len(orig) <= 2 or orig in params else distinct
        table.setdefault(orig, novel)
    for alias in surface.profile.aliases:
        ambiguous.setdefault(alias, naming.package)
    return {"distinct": distinct, "ambiguous": ambiguous}


def _class_spec(it: SurfaceItem, surface: Surface, naming: Naming) -> dict:
    from selfevolve_lab.obfuscate.surface import python_inherited

    lib = surface.library
    members = [m for m in surface.items if m.owner == it.original]
    attrs = []
    if not issubclass(it.obj, BaseException):  # Python's own methods of a builtin base keep their names
        for name in sorted(dir(it.obj)):
            if not name.startswith("_") and python_inherited(it.obj, name):
                how = "method" if callable(getattr(it.obj, name, None)) else "property"
                attrs.append([name, name, how])
    for m in members:
        how = m.kind if m.kind in ("method", "property") else "value"
        if m.kind == "method" and isinstance(m.obj, (classmethod, staticmethod)):
            how = "classmethod"
        attrs.append([short(naming.mapping[m.original]), short(m.original), how])
    return {"orig": it.original[len(lib) + 1:], "novel": short(naming.mapping[it.original]),
            "exception": it.kind == "exception", "attrs": sorted(attrs)}


def _class_depth(obj: type) -> int:
    return len(obj.__mro__)


def build_table(surface: Surface, naming: Naming) -> dict:
    lib = surface.library
    modules: dict[str, dict] = {}
    classes_by_module: dict[str, list[SurfaceItem]] = {}
    for it in surface.items:
        if it.kind == "module" or it.owner is not None:
            continue
        mod = it.original.rsplit(".", 1)[0]
        novel_mod = naming.mapping[mod]
        spec = modules.setdefault(novel_mod, {"classes": [], "members": []})
        novel = short(naming.mapping[it.original])
        rel = it.original[len(lib) + 1:]
        if it.kind in ("class", "exception"):
            classes_by_module.setdefault(novel_mod, []).append(it)
        else:
            spec["members"].append([novel, "function" if it.kind == "function" else "value", rel])
    for m in surface.modules:
        modules.setdefault(naming.mapping[m], {"classes": [], "members": []})
    for novel_mod, items in classes_by_module.items():
        items.sort(key=lambda i: (_class_depth(i.obj), i.original))  # bases before subclasses
        modules[novel_mod]["classes"] = [_class_spec(i, surface, naming) for i in items]
    for spec in modules.values():
        spec["members"].sort()
    scalar = resolve(surface.profile.scalar_class) if surface.profile.scalar_class else None
    type_strings = {short(naming.mapping[it.original]): short(it.original) for it in surface.items
                    if it.kind == "class" and it.owner is None and isinstance(scalar, type)
                    and isinstance(it.obj, type) and issubclass(it.obj, scalar)}
    words = words_table(naming, surface)
    return {
        "lib": lib, "pkg": naming.package, "modules": dict(sorted(modules.items())),
        "words": words["distinct"], "ambiguous": words["ambiguous"],
        "type_strings": dict(sorted(type_strings.items())),
        "builtin_exceptions": naming.builtin_exceptions,
        "print_options": list(surface.profile.print_options) if surface.profile.print_options else None,
    }


def _encode(obj: object) -> str:
    raw = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return base64.b85encode(zlib.compress(raw, 9)).decode("ascii")


def write_package(out: Path, table: dict, docs: dict[str, str], module_docs: dict[str, str]) -> None:
    """Write the package directory ``out`` (named after the package)."""
    pkg = table["pkg"]
    out.mkdir(parents=True)
    runtime = (Path(__file__).parent / "runtime.py").read_text()
    (out / "_core.py").write_text(runtime)
    blob, dblob = _encode(table), _encode(docs)
    wrap = lambda s: "\n".join(s[i:i + 100] for i in range(0, len(s), 100))  # noqa: E731
    (out / "_data.py").write_text(f'BLOB = """\n{wrap(blob)}\n""".replace("\\n", "")\n'
                                  f'DOCS = """\n{wrap(dblob)}\n""".replace("\\n", "")\n')
    for mod in table["modules"]:
        doc = _safe_doc(module_docs.get(mod, f"The {mod} module."))
        if mod == pkg:
            (out / "__init__.py").write_text(PACKAGE_TEMPLATE.format(doc=doc))
        else:
            (out / f"{short(mod)}.py").write_text(MODULE_TEMPLATE.format(doc=doc))


def _safe_doc(doc: str) -> str:
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    return re.sub(r'["\\]', "", first)[:200]


def load_table(package_dir: Path) -> dict:
    """The table a built package carries (the inverse of `write_package`'s encoding)."""
    import ast

    consts = {n.targets[0].id: n.value for n in ast.parse((package_dir / "_data.py").read_text()).body
              if isinstance(n, ast.Assign)}
    blob = consts["BLOB"].func.value.value  # BLOB = """...""".replace("\n", "")
    return json.loads(zlib.decompress(base64.b85decode(blob.replace("\n", ""))))
