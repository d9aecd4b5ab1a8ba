"""Rewriting the library's documentation into the novel package's, deterministically and by rule.

Prose: the library's name becomes the package's; a dotted reference (``numpy.linalg.inv``, ``np.abs``,
``ndarray.tolist``) is renamed through the mapping; a distinctive identifier (``linspace``, ``argmax``) is
renamed wherever it stands as a whole token; an identifier that is also an English word (``mean``,
``sort``, ``array``) is renamed only where it is code: in backticks, before ``(``, after ``.``, or as an
entry of a "See Also" section. Whole tokens only, so "absolute" never becomes "falekefolute".

Examples: every ``>>>`` example is translated (`translate.translate_code`) and re-executed in the built
package, and the output shown is the output it really produced. Each docstring runs in a fresh fork of a
runner that has only imported the package, with fixed entropy, so a random example shows the same output
in every build. An example is dropped, with the examples after it in the same docstring (they may
depend on it), if it raises where the original did not, needs plotting or another third-party library,
is marked ``+SKIP``, reads the clock, names an absolute path (it would write outside its runner's
directory), takes more than 5 s of CPU, prints something else in a second runner process (an address,
a path), or prints an original identifier. Nothing in that rule depends on the machine's load or on
what else is installed, so the same seed gives the same docs.
"""

from __future__ import annotations

import ast
import doctest
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from selfevolve_lab import profiles
from selfevolve_lab.obfuscate.leaks import detector_for
from selfevolve_lab.obfuscate.surface import Surface
from selfevolve_lab.obfuscate.translate import translate_code
from selfevolve_lab.schema import ApiEntry

_TOKEN = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SECTION = re.compile(r"^(See Also|Notes|Examples|Parameters|Returns|Raises|References|Warnings|Yields|"
                      r"Other Parameters|Attributes|Methods)\s*$")
_PLOT = re.compile(r"\b(plt|matplotlib|pyplot)\b")
# sources whose output depends on the clock or on memory layout: the two runner processes can agree
_NONDETERMINISTIC = re.compile(r"\b(timeit|perf_counter|monotonic|time\.time|datetime\.now|date(?:time)?\.today|id\()"
                               r"|['\"](?:today|now)['\"]")
# a string literal holding an absolute path (np.save('/tmp/123.npy', ...)): the example would write outside
# its runner's own directory, on the user's machine, and race with the other runner process
_ABSOLUTE_PATH = re.compile(r"""['"]/[A-Za-z]""")
_OBJECT_REPR = re.compile(r"<[^<>]*? (?:object )?at 0x[0-9a-fA-F]+>")
_ROLE = re.compile(r":(?:func|meth|class|obj|attr|data|mod|ref|py:\w+):")


class Rewriter:
    """Renames the library's identifiers in prose and code."""

    def __init__(self, mapping: dict[str, str], library: str, package: str, distinct: dict[str, str],
                 ambiguous: dict[str, str], params: frozenset[str] = frozenset()):
        self.mapping, self.library, self.package = mapping, library, package
        self.distinct, self.ambiguous = distinct, ambiguous
        self.params = params  # keyword names stay real: never renamed unless written as an attribute
        self.aliases = {library, *profiles.get(library).aliases}
        self.owners = {o.rsplit(".", 1)[0] for o in mapping}  # modules and classes: things with members

    def code(self, src: str) -> str:
        """Translate, then rename what translation leaves: names in comments, strings and variable
        names (``int32 = np.dtype("int32")``). Only distinctive identifiers, so Python's ``sum(``
        stays; the example is re-executed, so a wrong rename is dropped, never shown."""
        out = translate_code(src, self.mapping, library=self.library, package=self.package)

        def sub(m: re.Match) -> str:
            tok = m.group(0)
            if "." in tok:
                head, _, rest = tok.partition(".")
                if head in self.aliases:
                    return self._dotted(tok) or self.package + "." + rest
                return ".".join(self.distinct.get(p, p) for p in tok.split("."))
            if tok.lower() == self.library:
                return self.package
            return self.distinct.get(tok, tok) if tok not in self.params else tok

        return _TOKEN.sub(sub, out)

    def _dotted(self, token: str) -> str | None:
        parts = token.split(".")
        if parts[0] in self.aliases:
            parts[0] = self.library
        rooted = parts[0] == self.library or f"{self.library}.{parts[0]}" in self.owners  # ndarray.tolist
        for k in range(len(parts), 0, -1):
            head = ".".join(parts[:k])
            hit = self.mapping.get(head) or (self.mapping.get(f"{self.library}.{head}") if rooted else None)
            if hit:
                tail = [self.distinct.get(p, self.ambiguous.get(p, p)) for p in parts[k:]]
                return ".".join([hit, *tail])
        return None

    def prose(self, text: str, *, see_also: bool = False) -> str:
        text = _ROLE.sub("", text)
        spans = [(m.start(), m.end()) for m in re.finditer(r"``.*?``|`[^`\n]*`", text)]

        def in_code(pos: int) -> bool:
            return any(s <= pos < e for s, e in spans)

        def sub(m: re.Match) -> str:
            tok = m.group(0)
            s, e = m.start(), m.end()
            before = text[s - 1] if s else ""
            after = text[e] if e < len(text) else ""
            if tok.lower() == self.library or (tok in self.aliases and after == "."):
                return self.package
            if "." in tok:
                hit = self._dotted(tok)
                if hit:
                    return hit
                return ".".join(self._word(p, True) for p in tok.split("."))
            if tok in self.params and before != "." and not see_also:
                return tok
            code_pos = see_also or in_code(s) or after == "(" or before == "."
            return self._word(tok, code_pos)

        return _TOKEN.sub(sub, text)

    def _word(self, w: str, code_pos: bool) -> str:
        if w.lower() == self.library:
            return self.package
        if w in self.distinct:
            return self.distinct[w]
        if code_pos and w in self.ambiguous:
            return self.ambiguous[w]
        return w

    def signature(self, sig: str | None) -> str | None:
        """Rename default values only: parameter names are the real keywords."""
        if not sig:
            return sig
        sig = _OBJECT_REPR.sub("<default>", sig)  # reprs with addresses: not deterministic, and reveal paths
        return re.sub(r"=([^,)\]]+)", lambda m: "=" + self.prose(m.group(1), see_also=True), sig)


def _split_examples(doc: str) -> list[str | doctest.Example]:
    try:
        return doctest.DocTestParser().parse(doc)
    except ValueError:  # inconsistent indentation in a docstring: keep it as prose
        return [doc]


def _rewrite_prose(rw: Rewriter, text: str) -> str:
    out, see_also = [], False
    for line in text.splitlines(keepends=True):
        m = _SECTION.match(line.strip())
        if m:
            see_also = m.group(1) == "See Also"
        elif line.strip().startswith("---"):
            pass
        elif see_also and line.strip() and not line.startswith((" ", "\t")):
            name, sep, rest = line.partition(" : ")
            line = rw.prose(name, see_also=True) + sep + rw.prose(rest) if sep else rw.prose(line, see_also=True)
            out.append(line)
            continue
        out.append(rw.prose(line))
    return "".join(out)


def build_docs(surface: Surface, mapping: dict[str, str], rw: Rewriter, package_parent: Path | None, *,
               progress: bool = False) -> tuple[list[ApiEntry], dict[str, str]]:
    """ApiEntry per surface item and the docs the runtime shows (novel dotted -> doc).

    With ``package_parent`` (the directory holding the built package) examples are re-executed there;
    without it they are left out (the first build pass, which only makes the package importable).
    """
    plans: dict[str, list] = {}
    for it in surface.items:
        if it.original in mapping:
            plans[mapping[it.original]] = _split_examples(it.doc or "")
    results = _run_examples(plans, package_parent, rw) if package_parent is not None else {}
    entries, runtime_docs = [], {}
    for it in sorted(surface.items, key=lambda i: mapping.get(i.original, i.original)):
        novel = mapping.get(it.original)
        if novel is None:
            continue
        parts = plans[novel]
        outputs = results.get(novel)
        doc = _render(rw, parts, outputs)
        short = novel.rsplit(".", 1)[1]
        sig = f"{short}{rw.signature(it.signature)}" if it.signature else None
        entries.append(ApiEntry(original=it.original, novel=novel, kind=it.kind, signature=sig, doc=doc))
        runtime_docs[novel] = doc
    return entries, runtime_docs


def _render(rw: Rewriter, parts: list, outputs: list | None) -> str:
    out: list[str] = []
    ex_i = 0
    dropped = False
    for p in parts:
        if isinstance(p, str):
            out.append(_rewrite_prose(rw, p))
            continue
        result = outputs[ex_i] if outputs is not None and ex_i < len(outputs) else None
        ex_i += 1
        if dropped or result is None or not result["keep"]:
            dropped = True  # later examples may depend on this one
            continue
        src_lines = result["source"].rstrip("\n").splitlines()
        indent = " " * p.indent
        block = [f"{indent}>>> {src_lines[0]}"] + [f"{indent}... {ln}" for ln in src_lines[1:]]
        block += [f"{indent}{ln}" if ln else f"{indent}<BLANKLINE>" for ln in result["output"].rstrip("\n").splitlines()]
        out.append("\n".join(block) + "\n")
    return "".join(out).rstrip() + "\n" if out else ""


_RUNNER = r"""
import contextlib, io, json, os, random, signal, sys
CPU_S, WALL_S, MAX_OUT = 5.0, 60, 20_000

# Every docstring draws the same entropy (os.urandom, secrets, an unseeded default_rng()), so a random
# example shows the same output in every build instead of one that two runs happened to agree on.
# Patched before the package is imported, because libraries seed their global generators at import.
_entropy = random.Random(0)
os.urandom = random._urandom = lambda n: _entropy.randbytes(n)

sys.path.insert(0, sys.argv[1])
pkg = __import__(sys.argv[2])
plans = json.load(sys.stdin)

class Timeout(BaseException):
    pass

def alarm(*_):
    raise Timeout()

def run(sources, expects_error, out):
    _entropy.seed(0)
    random.seed(0)
    # The budget is CPU time, not wall time: a wall-clock limit drops slow examples only when the machine
    # is busy, and the same seed would give other docs. The wall alarm only stops examples that sleep.
    signal.signal(signal.SIGPROF, alarm)
    signal.signal(signal.SIGALRM, alarm)
    ns = {"__name__": "__doc__", sys.argv[2]: pkg}
    for src, err_expected in zip(sources, expects_error):
        buf = io.StringIO()
        signal.setitimer(signal.ITIMER_PROF, CPU_S)
        signal.alarm(WALL_S)
        try:
            with contextlib.redirect_stdout(buf):
                exec(compile(src, "<example>", "single"), ns)
            res = ["ok", buf.getvalue()]
        except Timeout:
            res = ["timeout", ""]
        except BaseException as e:
            if err_expected:
                res = ["ok", buf.getvalue() + "Traceback (most recent call last):\n    ...\n"
                       + type(e).__name__ + ": " + str(e) + "\n"]
            else:
                res = ["error", type(e).__name__ + ": " + str(e)]
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.alarm(0)
        if len(res[1]) > MAX_OUT:
            res = ["too long", ""]
        out.write(json.dumps(res) + "\n")
        out.flush()

# Each docstring runs in a fork of this process, so what one docstring changes (print options, error
# state, the library's global generator) never shows in another, and a crash loses only that docstring.
result = {}
for key, (sources, expects_error) in plans.items():
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # C code printing to fd 1 must not reach the result
        try:
            run(sources, expects_error, os.fdopen(w, "w"))
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        outs = [json.loads(line) for line in f]
    os.waitpid(pid, 0)
    result[key] = outs + [["crashed", ""]] * (len(sources) - len(outs))
json.dump(result, sys.stdout)
"""


def _imports_other_library(src: str, library: str) -> bool:
    """An example that needs a third-party module (``import torch``) would make the docs depend on what
    else is installed, so it is dropped."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return False
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and not n.level]
    return any(m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != library for m in names)


def unrunnable(ex: doctest.Example, library: str) -> bool:
    """An example that is never run (see the module docstring), nor any after it in its docstring."""
    src = ex.source
    return bool(_PLOT.search(src) or _NONDETERMINISTIC.search(src) or ex.options.get(doctest.SKIP)
                or _ABSOLUTE_PATH.search(src) or _imports_other_library(src, library))


def _run_examples(plans: dict[str, list], package_parent: Path, rw: Rewriter) -> dict[str, list]:
    todo: dict[str, tuple[list[str], list[bool]]] = {}
    for key, parts in plans.items():
        exs = [p for p in parts if isinstance(p, doctest.Example)]
        if not exs:
            continue
        srcs, errs = [], []
        for ex in exs:
            if unrunnable(ex, rw.library):
                break
            srcs.append(rw.code(ex.source))
            errs.append(ex.want.startswith("Traceback"))
        todo[key] = (srcs, errs)
    if not todo:
        return {}
    # Two runner processes, each in a directory of its own: an output that differs between them (an
    # address, a path, a process id, a clock) would differ between builds too, and is dropped.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg", PYTHONHASHSEED="0")
    with tempfile.TemporaryDirectory() as tmp:
        plan_file = Path(tmp) / "plans.json"
        plan_file.write_text(json.dumps(todo))
        procs = []
        for side in ("a", "b"):
            (Path(tmp) / side).mkdir()
            with open(plan_file) as stdin, open(Path(tmp) / f"{side}.json", "w") as stdout, \
                    open(Path(tmp) / f"{side}.err", "w") as stderr:
                procs.append(subprocess.Popen([sys.executable, "-c", _RUNNER, str(package_parent), rw.package],
                                              stdin=stdin, stdout=stdout, stderr=stderr, cwd=Path(tmp) / side, env=env))
        raw = []
        try:
            for side, proc in zip(("a", "b"), procs, strict=True):
                if proc.wait(timeout=900) != 0:
                    raise RuntimeError(f"example runner failed: {(Path(tmp) / f'{side}.err').read_text()[-2000:]}")
                raw.append(json.loads((Path(tmp) / f"{side}.json").read_text()))
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    # What the library itself returns can name it (the print options hold 'infstr': 'inf'): such an
    # output is dropped here rather than failing the leak lint.
    leaks = detector_for(rw.library, rw.mapping, rw.params)
    results: dict[str, list] = {}
    for key, first in raw[0].items():
        res = []
        for src, a, b in zip(todo[key][0], first, raw[1][key], strict=True):
            keep = a[0] == "ok" and a == b and "0x" not in a[1] and not leaks.scan(a[1])
            res.append({"keep": keep, "source": src, "output": a[1]})
        results[key] = res
    return results
