"""Pretraining the micro-world's base from scratch: tokenizer, model, a plain PyTorch loop, progress metrics.

The loss is on the reply tokens, plus a small weight on the prompt's (names recur inside a prompt: the
package in "use `pkg` (import pkg)", each doc's name in its signature, so predicting them trains copying).
After a short warm-up the learning rate is constant, so the checkpoint at step N *is* the run with
``--steps N``: a long run can be stopped at any logged step and stay reproducible. Every
``log_every`` steps a continuous metric is logged to ``OUT/pretrain_log.jsonl``: on the subset's test_single
tasks, teacher-forced, the log-probability of the right reply and whether every reply token is the argmax
(greedy exact match) -- for the original library, open book on the bench's names, and closed book. Only
the log reads the bench's names; no gradient ever comes from them.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from selfevolve_lab.models import build_tokenizer


@dataclass
class PretrainConfig:
    apis: int = 48
    subset_seed: int = 0
    seed: int = 0
    steps: int = 3000
    batch: int = 16
    lr: float = 3e-3
    warmup: int = 50
    prompt_loss: float = 0.25  # weight of the prompt tokens' LM loss (they teach copying: names recur in docs)
    prompt_share: float = 0.3  # the share of prompt positions that loss samples (the output layer is costly)
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    vocab: int = 1536
    max_len: int = 640
    examples: int = 20_000
    weights: tuple[tuple[str, float], ...] = (("prior", 0.3), ("docs", 0.6), ("write", 0.05), ("revise", 0.05))
    focus: float = 0.8  # share of examples about the subset's APIs (the rest: the library's other functions)
    max_distractors: int = 2
    draft_seeds: tuple[int, ...] = (101, 102, 103)
    threads: int = 2
    log_every: int = 25
    doc_style: str = "summary"


def build_model(tok, cfg: PretrainConfig):
    import torch

    from selfevolve_lab.models.micro import MicroConfig, MicroForCausalLM

    newline = [i for i in range(len(tok)) if "\n" in tok.decode([i])]
    torch.manual_seed(cfg.seed)
    config = MicroConfig(vocab_size=len(tok), hidden_size=cfg.hidden, intermediate_size=cfg.hidden * 3,
                         num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
                         max_position_embeddings=4096, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=tok.eos_token_id, tie_word_embeddings=True, newline_ids=newline)
    return MicroForCausalLM(config)


def chat_text(messages: list[dict[str, str]]) -> str:
    """What CHAT_TEMPLATE renders with a generation prompt (rendering Jinja per example is the slow part)."""
    return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"


def encode(tok, messages: list[dict[str, str]], reply: str) -> tuple[list[int], int]:
    """Token ids of prompt + reply + eos, and where the reply starts."""
    return encode_many(tok, [(messages, reply)])[0]


def encode_many(tok, pairs: list[tuple[list[dict[str, str]], str]]) -> list[tuple[list[int], int]]:
    prompts = tok([chat_text(m) for m, _ in pairs], add_special_tokens=False)["input_ids"]
    replies = tok([r for _, r in pairs], add_special_tokens=False)["input_ids"]
    return [(p + r + [tok.eos_token_id], len(p)) for p, r in zip(prompts, replies, strict=True)]


def _batch(items: list[tuple[list[int], int]], pad: int):
    import torch

    t = max(len(ids) for ids, _ in items)
    ids = torch.full((len(items), t), pad, dtype=torch.long)
    am = torch.zeros((len(items), t), dtype=torch.long)
    target = torch.zeros((len(items), t), dtype=torch.bool)  # positions whose next token is a reply token
    for i, (seq, start) in enumerate(items):
        ids[i, : len(seq)] = torch.tensor(seq)
        am[i, : len(seq)] = 1
        target[i, start - 1: len(seq) - 1] = True
    return ids, am, target


def lm_loss(model, ids, am, target, prompt_weight: float, prompt_share: float = 1.0):
    """Mean next-token loss on reply tokens, plus ``prompt_weight`` times the mean on a random
    ``prompt_share`` of the prompt tokens."""
    import torch

    h = model.model(input_ids=ids, attention_mask=am, use_cache=False).last_hidden_state[:, :-1]
    nxt = ids[:, 1:]
    reply = target[:, :-1]
    loss = torch.nn.functional.cross_entropy(model.lm_head(h[reply]), nxt[reply])
    if prompt_weight > 0:
        prompt = am[:, 1:].bool() & ~reply & (torch.rand(reply.shape) < prompt_share)
        loss = loss + prompt_weight * torch.nn.functional.cross_entropy(model.lm_head(h[prompt]), nxt[prompt])
    return loss


def probe(model, sets: dict[str, list[tuple[list[int], int]]], pad: int) -> dict[str, dict[str, float]]:
    """Teacher-forced: mean reply log-prob per token, and the share of replies that greedy decoding reproduces."""
    import torch

    out = {}
    model.eval()
    with torch.no_grad():
        for name, items in sets.items():
            lp, exact = [], []
            for i in range(0, len(items), 16):
                chunk = items[i: i + 16]
                ids, am, target = _batch(chunk, pad)
                h = model.model(input_ids=ids, attention_mask=am, use_cache=False).last_hidden_state
                logits = model.lm_head(h).log_softmax(-1)
                for j, (seq, start) in enumerate(chunk):
                    pos = torch.arange(start - 1, len(seq) - 1)
                    tgt = ids[j, pos + 1]
                    row = logits[j, pos]
                    lp.append(row.gather(1, tgt[:, None]).mean().item())
                    exact.append(bool((row.argmax(-1) == tgt).all()))
            out[name] = {"logprob": round(sum(lp) / len(lp), 4), "exact": round(sum(exact) / len(exact), 4)}
    model.train()
    return out


def train(model, tok, data: list[tuple[list[int], int]], sets: dict, cfg: PretrainConfig, log_path: Path,
          on_log=None) -> dict:
    """The training loop. Deterministic given the seed (CPU). Returns timings and the last probe."""
    import torch

    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    rest = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
                            lr=cfg.lr, betas=(0.9, 0.98))

    def lr_at(step: int) -> float:
        return cfg.lr * min(1.0, (step + 1) / cfg.warmup)

    # batches of similar length waste less on padding: sort a shuffled window, then shuffle the batches
    order = list(range(len(data)))
    model.train()
    t0, tokens, last = time.perf_counter(), 0, {}
    with log_path.open("a") as log:
        for step in range(cfg.steps):
            if step % 50 == 0:
                idx = rng.sample(order, min(len(order), cfg.batch * 50))
                idx.sort(key=lambda i: len(data[i][0]))
                batches = [idx[i: i + cfg.batch] for i in range(0, len(idx), cfg.batch)]
                rng.shuffle(batches)
            items = [data[i] for i in batches[step % 50]]
            ids, am, target = _batch(items, tok.pad_token_id)
            loss = lm_loss(model, ids, am, target, cfg.prompt_loss, cfg.prompt_share)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            tokens += int(am.sum())
            if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
                last = {"step": step + 1, "loss": round(loss.item(), 4), "seconds": round(time.perf_counter() - t0, 1),
                        "tokens_per_s": round(tokens / (time.perf_counter() - t0)), **probe(model, sets, tok.pad_token_id)}
                log.write(json.dumps(last) + "\n")
                log.flush()
                if on_log:
                    on_log(last, model)
    return {"train_s": round(time.perf_counter() - t0, 1), "tokens": tokens, "last": last}


def config_json(cfg: PretrainConfig) -> dict:
    d = asdict(cfg)
    d["weights"] = dict(cfg.weights)
    return d


def probe_sets(bench, subset, tok, doc_style: str) -> dict[str, list[tuple[list[int], int]]]:
    """The subset's test_single tasks, teacher-forced: original library, open book and closed book."""
    from types import SimpleNamespace

    from selfevolve_lab.evaluate.prompts import Prompter
    from selfevolve_lab.micro.corpus import _identity
    from selfevolve_lab.micro.subset import answer, bench_names, signature_args

    names = bench_names(bench)
    original = Prompter(SimpleNamespace(package=bench.library), "closed")
    opened = Prompter(bench, "open", "task", doc_style=doc_style)
    closed = Prompter(bench, "closed")
    sets: dict[str, list] = {"original": [], "open": [], "closed": []}
    for t in subset.tasks["test_single"]:
        e, args = subset.exprs[t.id], signature_args(t)
        sets["original"].append(encode(tok, original.messages(t), answer(args, e, _identity, bench.library)))
        sets["open"].append(encode(tok, opened.messages(t), answer(args, e, names, bench.package)))
        sets["closed"].append(encode(tok, closed.messages(t), answer(args, e, names, bench.package)))
    return sets


def prepare(bench, cfg: PretrainConfig, log=print):
    """The subset, the tokenizer and the encoded corpus."""
    from selfevolve_lab.micro.corpus import CorpusBuilder, drafts
    from selfevolve_lab.micro.subset import choose_subset

    t0 = time.perf_counter()
    subset = choose_subset(bench, cfg.apis, cfg.subset_seed)
    log(f"subset chosen ({time.perf_counter() - t0:.0f} s)")
    pool = drafts(bench, list(cfg.draft_seeds))
    log(f"{len(pool)} drafts ({time.perf_counter() - t0:.0f} s)")
    chosen = {bench.mapping.get(a) for a in {a for d in pool for a in d.apis}} & set(subset.apis)
    rev = {v: k for k, v in bench.mapping.items()}
    prior_pool = [d for d in pool if d.apis[0] in {rev[a] for a in chosen}]
    builder = CorpusBuilder(bench, pool, doc_style=cfg.doc_style, seed=cfg.seed, max_distractors=cfg.max_distractors)
    weights = dict(cfg.weights)
    examples = []
    for _ in range(cfg.examples):
        # mostly the subset's kinds of tasks, and the rest of the library a little
        examples.append(builder.draw(weights, prior_pool if builder.rng.random() < cfg.focus else pool))
    log(f"{len(examples)} examples ({time.perf_counter() - t0:.0f} s)")
    texts = [m["content"] + "\n" + e.reply for e in examples[:8000] for m in e.messages]
    tok = build_tokenizer(texts, cfg.vocab)
    log(f"tokenizer ({time.perf_counter() - t0:.0f} s)")
    data = encode_many(tok, [(e.messages, e.reply) for e in examples])
    log(f"encoded ({time.perf_counter() - t0:.0f} s)")
    data = [d for d in data if len(d[0]) <= cfg.max_len]
    return subset, tok, data, examples
