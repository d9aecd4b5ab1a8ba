"""One sandbox pool per training process against one pool for the node: the same rewards, judged two ways.

  (a) one process judges 2N completions on one pool of (cores + 1) workers: a pool the node's ranks share;
  (b) two processes at once (two ranks of one node, LOCAL_WORLD_SIZE=2) each judge N on its own pool, sized
      by `default_workers` to its share of the cores (cores / 2 + 1).

The completions are the bench's train references (they all run). Alternating rounds, medians compared: if
(b) is not slower than (a), a pool per rank costs nothing, and ranks need no shared pool server.
Usage: python benchmarks/sandbox_ranks.py --bench DIR [--n 64] [--rounds 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import time


def _judge(bench: str, n: int, local_world: int, start, out) -> None:
    os.environ["LOCAL_WORLD_SIZE"] = str(local_world)
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.judge import Judge

    b = Bench.open(bench)
    tasks = b.tasks("train")
    batch = [tasks[i % len(tasks)] for i in range(n)]
    with Judge(b) as judge:
        judge.reward([f"```python\n{t.reference}```" for t in batch[:4]], batch[:4])  # warm
        start.wait()
        t0 = time.perf_counter()
        rewards = judge.reward([f"```python\n{t.reference}```" for t in batch], batch)
        out.put((time.perf_counter() - t0, sum(rewards)))


def _round(bench: str, n: int, ranks: int) -> float:
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(ranks), ctx.Queue()
    procs = [ctx.Process(target=_judge, args=(bench, n // ranks, ranks, start, out)) for _ in range(ranks)]
    for p in procs:
        p.start()
    times = [out.get()[0] for _ in procs]
    for p in procs:
        p.join()
    return max(times)  # the step waits for its slowest rank


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    shared, per_rank = [], []
    for _ in range(args.rounds):
        shared.append(_round(args.bench, args.n, 1))
        per_rank.append(_round(args.bench, args.n, 2))
    a, b = statistics.median(shared), statistics.median(per_rank)
    print(f"{args.n} rewards: one pool for the node {a:.3f} s, a pool per rank (2 ranks) {b:.3f} s "
          f"(median of {args.rounds}); per-rank / shared = {b / a:.2f}x")


if __name__ == "__main__":
    main()
