"""Wall time of generating + validating all task sets of the NumPy bench (target < 120 s).

Baseline in the same run: the in-process spec search alone (what generation costs without validation),
so the printed ratio shows how much the sandbox/judge validation adds.

    .venv/bin/python benchmarks/tasks_time.py [BENCH_DIR]
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from selfevolve.bench import Bench
from selfevolve.tasks.build import generate_all
from selfevolve.tasks.generate import find_specs
from selfevolve.tasks.stats import stats


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        if len(sys.argv) > 1:
            shutil.copytree(sys.argv[1], root, ignore=shutil.ignore_patterns("tasks"))
        else:
            from selfevolve.obfuscate.build import build_bench

            build_bench("numpy", root, seed=42, name="zwc")
        bench = Bench.open(root)
        t0 = time.perf_counter()
        find_specs(bench)
        base = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = generate_all(bench, seed=0)
        total = time.perf_counter() - t0
        s = stats(bench)["splits"]
        counts = {k: v["tasks"] for k, v in s.items()}
        print(f"tasks: {counts}; dropped: {dict(report.dropped)}")
        print(f"spec search only: {base:.1f} s; generate+validate all sets: {total:.1f} s "
              f"(ratio {total / base:.1f}x; target < 120 s: {'OK' if total < 120 else 'MISSED'})")


if __name__ == "__main__":
    main()
