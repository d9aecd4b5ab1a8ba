"""Wall time of a full NumPy build (surface, names, package, docs with re-executed examples, leak lint).

Usage: python benchmarks/build_time.py   Target: under 60 s on a 2-core machine.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from selfevolve_lab.obfuscate.build import build_bench


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        bench = build_bench("numpy", Path(tmp) / "bench", seed=42)
        dt = time.perf_counter() - t0
        counts = bench.manifest.counts
    print(f"full NumPy build (with leak lint): {dt:.1f} s for {sum(counts.values())} surface items {counts}")
    print(f"ratio to the 60 s target: {dt / 60:.2f}x (target < 1.0)")


if __name__ == "__main__":
    main()
