"""Time per stage of `selfevolve micro pretrain`, and training tokens/s against a bare PyTorch loop.

Usage: python benchmarks/micro_pretrain.py BENCH [--steps 30] [--examples 2000]

The bare loop is the textbook one on the same model and the same batches: ``model(input_ids, attention_mask,
labels)`` with the reply tokens as labels (full-vocabulary logits at every position), AdamW, no probes.
Ours computes the output layer only where a loss is taken. The ratio is measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from selfevolve_lab.bench import Bench
from selfevolve_lab.micro.pretrain import PretrainConfig, _batch, build_model, lm_loss, prepare


def _batches(data, cfg, steps):
    import random

    rng = random.Random(0)
    return [_batch(rng.sample(data, cfg.batch), 0) for _ in range(steps)]


def ours(model, batches, cfg) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    t0 = time.perf_counter()
    for ids, am, target in batches:
        loss = lm_loss(model, ids, am, target, cfg.prompt_loss, cfg.prompt_share)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def bare(model, batches, cfg) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    t0 = time.perf_counter()
    for ids, am, target in batches:
        labels = torch.where(torch.cat([torch.zeros_like(target[:, :1]), target[:, :-1]], 1), ids, -100)
        loss = model(input_ids=ids, attention_mask=am, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", type=Path)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--examples", type=int, default=2000)
    args = ap.parse_args()
    cfg = PretrainConfig(examples=args.examples)
    torch.set_num_threads(cfg.threads)
    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def log(msg: str) -> None:
        now = time.perf_counter()
        stages[msg.split(" (")[0]] = now - last[0]
        last[0] = now

    subset, tok, data, _ = prepare(Bench.open(args.bench), cfg, log)
    for name, s in stages.items():
        print(f"stage {name:>24}: {s:6.1f} s")
    batches = _batches(data, cfg, args.steps)
    tokens = sum(int(am.sum()) for _, am, _ in batches)
    torch.manual_seed(0)
    t_ours = ours(build_model(tok, cfg), batches, cfg)
    torch.manual_seed(0)
    t_bare = bare(build_model(tok, cfg), batches, cfg)
    print(f"training, {args.steps} steps of {cfg.batch}: ours {tokens / t_ours:,.0f} tokens/s, bare PyTorch loop "
          f"{tokens / t_bare:,.0f} tokens/s; ratio {t_bare / t_ours:.2f}x (>1: ours is faster)")


if __name__ == "__main__":
    main()
