"""The official SE-Bench mapping layout, so the official data can be scored with our judge.

``{"main": {"abs": "falekef", ...}, "linalg": {"inv": "quvohe", ...}}``: numpy.X -> zwc.<main[X]>,
numpy.linalg -> zwc.rfx, numpy.linalg.X -> zwc.rfx.<linalg[X]>, the array type -> ZWCArray. Array
methods and names the file does not cover keep their original names under the package.
"""

from __future__ import annotations

import json
from pathlib import Path

from selfevolve.errors import UserError
from selfevolve.obfuscate.surface import Surface

SUBMODULES = {"linalg": "rfx"}
ARRAY_TYPE = "ZWCArray"


def load(path: str | Path, surface: Surface) -> dict:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such mapping file") from None
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: malformed mapping: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("main"), dict):
        raise UserError(f'{path}: malformed mapping: expected {{"main": {{...}}, "linalg": {{...}}}}')
    known = {it.original for it in surface.items}
    lib = surface.library
    names: dict[str, str] = {}
    missing = []
    for section, entries in data.items():
        if section != "main" and section not in SUBMODULES:
            raise UserError(f"{path}: malformed mapping: unknown section {section!r}")
        if not isinstance(entries, dict):
            raise UserError(f"{path}: malformed mapping: section {section!r} must be an object")
        prefix = lib if section == "main" else f"{lib}.{section}"
        for orig, novel in entries.items():
            if not (isinstance(orig, str) and isinstance(novel, str) and novel.isidentifier()):
                raise UserError(f"{path}: malformed mapping: {section}.{orig} -> {novel!r} is not an identifier")
            dotted = f"{prefix}.{orig}"
            if dotted not in known:
                missing.append(dotted)
            names[dotted] = novel
    if missing:
        raise UserError(f"{path}: the mapping names {len(missing)} API(s) the library does not have: "
                        + ", ".join(sorted(missing)[:8]))
    return {"names": names, "modules": dict(SUBMODULES), "array_type": ARRAY_TYPE}
