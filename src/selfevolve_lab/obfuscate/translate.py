"""Translating code between the original library and the novel package (tokenize-based, never regex).

``import numpy as np`` becomes ``import zwc`` and every ``np.X``/``numpy.X`` chain is renamed through the
mapping, so the library's conventional alias never survives. ``from numpy import abs as a`` keeps the
alias and renames the imported name; bare uses of a from-imported name are renamed too. An attribute
that is a public attribute of one of the library's classes (``.tolist()``, ``.shape``) is renamed on any
receiver: translated code is re-executed, so a wrong guess shows up as an error, never as a silent pass.
``reverse=True`` maps novel names back to the original ones.
"""

from __future__ import annotations

import io
import sys
import tokenize
from functools import lru_cache

from selfevolve_lab import profiles

_STDLIB = frozenset(sys.stdlib_module_names)


def default_modules(mapping: dict[str, str], library: str) -> frozenset[str]:
    """The original module names in ``mapping`` when the bench does not list them."""
    subs = profiles.get(library).submodules
    return frozenset({library} | {f"{library}.{s}" for s in subs if f"{library}.{s}" in mapping})


@lru_cache(maxsize=8)
def _tables(items: tuple[tuple[str, str], ...], library: str, package: str, reverse: bool,
            modules: frozenset[str]):
    mapping = {n: o for o, n in items} if reverse else dict(items)
    src, dst = (package, library) if reverse else (library, package)
    attrs: dict[str, str] = {}  # attribute names of classes, renamed on any receiver
    for o, n in items:
        owner = o.rsplit(".", 1)[0]
        if owner in modules or owner not in dict(items):
            continue
        a_o, a_n = o.rsplit(".", 1)[1], n.rsplit(".", 1)[1]
        if reverse:
            a_o, a_n = a_n, a_o
        attrs.setdefault(a_o, a_n)
    return mapping, src, dst, attrs


def translate_name(dotted: str, mapping: dict[str, str], reverse: bool = False) -> str:
    table = {n: o for o, n in mapping.items()} if reverse else mapping
    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        head = ".".join(parts[:k])
        if head in table:
            return ".".join([table[head], *parts[k:]])
    return dotted


def translate_code(code: str, mapping: dict[str, str], *, library: str, package: str, reverse: bool = False,
                   aliases: tuple[str, ...] | None = None, modules: frozenset[str] | None = None) -> str:
    """Rename the library's names in ``code`` (see the module docstring). Code that does not tokenize
    is returned unchanged. ``aliases``: the library's import aliases (default: its profile's);
    ``modules``: the original module names (default: guessed from the mapping)."""
    aliases = profiles.get(library).aliases if aliases is None else aliases
    mods = frozenset(modules) if modules is not None else default_modules(mapping, library)
    full, src, dst, attrs = _tables(tuple(sorted(mapping.items())), library, package, reverse, mods)
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code
    module_names = {src} | ({a for a in aliases} if not reverse else set())
    bare: dict[str, str] = {}  # names from-imported from the library -> novel name
    edits: list[tuple[tuple[int, int], tuple[int, int], str]] = []
    i, n = 0, len(toks)

    def name_at(j: int) -> str | None:
        return toks[j].string if 0 <= j < n and toks[j].type == tokenize.NAME else None

    def op_at(j: int) -> str | None:
        return toks[j].string if 0 <= j < n and toks[j].type == tokenize.OP else None

    while i < n:
        t = toks[i]
        if t.type == tokenize.NAME and t.string == "import" and name_at(i - 1) not in ("from",) and not (
                i >= 2 and toks[i - 2].string == "from"):
            # import X[.Y] [as Z], ...
            j = i + 1
            while j < n and toks[j].type != tokenize.NEWLINE and toks[j].string != ";":
                if name_at(j) == src:
                    k = j
                    chain = [src]
                    while op_at(k + 1) == "." and name_at(k + 2):
                        chain.append(toks[k + 2].string)
                        k += 2
                    new = translate_name(".".join(chain), full)
                    if name_at(k + 1) == "as" and name_at(k + 2):
                        alias = toks[k + 2].string
                        if len(chain) == 1 and alias in module_names | set(aliases):
                            edits.append((toks[j].start, toks[k + 2].end, dst))  # drop the conventional alias
                            module_names.add(alias)
                        else:
                            edits.append((toks[j].start, toks[k].end, new))
                        j = k + 3
                        continue
                    edits.append((toks[j].start, toks[k].end, new))
                    j = k + 1
                    continue
                j += 1
            i = j
            continue
        if t.type == tokenize.NAME and t.string == "from" and name_at(i + 1) == src:
            k = i + 1
            chain = [src]
            while op_at(k + 1) == "." and name_at(k + 2):
                chain.append(toks[k + 2].string)
                k += 2
            modname = ".".join(chain)
            edits.append((toks[i + 1].start, toks[k].end, translate_name(modname, full)))
            j = k + 2  # past "import"
            while j < n and toks[j].type != tokenize.NEWLINE:
                nm = name_at(j)
                if nm and nm not in ("as",) and name_at(j - 1) != "as":
                    novel = full.get(f"{modname}.{nm}")
                    if novel:
                        short = novel.rsplit(".", 1)[1]
                        edits.append((toks[j].start, toks[j].end, short))
                        if name_at(j + 1) != "as":
                            bare[nm] = short
                j += 1
            i = j
            continue
        if t.type == tokenize.NAME and t.string in module_names and op_at(i - 1) != "." and op_at(i + 1) == ".":
            k = i
            chain = [src]
            while op_at(k + 1) == "." and name_at(k + 2):
                chain.append(toks[k + 2].string)
                k += 2
            # the longest prefix that the mapping knows; the rest are attributes
            best = 1
            for m in range(len(chain), 0, -1):
                if ".".join(chain[:m]) in full or m == 1:
                    best = m
                    break
            head = translate_name(".".join(chain[:best]), full) if best > 1 else dst
            rest = [attrs.get(a, a) for a in chain[best:]]
            edits.append((t.start, toks[i + 2 * (best - 1)].end if best > 1 else t.end, head))
            for m, a in enumerate(rest):
                tok = toks[i + 2 * (best + m)]
                if a != tok.string:
                    edits.append((tok.start, tok.end, a))
            i = k + 1
            continue
        if t.type == tokenize.NAME and op_at(i - 1) == "." and t.string in attrs and not (
                name_at(i - 2) in _STDLIB and op_at(i - 3) != "."):  # sys.byteorder is Python's
            if attrs[t.string] != t.string:
                edits.append((t.start, t.end, attrs[t.string]))
        elif t.type == tokenize.NAME and t.string in bare and op_at(i - 1) != "." and op_at(i + 1) != "=":
            edits.append((t.start, t.end, bare[t.string]))
        i += 1
    return _apply(code, edits)


def _apply(code: str, edits: list[tuple[tuple[int, int], tuple[int, int], str]]) -> str:
    lines = code.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def pos(rc: tuple[int, int]) -> int:
        r, c = rc
        return offsets[r - 1] + c if r - 1 < len(offsets) else len(code)

    out = code
    for start, end, text in sorted(edits, key=lambda e: pos(e[0]), reverse=True):
        out = out[: pos(start)] + text + out[pos(end):]
    return out
