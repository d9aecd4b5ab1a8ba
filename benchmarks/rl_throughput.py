"""The micro-world's RL step against a bare PyTorch loop, measured in the same run (issue 26, item 6).

`selfevolve_lab.train.rl` trains Closed-RL at the micro-world's RL scale (8 prompts x 8 samples, T=1.0, the
micro base, its summary docs) for a few steps and dumps the batches it trained on. The bare loop replays
each step's work on the same model: batched KV-cache sampling (`model.generate`, left-padded, T=1.0) from the
same sampling prompts (with docs) to the same length limit, then one AdamW update over the sampled batch on
the training prompts (without docs), in the recipe's micro-batches. The reward (the judge) is not part of
either: it is the same call in both, measured by `benchmarks/train_throughput.py`. Throughput is completion
tokens (sampled and trained) per second of generation plus update; the first step of each is warm-up.
Target: the RL step's throughput >= 0.7x the bare loop's.

    python benchmarks/rl_throughput.py --bench MICRO_BENCH [--base micro-base] [--steps 6]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def bare_steps(model_dir: str, steps: list[list[dict]], *, max_new: int, micro: int, lr: float, pad: int,
               eos: int) -> tuple[float, int]:
    """(seconds, completion tokens) of the bare loop over ``steps`` after the first (warm-up)."""
    import torch
    from transformers import AutoModelForCausalLM

    import selfevolve_lab.models.micro  # noqa: F401  registers the micro model class

    model = AutoModelForCausalLM.from_pretrained(model_dir)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    total, tokens = 0.0, 0
    for i, recs in enumerate(steps):
        t0 = time.perf_counter()
        prompts = [r["sampling_prompt_ids"] for r in recs]
        n = max(map(len, prompts))
        ids = torch.tensor([[pad] * (n - len(p)) + p for p in prompts])
        att = torch.tensor([[0] * (n - len(p)) + [1] * len(p) for p in prompts])
        model.eval()
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=att, do_sample=True, temperature=1.0, top_k=0,
                                 max_new_tokens=max_new, pad_token_id=pad, eos_token_id=eos, use_cache=True)
        completions = []
        for row in out[:, n:].tolist():
            k = row.index(eos) + 1 if eos in row else len(row)
            completions.append(row[:k])
        model.train()
        seqs = [r["prompt_ids"] + c for r, c in zip(recs, completions, strict=True)]
        for b in range(0, len(seqs), micro):
            chunk, comp = seqs[b:b + micro], completions[b:b + micro]
            m = max(map(len, chunk))
            x = torch.tensor([s + [pad] * (m - len(s)) for s in chunk])
            a = torch.tensor([[1] * len(s) + [0] * (m - len(s)) for s in chunk])
            y = torch.tensor([[-100] * (len(s) - len(c)) + c + [-100] * (m - len(s)) for s, c in zip(chunk, comp,
                                                                                                  strict=True)])
            loss = model(input_ids=x, attention_mask=a, labels=y).loss * len(chunk) / len(seqs)
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i:
            total += time.perf_counter() - t0
            tokens += sum(map(len, completions))
    return total, tokens


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--base", default=str(Path(__file__).resolve().parents[1] / "micro-base"))
    ap.add_argument("--steps", type=int, default=6)
    a = ap.parse_args()

    import torch
    from transformers import AutoTokenizer

    from selfevolve_lab.micro.base import DOC_STYLE
    from selfevolve_lab.micro.experiment import MicroRunScale
    from selfevolve_lab.train.recipes import CLOSED_RL
    from selfevolve_lab.train.rl import train_rl
    from selfevolve_lab.train.run import CommonOptions

    torch.set_num_threads(1)
    hp = MicroRunScale().rl()
    run = Path(tempfile.mkdtemp(prefix="rl-bench-")) / "rl"
    opts = CommonOptions(max_steps=a.steps, seed=0, save_steps=10_000, progress=False, dump_batches=a.steps)
    train_rl(Path(a.bench), a.base, CLOSED_RL, run, opts, hp, doc_style=DOC_STYLE)
    ms = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()][1:]
    dumped = [json.loads(line) for line in (run / "batches.jsonl").read_text().splitlines()]
    steps = [[r for r in dumped if r["step"] == s] for s in range(1, a.steps + 1)]
    rl_s = sum(m["time_generation"] + m["time_update"] for m in ms)
    rl_tokens = sum(len(r["completion_ids"]) for recs in steps[1:] for r in recs)
    tok = AutoTokenizer.from_pretrained(a.base)
    bare_s, bare_tokens = bare_steps(a.base, steps, max_new=hp.max_completion_length, micro=hp.micro_batch,
                                     lr=hp.lr, pad=tok.pad_token_id, eos=tok.eos_token_id)
    rl_tps, bare_tps = rl_tokens / rl_s, bare_tokens / bare_s
    print(f"Closed-RL at the micro scale ({hp.prompts_per_step} prompts x {hp.group}, up to "
          f"{hp.max_completion_length} new tokens, micro-batches of {hp.micro_batch}), {a.steps - 1} timed steps:")
    print(f"  selfevolve train rl (TRL): {rl_s / (a.steps - 1):.2f} s per step without the reward, "
          f"{rl_tps:,.0f} completion tokens/s")
    print(f"  bare PyTorch loop:         {bare_s / (a.steps - 1):.2f} s per step, {bare_tps:,.0f} completion tokens/s")
    print(f"  ratio: {rl_tps / bare_tps:.2f}x (target >= 0.7x)")


if __name__ == "__main__":
    main()
