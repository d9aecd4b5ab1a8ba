"""Sandbox throughput: the same batch of short NumPy-calling programs, run three ways.

  (a) a fresh `python` subprocess per run that imports the package: the official SE-Bench method,
      without its HTTP overhead;
  (b) our pool of warm jailed workers, with full isolation;
  (c) a plain os.fork() per run from a warm parent that imported the package: no isolation, the limit.

All three run at the same concurrency (the number of cores). Prints runs/second and the ratios.
Also (b) with its workers' heap left on 4 KB pages (`huge_pages=False`), alternating with (b) over
--rounds rounds, medians compared: what moving the heap onto 2 MB pages saves per fork.

``--usage-rule`` (needs --bench with generated tasks) measures instead what the judge's usage rule costs
per sample: the same batch of samples (each test_single task's reference, --samples times) judged with
the rule and without it (``Judge(usage_rule=False)``: the static check only, as before issue 12), in
alternating rounds on the same pool, medians compared. The rule costs one more run per passing sample
(its probe run) and, for a judge that has not yet seen a task, one run of the task's reference under its
seed: measured warm (a judge that judged the batch before) and cold (a fresh judge, a fresh seed).
``--against REV`` (needs --bench) judges the same batch (each test_single task's reference, --samples
times, and as many wrong answers) with this checkout's code and with git revision REV's (checked out into
a temporary worktree), each in a fresh process with a fresh judge, in alternating rounds; it prints the
medians' ratio per sample: what a change to the judge costs.
Usage: python benchmarks/sandbox_throughput.py [--bench DIR] [--runs N] [--fresh-runs N] [--usage-rule]
                                               [--against REV]
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selfevolve_lab.sandbox import RunRequest, SandboxPool


def batch(n: int, pkg: str, fn: str) -> list[RunRequest]:
    code = f"import {pkg}\ndef solve(x):\n    return {pkg}.{fn}(x)\n"
    return [RunRequest(code, "solve", [{"x": [i, i + 1.5, -2.0]}, {"x": [float(i)] * 8}]) for i in range(n)]


def run_fresh(reqs: list[RunRequest], pythonpath: str, workers: int) -> float:
    """(a): one interpreter per run; it imports the package, runs the tests, prints JSON."""
    tmp = Path(tempfile.mkdtemp())
    runner = tmp / "runner.py"
    runner.write_text(
        "import json, sys\nreq = json.load(open(sys.argv[1]))\nns = {}\nexec(req['code'], ns)\n"
        "print(json.dumps([repr(ns[req['entry_point']](**kw)) for kw in req['inputs']]))\n")
    env = dict(os.environ, PYTHONPATH=pythonpath, OPENBLAS_NUM_THREADS="1")

    def one(i_req):
        i, req = i_req
        f = tmp / f"req{i}.json"
        f.write_text(json.dumps({"code": req.code, "entry_point": req.entry_point, "inputs": req.inputs}))
        out = subprocess.run([sys.executable, str(runner), str(f)], capture_output=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr[-500:]

    t = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as ex:
        list(ex.map(one, enumerate(reqs)))
    return time.perf_counter() - t


def run_pool(reqs: list[RunRequest], pool: SandboxPool) -> float:
    t = time.perf_counter()
    results = pool.map(reqs)
    dt = time.perf_counter() - t
    bad = [r for r in results if r.status != "ok" or not all(o.ok for o in r.outcomes)]
    assert not bad, bad[:2]
    return dt


def run_plain_fork(reqs: list[RunRequest], workers: int) -> float:
    """(c): fork from this warm process, exec the code, send repr()s back over a pipe. No isolation."""

    def one(req):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            ns: dict = {}
            exec(req.code, ns)
            out = json.dumps([repr(ns[req.entry_point](**kw)) for kw in req.inputs]).encode()
            os.write(w, out)
            os._exit(0)
        os.close(w)
        data = b""
        while chunk := os.read(r, 65536):
            data += chunk
        os.close(r)
        os.waitpid(pid, 0)
        assert data

    t = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as ex:
        list(ex.map(one, reqs))
    return time.perf_counter() - t


def usage_rule_cost(bench_dir: str, tasks: int, samples: int, rounds: int) -> None:
    """Per-sample judging time with the usage rule against without it: same batch, same pool."""
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.judge import Judge

    bench = Bench.open(bench_dir)
    chosen = bench.tasks("test_single")[:tasks]
    stored = sum("input" in t.provenance.get("usage_probe", {}) for t in chosen)
    items = [(t, t.reference, k) for t in chosen for k in range(samples)]
    workers = os.cpu_count() or 1
    with SandboxPool.for_bench(bench, workers=workers) as pool:
        with_rule, without = Judge(bench, pool=pool), Judge(bench, pool=pool, usage_rule=False)

        def once(judge: Judge) -> float:
            t = time.perf_counter()
            verdicts = list(judge.judge_many(items))
            dt = time.perf_counter() - t
            assert all(v.passed for v in verdicts), [v for v in verdicts if not v.passed][:2]
            return dt

        once(with_rule)  # warm-up
        once(without)
        times: dict[str, list[float]] = {"rule": [], "static": [], "cold": []}
        for _ in range(rounds):
            times["rule"].append(once(with_rule))
            times["static"].append(once(without))
            # a fresh judge draws a fresh seed, so it first runs each task's reference under it once
            t = time.perf_counter()
            assert all(v.passed for v in Judge(bench, pool=pool).judge_many(items))
            times["cold"].append(time.perf_counter() - t)
    rule, static, cold = (statistics.median(times[k]) for k in ("rule", "static", "cold"))
    n = len(items)
    print(f"judging {n} samples ({len(chosen)} test_single references x {samples}); concurrency {workers}; "
          f"{stored}/{len(chosen)} tasks carry a probe input outside their tests; medians of {rounds} rounds")
    print(f"static check only (before issue 12)       : {1e3 * static / n:7.2f} ms/sample")
    print(f"with the usage rule (a probe run each)    : {1e3 * rule / n:7.2f} ms/sample")
    print(f"  a fresh judge (a fresh secret seed)     : {1e3 * cold / n:7.2f} ms/sample (one reference run per task)")
    print(f"cost of the usage rule: {rule / static:.2f}x per sample (limit 1.5x); "
          f"{cold / static:.2f}x when the judge must first run each task's reference")


def judge_once(bench_dir: str, tasks: int, samples: int) -> None:
    """One fresh judge on the batch (in the process `against` starts): prints seconds and statuses."""
    from collections import Counter

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.judge import Judge

    bench = Bench.open(bench_dir)
    chosen = bench.tasks("test_single")[:tasks]
    # a wrong answer that runs (the reference's answer in a list): no probe run, as most RL samples
    def wrong(t):
        first = t.reference.replace(f"def {t.entry_point}(", "def first(", 1)
        return f"{first}\ndef {t.entry_point}(*args, **kw):\n    return [first(*args, **kw)]\n"

    # every sample a distinct program (a comment apart): no judge can reuse one probe run for another
    items = [(t, f"{t.reference}\n# sample {k}\n", k) for t in chosen for k in range(samples)]
    items += [(t, f"{wrong(t)}\n# sample {k}\n", samples + k) for t in chosen for k in range(samples)]
    with Judge(bench, workers=os.cpu_count() or 1) as judge:
        judge.judge(chosen[0], chosen[0].reference)  # the pool's start is not the judge's cost
        t = time.perf_counter()
        verdicts = list(judge.judge_many(items))
        dt = time.perf_counter() - t
    print(json.dumps({"seconds": dt, "n": len(items), "statuses": Counter(v.status for v in verdicts)}))


def against(bench_dir: str, rev: str, tasks: int, samples: int, rounds: int) -> None:
    """This checkout's judge against revision ``rev``'s on the same batch, alternating rounds."""
    root = Path(__file__).resolve().parents[1]
    tree = Path(tempfile.mkdtemp()) / "rev"
    subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", "-q", str(tree), rev], check=True)
    try:
        srcs = {"this checkout": str(root / "src"), rev: str(tree / "src")}
        times: dict[str, list[float]] = {k: [] for k in srcs}
        statuses = {}
        for _ in range(rounds):
            for name, src in srcs.items():
                out = subprocess.run([sys.executable, __file__, "--judge-once", "--bench", bench_dir, "--tasks",
                                      str(tasks), "--samples", str(samples)], capture_output=True, text=True,
                                     env=dict(os.environ, PYTHONPATH=src), check=True)
                got = json.loads(out.stdout.strip().splitlines()[-1])
                times[name].append(got["seconds"] / got["n"])
                statuses[name] = got["statuses"]
    finally:
        subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(tree)], check=False)
    new, old = (statistics.median(times[k]) for k in srcs)
    print(f"judging {got['n']} distinct samples ({tasks} test_single tasks: the reference and a wrong answer, "
          f"{samples} variants each), a fresh judge per round; medians of {rounds} alternating rounds")
    for name in srcs:
        print(f"{name:>15}: {1e3 * statistics.median(times[name]):7.2f} ms/sample  {statuses[name]}")
    print(f"this checkout / {rev}: {new / old:.2f}x per sample (limit 2.0x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", help="a bench directory: use its package (default: NumPy itself)")
    ap.add_argument("--runs", type=int, default=1000, help="runs for (b) and (c)")
    ap.add_argument("--fresh-runs", type=int, default=60, help="runs for (a), which is slow")
    ap.add_argument("--rounds", type=int, default=3, help="alternating rounds of (b) with and without huge pages")
    ap.add_argument("--usage-rule", action="store_true", help="measure the judge's usage rule instead (needs --bench)")
    ap.add_argument("--tasks", type=int, default=100, help="with --usage-rule: test_single tasks in the batch")
    ap.add_argument("--samples", type=int, default=4, help="with --usage-rule: samples per task")
    ap.add_argument("--against", metavar="REV", help="compare the judge with git revision REV's (needs --bench)")
    ap.add_argument("--judge-once", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    workers = os.cpu_count() or 1
    if args.judge_once:
        judge_once(args.bench, args.tasks, args.samples)
        return
    if args.against:
        if not args.bench:
            ap.error("--against needs --bench (a bench with generated tasks)")
        against(args.bench, args.against, args.tasks, args.samples, args.rounds)
        return
    if args.usage_rule:
        if not args.bench:
            ap.error("--usage-rule needs --bench (a bench with generated tasks)")
        usage_rule_cost(args.bench, args.tasks, args.samples, args.rounds)
        return

    if args.bench:
        from selfevolve_lab.bench import Bench

        bench = Bench.open(args.bench)
        novel_abs = bench.mapping.get("numpy.abs", "numpy.abs").split(".", 1)[1]
        pkg, fn, pythonpath = bench.package, novel_abs, str(bench.package_dir)
        pool = SandboxPool.for_bench(bench, workers=workers)
        small_pages = SandboxPool.for_bench(bench, workers=workers, huge_pages=False)
        import importlib

        sys.path.insert(0, pythonpath)
        importlib.import_module(pkg)
    else:
        import numpy  # noqa: F401  (the warm parent of (c) imports the package once)

        pkg, fn, pythonpath = "numpy", "abs", ""
        kw = dict(preload=["numpy"], array_type="numpy.ndarray", scalar_type="numpy.generic", workers=workers)
        pool, small_pages = SandboxPool(None, **kw), SandboxPool(None, huge_pages=False, **kw)
    reqs = batch(args.runs, pkg, fn)
    with pool, small_pages:
        run_pool(reqs[:50], pool)  # warm-up
        run_pool(reqs[:50], small_pages)
        times: dict[str, list[float]] = {"huge": [], "small": []}
        for _ in range(args.rounds):  # alternating, so a slow spell of the machine hits both alike
            times["huge"].append(run_pool(reqs, pool))
            times["small"].append(run_pool(reqs, small_pages))
        tb, tb_small = statistics.median(times["huge"]), statistics.median(times["small"])
        isolation = pool.isolation
    ta = run_fresh(reqs[: args.fresh_runs], pythonpath, workers)
    tc = run_plain_fork(reqs, workers)
    rate_a, rate_b, rate_c = args.fresh_runs / ta, args.runs / tb, args.runs / tc
    print(f"programs: `{pkg}.{fn}(x)` on 2 tests each; concurrency {workers}; pool isolation: {isolation}")
    print(f"(a) fresh interpreter per run : {rate_a:8.1f} runs/s  ({args.fresh_runs} runs)")
    print(f"(b) selfevolve pool, isolated : {rate_b:8.1f} runs/s  ({args.runs} runs, median of {args.rounds})")
    print(f"    the same, 4 KB pages only : {args.runs / tb_small:8.1f} runs/s  -> 2 MB pages: {tb_small / tb:.2f}x")
    print(f"(c) plain fork, no isolation  : {rate_c:8.1f} runs/s  ({args.runs} runs)")
    print(f"speedup (b)/(a): {rate_b / rate_a:.1f}x   (target >= 20x)")
    print(f"cost of isolation (c)/(b): {rate_c / rate_b:.2f}x   (target <= 2x)")


if __name__ == "__main__":
    main()
