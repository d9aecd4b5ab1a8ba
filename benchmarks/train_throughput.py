"""Training throughput, measured against baselines in the same run.

1. SFT tokens/s through `selfevolve_lab.train.sft` (TRL's SFTTrainer) against a bare PyTorch loop (AdamW, the same
   model, the same token batches, the same loss mask) on a micro-sized Llama. Target: >= 0.7x.
2. One Closed-RL step (`selfevolve_lab.train.rl`, GRPO over the judge) split into generation, reward and update,
   from the run's metrics.jsonl. Target: the reward's share of the step <= 10%.

    python benchmarks/train_throughput.py --bench demo-out/bench
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def sft_rows(bench, n: int):
    from selfevolve_lab.schema import Verdict
    from selfevolve_lab.train.data import SFTRecord, TaskPrompts, train_tasks

    prompts = TaskPrompts(bench)
    tasks = train_tasks(bench, limit=n)
    return tasks, [SFTRecord(task_id=t.id, prompt_open=prompts.messages(t, "open"),
                             prompt_closed=prompts.messages(t, "closed"), completion=f"```python\n{t.reference}```",
                             verdict=Verdict(task_id=t.id, passed=True, status="passed")) for t in tasks]


def bare_loop(model_dir: Path, batches: list[tuple[list[list[int]], list[list[int]]]], lr: float) -> tuple[float, int]:
    """AdamW over the given (input ids, labels) batches; returns (seconds after the first step, tokens after it)."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.01)
    t0, tokens = None, 0
    for i, (ids, labels) in enumerate(batches):
        if i == 1:
            t0 = time.perf_counter()
        n = max(len(x) for x in ids)
        inp = torch.tensor([x + [0] * (n - len(x)) for x in ids])
        lab = torch.tensor([y + [-100] * (n - len(y)) for y in labels])
        att = torch.tensor([[1] * len(x) + [0] * (n - len(x)) for x in ids])
        loss = model(input_ids=inp, attention_mask=att, labels=lab).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 1:
            tokens += sum(len(x) for x in ids)
    return time.perf_counter() - t0, tokens


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--tasks", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--rl-steps", type=int, default=3)
    args = ap.parse_args()

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.recipes import CLOSED_RL
    from selfevolve_lab.train.rl import RLHyper, train_rl
    from selfevolve_lab.train.run import CommonOptions
    from selfevolve_lab.train.sft import train_sft

    bench = Bench.open(args.bench)
    work = Path(tempfile.mkdtemp(prefix="train-bench-"))
    tasks, records = sft_rows(bench, args.tasks)
    corpus = [m["content"] for r in records for m in r.prompt_closed] + [r.completion for r in records]
    model = make_tiny_model(work / "model", corpus=corpus, hidden=args.hidden, layers=args.layers, vocab_size=2048)
    data = work / "data.jsonl"
    data.write_text("".join(r.model_dump_json() + "\n" for r in records))

    # 1. SFT through TRL; the batches it trained on are dumped, so the bare loop replays exactly those tokens.
    steps = args.tasks // args.batch
    opts = CommonOptions(lr=1e-5, epochs=1, batch_size=args.batch, save_steps=10_000, progress=False,
                         dump_batches=steps)
    t0 = time.perf_counter()
    train_sft(bench.root, str(model), data, "closed", work / "sft", opts)
    total = time.perf_counter() - t0
    metrics = [json.loads(line) for line in (work / "sft" / "metrics.jsonl").read_text().splitlines()]
    dumped = [json.loads(line) for line in (work / "sft" / "batches.jsonl").read_text().splitlines()]
    batches = []
    for s in range(1, steps + 1):
        recs = [r for r in dumped if r["step"] == s]
        ids, labels = [], []
        for r in recs:
            prompt = r["prompt_ids"]
            ids.append(prompt + r["completion_ids"])
            labels.append([-100] * len(prompt) + r["completion_ids"])
        batches.append((ids, labels))
    trl_time = sum(m["step_time"] for m in metrics[1:])
    trl_tokens = sum(len(x) for ids, _ in batches[1:] for x in ids)
    bare_time, bare_tokens = bare_loop(model, batches, 1e-5)
    trl_tps, bare_tps = trl_tokens / trl_time, bare_tokens / bare_time
    print(f"SFT, hidden {args.hidden} x {args.layers} layers, {steps} steps of {args.batch}:")
    print(f"  selfevolve train sft (TRL): {trl_tps:,.0f} tokens/s (whole command incl. setup: {total:.1f} s)")
    print(f"  bare PyTorch loop:          {bare_tps:,.0f} tokens/s")
    print(f"  ratio: {trl_tps / bare_tps:.2f}x (target >= 0.7x)")

    if args.rl_steps <= 0:
        return
    # 2. Closed-RL steps, split.
    hp = RLHyper(group=8, prompts_per_step=4, micro_batch=32, max_completion_length=64)
    train_rl(bench.root, str(model), CLOSED_RL, work / "rl", CommonOptions(lr=1e-6, max_steps=args.rl_steps,
                                                                        save_steps=10_000, progress=False), hp,
             tasks=tasks[:8])
    ms = [json.loads(line) for line in (work / "rl" / "metrics.jsonl").read_text().splitlines()]
    g, r, u = (sum(m[f"time_{k}"] for m in ms) for k in ("generation", "reward", "update"))
    step = g + r + u
    print(f"Closed-RL, {args.rl_steps} steps of 4 prompts x 8 (64 new tokens at most):")
    print(f"  per step: generation {g / len(ms):.2f} s, reward {r / len(ms):.3f} s, update {u / len(ms):.2f} s")
    print(f"  reward share: {100 * r / step:.1f}% (target <= 10%)")
    # The untrained model's completions mostly fail before the sandbox; time the reward on 32 that all run.
    from selfevolve_lab.judge import Judge

    batch = [tasks[i % 8] for i in range(32)]
    with Judge(bench) as judge:
        judge.reward([f"```python\n{t.reference}```" for t in batch[:4]], batch[:4])  # warm
        t0 = time.perf_counter()
        rewards = judge.reward([f"```python\n{t.reference}```" for t in batch], batch)
        runnable = time.perf_counter() - t0
    print(f"  reward of 32 completions that all run in the sandbox (the references, {sum(rewards):.0f} pass): "
          f"{runnable:.3f} s = {100 * runnable / (step / len(ms) - r / len(ms) + runnable):.1f}% of such a step "
          f"(target <= 10%)")


if __name__ == "__main__":
    main()
