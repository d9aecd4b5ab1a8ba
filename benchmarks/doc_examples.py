"""Fidelity against the library's own docs.

Takes every `>>>` example in the docstrings of the covered APIs, translates it through the bench's
mapping, runs it in the library and in the novel package (one subprocess each, examples of one
docstring in order, sharing a namespace), and compares what each example produced: the displayed
values (unwrapped, compared with the judge's comparison rules), printed text (after renaming), or the
kind of exception raised. Examples whose library output differs between two runs (random, clocks)
are not deterministic and are left out, as are the examples the build never runs (`docs.unrunnable`).

Usage: python benchmarks/doc_examples.py [--bench DIR]   (default: build NumPy, seed 42, in a temp dir)
Required: at least 95% of the deterministic examples equal.
"""

from __future__ import annotations

import argparse
import doctest
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from selfevolve_lab.bench import Bench
from selfevolve_lab.judge.compare import equal
from selfevolve_lab.obfuscate.docs import Rewriter, unrunnable
from selfevolve_lab.obfuscate.emit import load_table
from selfevolve_lab.obfuscate.surface import introspect
from selfevolve_lab.schema import CompareSpec

RUNNER = r'''
import contextlib, io, json, signal, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, sys.argv[4])
from selfevolve_lab.sandbox.protocol import Encoder
lib = __import__(sys.argv[2])
mode = sys.argv[3]
import numpy
if mode == "novel":
    pkg = __import__(sys.argv[2])
    unwrap = pkg._core.unwrap
    names = {sys.argv[2]: pkg}
else:
    unwrap = None
    names = {"np": numpy, "numpy": numpy}
enc = Encoder(unwrap, numpy.ndarray, numpy.generic)
plans = json.load(sys.stdin)

class Timeout(BaseException):
    pass

def alarm(*_):
    raise Timeout()

# CPU time, not wall time, as in the build's own runner: a busy machine must not change the figure.
signal.signal(signal.SIGPROF, alarm)
signal.signal(signal.SIGALRM, alarm)

def base_exc(e):
    for c in type(e).__mro__:
        if c.__module__ == "builtins":
            return c.__name__
    return "Exception"

def run(sources):
    ns = dict(names)
    res = []
    for src in sources:
        shown = []
        sys.displayhook = lambda v: shown.append(v) if v is not None else None
        buf = io.StringIO()
        signal.setitimer(signal.ITIMER_PROF, 5.0)
        signal.alarm(60)
        try:
            with contextlib.redirect_stdout(buf):
                exec(compile(src, "<example>", "single"), ns)
            try:
                vals = [enc.encode(v) for v in shown]
            except Exception:
                vals = [{"$opaque": "unencodable"}]
            res.append({"status": "ok", "values": vals, "reprs": [repr(v) for v in shown], "stdout": buf.getvalue()})
        except Timeout:
            res.append({"status": "timeout"})
        except BaseException as e:
            res.append({"status": "error", "exc": base_exc(e)})
        finally:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.alarm(0)
    return res

out = {k: [run(v), run(v)] for k, v in plans.items()}
sys.stdout = sys.__stdout__
json.dump(out, sys.stdout)
'''


def _opaque(v: object) -> bool:
    return "$opaque" in json.dumps(v)


def run_side(plans: dict, pkg_dir: str, name: str, mode: str) -> dict:
    src = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory() as cwd:
        proc = subprocess.run([sys.executable, "-c", RUNNER, pkg_dir, name, mode, src], input=json.dumps(plans),
                              capture_output=True, text=True, cwd=cwd, timeout=1800,
                              env=dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg"))
    if proc.returncode != 0:
        raise SystemExit(f"{mode} runner failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", help="a NumPy bench directory (default: build one in a temp dir)")
    args = ap.parse_args()
    tmp = None
    if args.bench:
        bench = Bench.open(args.bench)
    else:
        from selfevolve_lab.obfuscate.build import build_bench

        tmp = tempfile.mkdtemp()
        bench = build_bench("numpy", Path(tmp) / "bench", seed=42, lint=False)
    table = load_table(bench.package_dir / bench.package)
    surface = introspect(bench.library)
    rw = Rewriter(bench.mapping, bench.library, bench.package, table["words"], table["ambiguous"],
                  surface.parameter_names())
    lib_plans, novel_plans = {}, {}
    for it in surface.items:
        if it.original not in bench.mapping or not it.doc:
            continue
        try:
            exs = doctest.DocTestParser().get_examples(it.doc)
        except ValueError:
            continue
        srcs = []
        for ex in exs:
            if unrunnable(ex, bench.library):  # as in the build: never run there, so not compared here
                break
            srcs.append(ex.source)
        if srcs:
            lib_plans[it.original] = srcs
            novel_plans[it.original] = [rw.code(s) for s in srcs]
    lib = run_side(lib_plans, str(bench.package_dir), bench.library, "library")
    nov = run_side(novel_plans, str(bench.package_dir), bench.package, "novel")
    spec = CompareSpec(rtol=1e-7, atol=1e-10)
    # values that are not plain data (dtypes, calendars) are compared by repr, renamed as the package does
    sys.path.insert(0, str(bench.package_dir))
    rename = __import__(bench.package)._core.rename_text
    total = same = nondet = 0
    failures: Counter[str] = Counter()
    examples: dict[str, list[str]] = {}
    for key, (a1, a2) in lib.items():
        n1 = nov[key][0]
        for i, (x, x2, y) in enumerate(zip(a1, a2, n1, strict=True)):
            if x != x2 or x["status"] == "timeout":
                nondet += 1
                continue
            total += 1
            if x["status"] == "error" or y["status"] == "error":
                ok = x["status"] == y["status"] == "error" and x["exc"] == y["exc"]
                cat = "exception differs" if not ok else ""
                if x["status"] != y["status"]:
                    cat = "raised only in the novel package" if y["status"] == "error" else "raised only in the library"
            elif y["status"] != "ok":
                ok, cat = False, "novel package timed out"
            elif len(x["values"]) != len(y["values"]):
                ok, cat = False, "different number of values"
            elif x["values"]:
                ok = all(equal(a, b, spec)[0] or (_opaque(a) and rename(ra) == rb)
                         for a, b, ra, rb in zip(x["values"], y["values"], x["reprs"], y["reprs"], strict=True))
                cat = "value differs"
            else:
                ok = bool(x["stdout"].strip()) == bool(y["stdout"].strip())
                cat = "printed output differs"
            if ok:
                same += 1
            else:
                failures[cat] += 1
                examples.setdefault(cat, []).append(f"{key}[{i}]: {novel_plans[key][i].strip()[:90]}")
    pct = 100 * same / max(total, 1)
    print(f"covered APIs with examples: {len(lib_plans)}")
    print(f"deterministic examples run: {total} (left out as non-deterministic: {nondet})")
    print(f"equal results: {same}/{total} = {pct:.1f}%   (required >= 95%)")
    if failures:
        print("failures by category:")
        for cat, n in failures.most_common():
            print(f"  {n:5d}  {cat}")
            for e in examples[cat][:4]:
                print(f"         e.g. {e}")
    if tmp:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
