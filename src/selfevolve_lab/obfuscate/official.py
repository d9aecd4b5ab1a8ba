"""The official SE-Bench mapping layout, so the official data can be scored with our judge.

``{"main": {"abs": "falekef", ...}, "linalg": {"inv": "quvohe", ...}, "main_reverse": {"falekef": "abs", ...},
"linalg_reverse": {...}}``: numpy.X -> zwc.<main[X]>, numpy.linalg -> zwc.rfx, numpy.linalg.X ->
zwc.rfx.<linalg[X]>, the array type -> ZWCArray. A ``<section>_reverse`` is the inverse of its section and
must say exactly the same. Array methods and names the file does not cover keep their original names.

The official names come from NumPy 1.x. A name NumPy 2 removed in favour of a drop-in successor
(its profile's ``successors``) gives its novel name to the successor; any other name the library lacks stops the build
unless ``allow_missing``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from selfevolve_lab import profiles
from selfevolve_lab.errors import UserError
from selfevolve_lab.obfuscate.surface import Surface

SUBMODULES = {"linalg": "rfx"}
ARRAY_TYPE = "ZWCArray"

@dataclass
class OfficialMapping:
    """A parsed mapping file: what ``emit.choose_names`` needs, and what the build reports."""

    names: dict[str, str]  # original dotted name (in the installed library) -> novel short name
    modules: dict[str, str] = field(default_factory=lambda: dict(SUBMODULES))
    array_type: str = ARRAY_TYPE
    renamed: dict[str, str] = field(default_factory=dict)  # old dotted name -> its successor's dotted name
    skipped: dict[str, str] = field(default_factory=dict)  # dotted name -> why it is not in the bench

    def naming(self) -> dict:
        """The layout ``emit.choose_names`` takes."""
        return {"names": self.names, "modules": self.modules, "array_type": self.array_type}


def recorded(bench_root: str | Path) -> dict[str, dict[str, str]]:
    """What a build from an official mapping renamed and skipped (empty for other benches)."""
    meta = json.loads((Path(bench_root) / "mapping.json").read_text())
    return {"renamed": {}, "skipped": {}, **meta.get("official", {})}


def successor(dotted: str) -> str | None:
    """``numpy.trapz`` -> ``numpy.trapezoid``: the drop-in successor of a removed name, if it has one."""
    lib, _, name = dotted.partition(".")
    new = profiles.get(lib).successors.get(name)
    return f"{lib}.{new}" if new else None


def _bad(path: Path, why: str) -> UserError:
    return UserError(f"{path}: malformed mapping: {why}")


def _sections(path: Path) -> dict[str, dict[str, str]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such mapping file") from None
    except (OSError, ValueError) as e:
        raise _bad(path, str(e).splitlines()[0]) from None
    if not isinstance(data, dict) or not isinstance(data.get("main"), dict):
        raise _bad(path, 'expected {"main": {...}, "linalg": {...}, "main_reverse": {...}, "linalg_reverse": {...}}')
    forward = {"main", *SUBMODULES}
    for section, entries in data.items():
        if section not in forward and section.removesuffix("_reverse") not in forward:
            raise _bad(path, f"unknown section {section!r}")
        if not isinstance(entries, dict):
            raise _bad(path, f"section {section!r} must be an object")
        for orig, novel in entries.items():
            if not (isinstance(orig, str) and isinstance(novel, str) and orig.isidentifier() and novel.isidentifier()):
                raise _bad(path, f"{section}.{orig} -> {novel!r} is not a pair of identifiers")
    for section in forward:
        reverse = data.get(f"{section}_reverse")
        if reverse is None:
            continue
        entries = data.get(section, {})
        wrong = [f"{novel} -> {reverse.get(novel)!r} (but {section} has {orig} -> {novel})"
                 for orig, novel in entries.items() if reverse.get(novel) != orig]
        inverse = {novel: orig for orig, novel in entries.items()}
        wrong += [f"{novel} -> {orig} (but {section} has no {orig} -> {novel})"
                  for novel, orig in reverse.items() if inverse.get(novel) != orig]
        if wrong:
            raise _bad(path, f"{section}_reverse does not invert {section}: {len(wrong)} mismatch(es): "
                       + "; ".join(sorted(wrong)[:4]))
    return {s: e for s, e in data.items() if s in forward}


def load(path: str | Path, surface: Surface, *, allow_missing: bool = False) -> OfficialMapping:
    """Parse and check ``path`` against the introspected library."""
    path = Path(path)
    known = {it.original for it in surface.items}
    lib = surface.library
    out = OfficialMapping(names={})
    missing = []
    for section, entries in _sections(path).items():
        prefix = lib if section == "main" else f"{lib}.{section}"
        for orig, novel in entries.items():
            dotted = f"{prefix}.{orig}"
            if dotted in known:
                out.names[dotted] = novel
                continue
            new = successor(dotted)
            if new is None or new not in known:
                missing.append(dotted)
            elif entries.get(new.rsplit(".", 1)[1]) not in (None, novel):
                out.skipped[dotted] = f"its successor {new} has its own name in the mapping"
            else:
                out.renamed[dotted] = new
                out.names[new] = novel
    if missing and not allow_missing:
        raise UserError(f"{path}: the mapping names {len(missing)} API(s) the library does not have: "
                        + ", ".join(sorted(missing)[:8]) + " (--allow-missing skips them)")
    out.skipped.update({m: f"not in {lib} {surface.version}" for m in missing})
    return out
