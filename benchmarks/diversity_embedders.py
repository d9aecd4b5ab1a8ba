"""What the cheaper diversity embedders cost and what they change, against all-MiniLM-L6-v2.

ExIt's bonus multiplies each GRPO advantage by d_i, the response's distance from its group's centroid in an
embedding space (normalized by the group's spread). The paper embeds with all-MiniLM-L6-v2, 33x the micro
policy; ``static`` (MiniLM's own token embeddings, mean-pooled) and ``hash`` (character trigrams) are the
cheap alternatives (`exit train --embedder`). This samples real groups from the micro base on micro exit's domain
(first attempts, and improve steps on one of them with its judge feedback, at micro exit's temperature),
computes d_i with each embedder, and prints each one's CPU time per response and the ratio to MiniLM's, with
how closely its d_i follow MiniLM's: the mean Spearman correlation within a group, the mean absolute
difference of d_i, and how often both pick the same most-diverse response.

    python benchmarks/diversity_embedders.py --base micro-base --bench BENCH [--tasks 24] [--group 8]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def sample_groups(base: str, bench: str, tasks: int, group: int) -> list[list[str]]:
    import selfevolve_lab.models.micro  # noqa: F401  registers the micro model class
    from selfevolve_lab.exit import prompts
    from selfevolve_lab.exit.domain import Attempt, Instance
    from selfevolve_lab.micro.exit_world import MAX_TOKENS, ExitWorld, MicroExitConfig, MicroExitScale
    from selfevolve_lab.models import load_backend

    world = ExitWorld(MicroExitConfig(bench=bench, base=base, out=tempfile.mkdtemp(prefix="div-emb-")))
    domain, backend, temperature = world.domain(), load_backend(base, backend="transformers"), MicroExitScale().temperature
    groups = []
    try:
        for i, task in enumerate(domain.tasks("train")[:tasks]):
            first = Instance(task)
            texts = backend.generate([prompts.messages(first, "first")] * group, temperature=temperature,
                                     max_tokens=MAX_TOKENS, seed=2 * i)
            groups.append(texts)
            score, feedback = domain.score_many([(first, texts[0])])[0]
            step = first.child(Attempt(texts[0], score, feedback))
            groups.append(backend.generate([prompts.messages(step, "improve")] * group, temperature=temperature,
                                           max_tokens=MAX_TOKENS, seed=2 * i + 1))
    finally:
        domain.close()
    return groups


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", required=True, help="a micro base (`micro pretrain`), e.g. micro-base")
    ap.add_argument("--bench", required=True, help="the bench it was built on")
    ap.add_argument("--tasks", type=int, default=24, help="train tasks (two groups each)")
    ap.add_argument("--group", type=int, default=8)
    a = ap.parse_args()

    import torch

    from selfevolve_lab.exit.diversity import HashEmbedder, MiniLMEmbedder, StaticEmbedder, bonus

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    torch.set_num_threads(1)
    t = time.perf_counter()
    groups = sample_groups(a.base, a.bench, a.tasks, a.group)
    n = sum(len(g) for g in groups)
    distinct = np.mean([len(set(g)) for g in groups])
    print(f"{len(groups)} groups of {a.group} sampled from {a.base} in {time.perf_counter() - t:.0f} s "
          f"({distinct:.1f} distinct responses a group, {np.mean([len(x) for g in groups for x in g]):.0f} chars)")
    # MiniLM without its cache: every response embedded, as the other two do
    embedders = {"minilm": MiniLMEmbedder(cache=0).embed, "static": StaticEmbedder(), "hash": HashEmbedder()}
    d, cpu = {}, {}
    for name, embed in embedders.items():
        embed(["warm up"])  # loading is a one-off
        t = time.thread_time()
        d[name] = [bonus(embed(g)) for g in groups]
        cpu[name] = time.thread_time() - t
    print(f"{'embedder':<8} {'CPU ms/response':>16} {'vs minilm':>10} {'Spearman d_i':>13} {'mean |dd_i|':>12} "
          f"{'same top':>9} {'groups':>7}")
    for name in embedders:
        ms = 1000 * cpu[name] / n
        pairs = [(x, y) for x, y in zip(d["minilm"], d[name], strict=True) if np.ptp(x) > 0 and np.ptp(y) > 0]
        rho = np.nanmean([spearman(x, y) for x, y in pairs]) if pairs else float("nan")
        diff = np.mean([np.abs(x - y).mean() for x, y in zip(d["minilm"], d[name], strict=True)])
        top = np.mean([int(np.argmax(x) == np.argmax(y)) for x, y in pairs]) if pairs else float("nan")
        print(f"{name:<8} {ms:>16.2f} {cpu['minilm'] / cpu[name]:>9.0f}x {rho:>13.3f} {diff:>12.3f} {top:>9.2f} {len(pairs):>7}")
    print(f"(Spearman and same top over the groups whose d_i vary under both; MiniLM's mean d_i "
          f"{np.mean(d['minilm']):.3f})")


if __name__ == "__main__":
    main()
