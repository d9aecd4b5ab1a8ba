"""Greedy eval generation on a local transformers model: the backend's batching against one request at a time.

Usage: python benchmarks/hf_batching.py BENCH [--model micro-base] [--n 48] [--mode open]

BENCH is a bench directory, e.g. the one `make demo` builds (demo-out/bench).

Both sides answer the same prompts (the bench's test_single, the micro-world's short docs) greedily through
``TransformersBackend``: the baseline calls ``generate`` once per prompt, as the backend did before it batched;
ours sends every request at once through ``complete``, as the eval harness does. The outputs must be equal.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "micro-base"))
    ap.add_argument("bench", help="a bench directory; its test_single prompts are the requests")
    ap.add_argument("--n", type=int, default=48)
    ap.add_argument("--mode", default="open")
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.evaluate.prompts import Prompter
    from selfevolve_lab.models.hf_backend import TransformersBackend

    bench = Bench.open(a.bench)
    tasks = bench.tasks("test_single")[: a.n]
    chats = [Prompter(bench, a.mode, doc_style="summary").messages(t) for t in tasks]
    backend = TransformersBackend(a.model)
    backend.generate(chats[:2], max_tokens=8)  # warm up

    t0 = time.perf_counter()
    one = [backend.generate([c], max_tokens=a.max_tokens)[0] for c in chats]
    t_one = time.perf_counter() - t0

    async def together():
        return await asyncio.gather(*(backend.complete(c, max_tokens=a.max_tokens) for c in chats))

    t0 = time.perf_counter()
    batched = asyncio.run(together())
    t_batched = time.perf_counter() - t0
    same = sum(x == y.text for x, y in zip(one, batched, strict=True))
    print(f"{len(chats)} greedy {a.mode}-book prompts, {a.max_tokens} new tokens at most, {a.threads} thread(s)")
    print(f"one at a time : {t_one:6.2f} s")
    print(f"batched ({backend.batch_size:>2})  : {t_batched:6.2f} s")
    print(f"speed-up      : {t_one / t_batched:.2f}x   identical outputs: {same}/{len(chats)}")


if __name__ == "__main__":
    main()
