"""The leak lint: proof that nothing a user sees names the original library.

What counts as a leak: the library's name (whole word, any case, and the ``np.`` alias), and an
original identifier in a place a user sees it. A *distinctive* identifier (not an English word and
not a Python builtin: ``linspace``, ``ndarray``, ``tolist``, ``float64``) is a leak anywhere. An
identifier that is also an English word or a builtin (``array``, ``mean``, ``sum``, ``copy``) is a leak
only in code position in docs, reprs and messages (``.mean(``, ``mean(``): in prose it is a word. Python
source files of the package are read as code: their own Python (``list.append``) is not a finding.
Names that legitimately keep their original spelling (official-mapping mode) are not findings.

Scanned: every file of the bench; ``dir()`` of every novel module and class; the ``help()`` text of every
API; reprs of sample values; exception types and messages from a probe corpus. The live checks run
in a subprocess, never in the linting process.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from selfevolve_lab import profiles
from selfevolve_lab.obfuscate.names import english_words, reserved

_TOKEN = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*")
TEXT_SUFFIXES = {".py", ".json", ".jsonl", ".md", ".txt", ".rst", ".csv", ".yaml", ".toml"}


@dataclass(frozen=True)
class LeakFinding:
    where: str
    text: str
    detail: str

    def describe(self) -> str:
        return f"{self.where}: {self.detail} in {self.text[:80]!r}"


def python_attribute_names() -> frozenset[str]:
    """Attributes of Python's own types: a library class that subclasses them shares these names."""
    out: set[str] = set()
    for t in (str, bytes, int, float, complex, list, tuple, dict, set, object, type, BaseException):
        out.update(dir(t))
    return frozenset(out)


class Detector:
    def __init__(self, library: str, originals: set[str], kept: set[str]):
        self.library = library
        words = english_words() | reserved()
        shorts = {o.rsplit(".", 1)[-1] for o in originals} - kept - python_attribute_names()
        shorts = {s for s in shorts if len(s) > 2}

        def english(w: str) -> bool:  # the word list has no plurals: "radians", "degrees"
            w = w.lower()
            return w in words or (w.endswith("s") and w[:-1] in words) or (w.endswith("es") and w[:-2] in words)

        self.distinct = {s for s in shorts if not english(s) and not s.startswith("__")}
        self.ambiguous = {s for s in shorts if s not in self.distinct and not s.startswith("__")}
        self.alias = profiles.get(library).alias

    def scan(self, text: str, *, python_source: bool = False) -> list[str]:
        hits = []
        for m in _TOKEN.finditer(text):
            w = m.group(0)
            s, e = m.start(), m.end()
            before = text[s - 1] if s else ""
            after = text[e] if e < len(text) else ""
            if w.lower() == self.library:
                hits.append(f"library name {w!r}")
            elif self.alias and w == self.alias and after == "." and before != ".":
                hits.append(f"library alias '{w}.'")
            elif w in self.distinct:
                hits.append(f"original identifier {w!r}")
            elif w in self.ambiguous and not python_source and before == "." and not _after_stdlib_module(text, s):
                hits.append(f"original identifier {w!r} in code position")
        return hits


_STDLIB = frozenset(sys.stdlib_module_names) | {"self", "cls"}


def _after_stdlib_module(text: str, dot: int) -> bool:
    """``math.ceil`` or ``functools.reduce``: a Python name, not the library's."""
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\.$", text[max(0, dot - 40):dot])
    return bool(m and m.group(1) in _STDLIB)


def _finds(det: Detector, where: str, text: str, python_source: bool = False) -> list[LeakFinding]:
    return [LeakFinding(where, _context(text, h), h) for h in dict.fromkeys(det.scan(text, python_source=python_source))]


def _context(text: str, hit: str) -> str:
    word = (hit.split("'")[1] if "'" in hit else hit).rstrip(".")
    m = re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", text)
    i = m.start() if m else 0
    return text[max(0, i - 40): i + 40]


_PROBE = r'''
import io, json, pydoc, sys, contextlib
sys.path.insert(0, sys.argv[1])
pkg_name = sys.argv[2]
pkg = __import__(pkg_name)
out = []
root = __import__("os").path.dirname(sys.argv[1].rstrip("/"))
def add(where, text):
    # help() shows the file path, which the user chose: not part of the package
    out.append([where, str(text).replace(root, "<bench>")])
mods = [pkg] + [getattr(pkg, n) for n in dir(pkg) if not n.startswith("_")
                and type(getattr(pkg, n)).__name__ == "module"]
for m in mods:
    add(f"dir({m.__name__})", " ".join(dir(m)))
    for n in dir(m):
        if n.startswith("_"):  # private parts are the wrapper's internals, off limits to solutions
            continue
        obj = getattr(m, n)
        if isinstance(obj, type):
            add(f"dir({m.__name__}.{n})", " ".join(a for a in dir(obj) if not a.startswith("__")))
        try:
            add(f"help({m.__name__}.{n})", pydoc.render_doc(obj, renderer=pydoc.plaintext))
        except Exception as e:
            add(f"help({m.__name__}.{n})", "help failed: " + type(e).__name__)
probes = json.loads(sys.argv[3])
ns = {pkg_name: pkg}
for src in probes["values"]:
    try:
        v = eval(src, ns)
        add("repr: " + src, repr(v)); add("str: " + src, str(v)); add("type: " + src, type(v).__name__ + " " + type(v).__module__)
    except Exception as e:
        add("repr: " + src, "probe failed: " + type(e).__name__ + ": " + str(e))
for src in probes["errors"]:
    try:
        eval(src, ns)
        add("error: " + src, "(no error)")
    except Exception as e:
        add("error: " + src, type(e).__name__ + " " + type(e).__module__ + ": " + str(e))
json.dump(out, sys.stdout)
'''


def _probes(mapping: dict[str, str], library: str, package: str) -> dict[str, list[str]]:
    """Probe expressions written with original names, translated to the package."""
    from selfevolve_lab.obfuscate.translate import translate_code

    profile = profiles.get(library)
    tr = lambda s: translate_code(s, mapping, library=library, package=package)  # noqa: E731
    return {"values": [tr(v) for v in profile.probe_values], "errors": [tr(e) for e in profile.probe_errors]}


def _decoded_docs(path: Path) -> str:
    import ast
    import base64
    import zlib

    consts = {n.targets[0].id: n.value for n in ast.parse(path.read_text()).body if isinstance(n, ast.Assign)}
    blob = consts["DOCS"].func.value.value  # DOCS = """...""".replace("\n", "")
    docs = json.loads(zlib.decompress(base64.b85decode(blob.replace("\n", ""))))
    return _strings(docs)


def _strings(obj: object) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        if "$f" in obj and len(obj) == 1:  # a tagged non-finite float ("-inf"): data, not a name
            return ""
        return "\n".join(f"{k}\n{_strings(v)}" for k, v in obj.items())
    if isinstance(obj, list):
        return "\n".join(_strings(v) for v in obj)
    return ""


def detector_for(library: str, mapping: dict[str, str], kept_params) -> Detector:
    """The detector for a bench: names that keep their spelling (official mode) and keyword names,
    which are real and stay, are not findings."""
    kept = {o.rsplit(".", 1)[-1] for o, n in mapping.items() if o.rsplit(".", 1)[-1] == n.rsplit(".", 1)[-1]}
    return Detector(library, set(mapping), kept | set(kept_params))


def lint_bench(bench_dir: str | Path, *, official_mode: bool | None = None) -> list[LeakFinding]:
    bench_dir = Path(bench_dir)
    meta = json.loads((bench_dir / "mapping.json").read_text())
    library, package, mapping = meta["library"], meta["package"], meta["names"]
    if official_mode is None:
        official_mode = bool(json.loads((bench_dir / "manifest.json").read_text()).get("options", {}).get(
            "official_mapping"))
    det = detector_for(library, mapping, meta.get("kept_params", []))
    findings: list[LeakFinding] = []
    for path in sorted(bench_dir.rglob("*")):
        rel = path.relative_to(bench_dir)
        if not path.is_file() or path.suffix not in TEXT_SUFFIXES or "__pycache__" in rel.parts:
            continue
        if rel.name == "mapping.json":
            continue  # the key to the puzzle, written for the experimenter, never shown to a model
        text = path.read_text(errors="replace")
        if rel.name == "_data.py":  # encoded tables: scan the docs they carry, as a user would see them
            text = _decoded_docs(path)
        elif path.suffix in (".json", ".jsonl"):  # scan the decoded strings, not escaped JSON text
            records = [json.loads(ln) for ln in text.splitlines() if ln.strip()] if path.suffix == ".jsonl" \
                else [json.loads(text)]
            if rel.name == "manifest.json":  # metadata for the experimenter
                records = [{k: v for k, v in r.items() if k not in ("library", "library_version")} for r in records]
            if rel.name == "docs.jsonl":  # the "original" field is the experimenter's key
                records = [{k: v for k, v in r.items() if k != "original"} for r in records]
            text = "\n".join(_strings(r) for r in records)
        findings += _finds(det, str(rel), text, python_source=path.suffix == ".py")
    proc = subprocess.run([sys.executable, "-c", _PROBE, str(bench_dir / "package"), package,
                           json.dumps(_probes(mapping, library, package))], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        return findings + [LeakFinding("import", proc.stderr[-300:], "the package failed to import")]
    for where, text in json.loads(proc.stdout):
        findings += _finds(det, where, text)
    return findings
