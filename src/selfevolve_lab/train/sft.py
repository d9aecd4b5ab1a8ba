"""Open-SFT and Closed-SFT on TRL's `SFTTrainer` (`selfevolve train sft`).

The data are rejection-sampled answers generated *with* docs (`selfevolve train data`). The two recipes
differ in one line, `prompt_for` below:

| recipe     | trains on                      | completion                 |
|------------|--------------------------------|----------------------------|
| Open-SFT   | `prompt_open`  (with docs)     | the same completion tokens |
| Closed-SFT | `prompt_closed` (without docs) | the same completion tokens |

Prompt-completion rows in the model's chat template; the loss covers the completion tokens only (TRL's
`completion_only_loss`, on for prompt-completion data): the prompt's labels are -100. Defaults are the
official ones (SE-Bench's verl SFT, `sft_trainer.yaml` and `provided-*-SFT.sh`): lr 1e-5, 4 epochs, AdamW
betas (0.9, 0.95), weight decay 0.01, cosine schedule with 10% warmup, a global batch of 32, sequences of
at most 20,000 tokens with truncation an error (`truncation: error`). An example longer than that is
refused unless ``truncate`` (`--truncate`), which cuts its end as TRL's `keep_start` does (and drops one
left with no completion token); either way the counts are in RUN/stats.json. RUN/model is a plain HF
directory that `selfevolve eval` accepts (with `--lora`, the adapter, which eval merges into its base).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import atomic_write_text
from selfevolve_lab.train.recipes import MODES
from selfevolve_lab.train.run import CommonOptions


@dataclass
class SFTHyper:
    lr: float = 1e-5
    epochs: float = 4.0
    adam_betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.01
    schedule: str = "cosine"
    warmup_ratio: float = 0.1
    batch_size: int = 32  # global (verl's train_batch_size): per device = batch_size / (devices x grad_accum)
    grad_accum: int = 1
    max_length: int = 20_000  # tokens of prompt + completion (the official scripts' data.max_length)
    truncate: bool = False  # False: an example over max_length is an error (the official truncation: error)

    def per_device(self, world: int) -> int:
        if self.batch_size % (world * self.grad_accum):
            raise UserError(f"a global batch of {self.batch_size} does not split over {world} processes x "
                            f"{self.grad_accum} accumulation steps; launch a number of processes that divides it")
        return self.batch_size // (world * self.grad_accum)

    def sizes(self, world: int) -> dict:
        """What config.json records of the batch: the global one and each process's share."""
        return {"global": self.batch_size, "per_device": self.per_device(world), "grad_accum": self.grad_accum}


def prompt_for(record: Any, mode: str) -> list[dict[str, str]]:
    """What each recipe trains on: the only difference between Open-SFT and Closed-SFT."""
    return record.prompt_open if mode == "open" else record.prompt_closed


def rows(records: list, mode: str, end: str = "") -> list[dict[str, Any]]:
    return [{"task_id": r.task_id, "prompt": prompt_for(r, mode), "sampling_prompt": r.prompt_open,
             "completion": [{"role": "assistant", "content": r.completion + end}]} for r in records]


def turn_end(tok) -> str:
    """What to append to a completion so that the model learns to stop: the EOS token where the chat
    template does not end an assistant turn with it (a template that does, such as Qwen's, gets nothing)."""
    probe = tok.apply_chat_template([{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
                                    tokenize=False)
    tail = probe[probe.rindex("a") + 1:]
    return "" if tok.eos_token in tail else tok.eos_token


def load_tokenizer(model: str):
    """The model's tokenizer, or one line of bad input."""
    from transformers import AutoTokenizer

    import selfevolve_lab.models.micro  # noqa: F401  registers the micro-world's model class, so TRL loads a micro base

    if not Path(model).is_dir():
        raise UserError(f"model {model}: no such local directory")
    try:
        tok = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"model {model}: no usable tokenizer ({str(e).splitlines()[0][:200]})") from None
    if tok.chat_template is None:
        raise UserError(f"model {model}: its tokenizer has no chat template")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


class DumpingCollator:
    """Wraps TRL's collator: writes what each of the first N batches really trains on, decoded from its ids.

    The k-th batch collated is the k-th micro-batch trained (the loader's look-ahead collates early, never
    out of order); with gradient accumulation G, optimizer step s holds batches (s-1)G+1 .. sG.
    """

    def __init__(self, inner, tok, path: Path, steps: int, grad_accum: int):
        self.inner, self.tok, self.path, self.limit, self.g, self.n = inner, tok, path, steps * grad_accum, grad_accum, 0

    def __call__(self, examples: list[dict]) -> dict:
        batch = self.inner([{k: e[k] for k in ("input_ids", "labels", "seq_lengths") if k in e} for e in examples])
        if self.n < self.limit:
            step = self.n // self.g + 1
            recs = []
            for e in examples:
                ids, labels = e["input_ids"], e.get("labels") or e["input_ids"]
                prompt = [t for t, lab in zip(ids, labels, strict=True) if lab == -100]
                completion = [t for t, lab in zip(ids, labels, strict=True) if lab != -100]
                sampling = self.tok.apply_chat_template(e["sampling_prompt"], tokenize=False, add_generation_prompt=True)
                recs.append({"step": step, "task_id": e["task_id"], "sampling_prompt": sampling,
                             "training_prompt": self.tok.decode(prompt), "completion": self.tok.decode(completion),
                             "reward": 1.0, "advantage": None, "weight": 1.0,
                             "prompt_ids": prompt, "completion_ids": completion, "loss_mask": [int(lab != -100) for lab in labels]})
            with open(self.path, "a", encoding="utf-8") as f:  # a diagnostic: flushed, not synced, per batch
                f.write("".join(json.dumps(r) + "\n" for r in recs))
        self.n += 1
        return batch


def lengths(tok, examples: list[dict], max_length: int) -> dict:
    """How ``max_length`` treats the examples, tokenized as TRL does (prompt-completion in the chat template;
    the completion starts where the prompt alone and the whole diverge): `truncated` lose completion tokens
    to TRL's `keep_start`, `dropped` lose all of them (TRL then removes the example)."""
    truncated = dropped = longest = 0
    for e in examples:
        whole = tok.apply_chat_template(e["prompt"] + e["completion"], tokenize=True, return_dict=True)["input_ids"]
        prompt = tok.apply_chat_template(e["prompt"], tokenize=True, return_dict=True,
                                         add_generation_prompt=True)["input_ids"]
        start = next((i for i, (a, b) in enumerate(zip(prompt, whole, strict=False)) if a != b),
                     min(len(prompt), len(whole)))
        longest = max(longest, len(whole))
        if len(whole) > max_length and start < len(whole):
            truncated += 1
            dropped += start >= max_length
    return {"examples": len(examples), "max_length": max_length, "longest": longest, "truncated": truncated,
            "dropped": dropped}


def train_sft(bench_dir: Path, model: str, data: Path, mode: str, out: Path, opts: CommonOptions,
              hp: SFTHyper | None = None) -> dict:
    """Run one SFT recipe to RUN/model. Bad input is refused before RUN is touched."""
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.train.data import read_data
    from selfevolve_lab.train.run import world_size

    if mode not in MODES:
        raise UserError(f"--mode {mode!r}: choose open or closed")
    hp = hp or SFTHyper()
    if opts.lr is not None:
        hp.lr = opts.lr
    if opts.epochs is not None:
        hp.epochs = opts.epochs
    if opts.batch_size:
        hp.batch_size = opts.batch_size
    world = world_size()
    per_device = hp.per_device(world)
    if opts.dump_batches and world > 1:
        raise UserError("--dump-batches writes one process's batches; dump on one process")
    Bench.open(bench_dir)
    records = read_data(data, opts.limit)
    tok = load_tokenizer(model)
    examples = rows(records, mode, turn_end(tok))
    fit = lengths(tok, examples, hp.max_length)
    if fit["dropped"] == fit["examples"]:
        raise UserError(f"every {mode}-sft example's completion starts beyond {hp.max_length} tokens; "
                        f"raise --max-length")
    if fit["truncated"] and not hp.truncate:
        raise UserError(f"{fit['truncated']} of {fit['examples']} {mode}-sft examples exceed {hp.max_length} tokens "
                        f"(longest {fit['longest']}) and would lose completion tokens; raise --max-length or "
                        f"pass --truncate")

    import datasets
    from trl import SFTConfig, SFTTrainer

    from selfevolve_lab.train.run import (
        is_main,
        metrics_callback,
        model_and_peft,
        open_run,
        quiet,
        require_steps,
        tracking,
        trainer_args,
    )

    opts.check_start(model)
    config = {"recipe": f"{mode}-sft", "bench": str(Path(bench_dir).resolve()), "model": str(model),
              "data": str(Path(data).resolve()), "mode": mode, "hyper": asdict(hp), **asdict(opts),
              "world_size": world, "batch": hp.sizes(world)}
    run, ckpt = open_run(out, config, opts)
    if is_main():
        atomic_write_text(run.root / "stats.json", json.dumps(fit, indent=1) + "\n")
    args = SFTConfig(**trainer_args(opts, run.checkpoints), learning_rate=hp.lr, num_train_epochs=hp.epochs,
                     adam_beta1=hp.adam_betas[0], adam_beta2=hp.adam_betas[1], weight_decay=hp.weight_decay,
                     lr_scheduler_type=hp.schedule, warmup_steps=hp.warmup_ratio,
                     per_device_train_batch_size=per_device, gradient_accumulation_steps=hp.grad_accum,
                     max_length=hp.max_length, truncation_mode="keep_start", completion_only_loss=True,
                     remove_unused_columns=False, packing=False, dataset_num_proc=None)
    quiet(opts.progress)
    start, peft_config = model_and_peft(model, opts)
    with tracking(run, opts):
        trainer = SFTTrainer(model=start, args=args, train_dataset=datasets.Dataset.from_list(examples),
                             processing_class=tok, callbacks=[metrics_callback(run)], peft_config=peft_config)
        if len(trainer.train_dataset) != fit["examples"] - fit["dropped"]:  # our count is TRL's, or we say so
            raise RuntimeError(f"TRL kept {len(trainer.train_dataset)} of {fit['examples']} examples; "
                               f"{fit['dropped']} were counted as dropped")
        quiet(opts.progress, trainer)
        if opts.dump_batches and ckpt is None:
            trainer.data_collator = DumpingCollator(trainer.data_collator, tok, run.batches_path, opts.dump_batches,
                                                    hp.grad_accum)
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
    require_steps(trainer)
    run.save_final(trainer)
    return {"run": str(run.root), "steps": trainer.state.global_step, "records": len(records), **fit}
