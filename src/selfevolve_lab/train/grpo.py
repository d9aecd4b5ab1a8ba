"""The GRPO engine every RL recipe and ExIt run on: TRL's `GRPOTrainer` (trl==1.16.0, asserted) plus what SE-Bench
needs; the one module naming TRL's internals (`TRL_PRIVATE`, each pinned by `tests/test_train_grpo.py`).

What it adds, and where:
* **Rollouts from another prompt** (`docs_rollout`, TRL's public `rollout_func`): each sample is drawn
  from its task's *sampling* prompt (looked up by task id) and trained on its *training* prompt. The trainer builds the training
  sequence from the returned `prompt_ids`, so old log-probs, reference log-probs and the loss all use
  the training prompt. Open-RL: both are the prompt with docs; Closed-RL: sampled with docs, trained
  without. Generation goes through the trainer's own generator (plain `generate` on CPU, vLLM with
  `use_vllm`), so the laptop and the cluster run the same code.
* **Hooks on a training batch** (`_generate_and_score_completions`: TRL has no public hook to choose prompts
  at generation time or to reshape advantages): `prompt_hook(n_groups) -> [columns of each group]` before
  generation (ExIt's curriculum draws prompts then; TRL puts a prompt's copies next to each other, checked),
  and after TRL scores the batch, in order:
  1. `advantage_hook(advantages, view) -> advantages`, for callers such as ExIt's diversity bonus;
  2. truncated importance sampling (`tis_cap`): w_t = min(pi_old(y_t | no docs) / pi_sample(y_t | docs), C),
     per token by default (`tis_level="sequence"`: one weight exp(sum_t log-ratio), truncated). Both
     log-probs come from the trainer's model before the update, the sampling one on the sequence with
     docs. Without vLLM TRL ignores returned log-probs, so they are computed here;
  3. `positive_only`: samples with negative advantage are dropped: their tokens leave the loss and its
     normalizer (the token count for `dapo`; for the official `grpo` loss, a mean over rows, the kept rows
     are scaled by rows / kept rows of the generation batch: exact with one update per generation batch).
  A weight w >= 0 multiplies the advantage: for the clipped objective -min(r A, clip(r) A) that is the
  same as multiplying the per-token loss by w, so TRL's loss (`_compute_loss`) is used unchanged.
* **No clipping** (`no_clip`): the clip range is set to +-1e9, so TRL's clipped ratio equals the ratio.
  With one update per generation batch the ratio is exactly 1 and clipping never acts: `train_rl` refuses
  `--no-clip` there.
* **--dump-batches**: one record per trained sample of the first N steps, decoded from the exact ids.

The API: `make_config(...)`, `GRPOEngine(model=..., args=..., train_dataset=..., reward_funcs=[...],
rollout_func=..., prompt_hook=..., advantage_hook=..., ...)`, `judge_reward`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trl
from trl import GRPOConfig, GRPOTrainer

NO_CLIP = 1e9
SEQUENCE_MEAN_LOSSES = ("grpo", "sapo")  # TRL's losses that average per-sequence token means over the rows
TRL_VERSION = "1.16.0"  # the version tested (constraints.txt) whose private methods this module relies on
TRL_PRIVATE = ("_generate_and_score_completions", "_tokenize_prompts", "_generate_single_turn",
               "_get_per_token_logps_and_entropies")
# The extra admits TRL's patch releases of the tested series; another series, or one without these methods,
# is refused here rather than failing mid-run.
if (trl.__version__.rsplit(".", 1)[0] != TRL_VERSION.rsplit(".", 1)[0]
        or not all(callable(getattr(GRPOTrainer, n, None)) for n in TRL_PRIVATE)):
    raise ImportError(f"selfevolve's GRPO engine needs trl {TRL_VERSION} (pip install -c constraints.txt); "
                      f"found {trl.__version__}")


@dataclass
class RolloutView:
    """What an advantage hook sees of one local generation batch (rows in the trainer's order:
    groups of `num_generations` consecutive samples of the same prompt)."""

    rows: list[dict]  # the dataset rows (every column, e.g. task_id)
    completions: list[str]  # decoded completion texts
    rewards: list[float]  # the summed reward of each sample
    completion_ids: Any  # (B, T) tensor, right-padded
    completion_mask: Any  # (B, T) tensor


AdvantageHook = Callable[[Any, RolloutView], Any]
PromptHook = Callable[[int], list[dict]]  # groups in the batch -> the columns (prompt included) of each group


def tis_weights(old_logps, sampling_logps, mask, cap: float, level: str = "token"):
    """Truncated importance weights min(pi_old / pi_sample, C), per token (B, T) or per sequence (B, 1). Pure."""
    import torch

    diff = (old_logps - sampling_logps) * mask
    if level == "sequence":
        diff = diff.sum(-1, keepdim=True)
    elif level != "token":
        raise ValueError(f"tis level {level!r}: token or sequence")
    return torch.clamp(torch.exp(diff), max=cap) * (mask if level == "token" else 1)


def judge_reward(judge: Any, tasks_by_id: dict, timers: dict | None = None) -> Callable:
    """A TRL reward function over the judge: reward(completions, task_id) -> 0/1, the verdicts eval reports.
    Named `judge`, so TRL logs it as `rewards/judge/mean` (the pass rate)."""

    def judge_(prompts, completions, task_id, **_: Any) -> list[float]:
        t0 = time.perf_counter()
        out = judge.reward(completions, [tasks_by_id[t] for t in task_id])
        if timers is not None:
            timers["reward"] = timers.get("reward", 0.0) + time.perf_counter() - t0
        return out

    judge_.__name__ = "judge"
    return judge_


def docs_rollout(sampling_prompts: dict[str, list], timers: dict | None = None) -> Callable:
    """A TRL `rollout_func`: sample each row from its task's sampling prompt (``sampling_prompts[task_id]``),
    train on the row's prompt itself.

    TRL passes only the (training) prompts, one per sample, groups repeated as its sampler gives them; the
    rows they come from, in the same order, are the engine's `rollout_rows`. The task id, not the prompt's
    text, picks the sampling prompt: two tasks with the same closed prompt have different docs.
    Extra key `sampling_prompt_ids` reaches the reward functions and the engine (TIS, dumps).
    """

    def rollout(prompts: list, trainer: GRPOTrainer) -> dict:
        t0 = time.perf_counter()
        rows = trainer.rollout_rows
        if len(rows) != len(prompts) or any(r["prompt"] != p for r, p in zip(rows, prompts, strict=True)):
            raise RuntimeError(f"TRL {TRL_VERSION}'s rollout prompts are not its rows' prompts, in order")
        sampling = [sampling_prompts[r["task_id"]] for r in rows]
        train_ids, _, _ = trainer._tokenize_prompts(prompts)
        samp_ids, _, _ = trainer._tokenize_prompts(sampling)
        completion_ids, logprobs = trainer._generate_single_turn(samp_ids, None, {}, trainer.num_generations)
        if timers is not None:
            timers["generation"] = timers.get("generation", 0.0) + time.perf_counter() - t0
        return {"prompt_ids": [list(x) for x in train_ids], "completion_ids": [list(c) for c in completion_ids],
                "logprobs": logprobs, "sampling_prompt_ids": [list(x) for x in samp_ids]}

    return rollout


Respond = Callable[[list[str], str], tuple[str, "str | None"]]  # (earlier turns, reply) -> (kept, message | None)


def turns_rollout(respond: Respond, max_turns: int, timers: dict | None = None) -> Callable:
    """A TRL `rollout_func` for episodes with turns (`selfevolve_lab.exit.domain.Interactive`): each sample is
    the model's reply, then, while ``respond`` answers it, the environment's message as a user turn of the chat
    template and the model's next reply, up to ``max_turns`` replies and the trainer's max_completion_length
    tokens in all. The messages' tokens (the end of the reply's turn, the user turn, the next assistant header)
    are in the completion with ``env_mask`` 0, so the loss is on the model's own tokens only (TRL treats
    env_mask as its tool mask). A reply is kept up to where ``respond`` cut it (the tokens that decode to the
    kept text); the rest was sampled but is dropped, as a stop string would. A reply that ended its turn there
    (the end-of-turn token next) keeps that token as its own, so the model learns to stop after a call; one
    that wrote on gets the end of its turn from the environment. Extra keys, for the reward
    functions: ``turns`` (each sample's replies, as kept) and ``env_messages`` (the messages that answered them).
    """

    def rollout(prompts: list, trainer: GRPOTrainer) -> dict:
        t0 = time.perf_counter()
        tok = trainer.processing_class
        budget = trainer.max_completion_length
        prompt_ids = [list(x) for x in trainer._tokenize_prompts(prompts)[0]]
        n = len(prompt_ids)
        comp: list[list[int]] = [[] for _ in range(n)]
        mask: list[list[int]] = [[] for _ in range(n)]
        lps: list[list[float]] = [[] for _ in range(n)]
        turns: list[list[str]] = [[] for _ in range(n)]
        messages: list[list[str]] = [[] for _ in range(n)]
        active = list(range(n))
        new, new_lp = trainer._generate_single_turn(prompt_ids, None, {}, trainer.num_generations)
        while active:
            going = []
            for j, i in enumerate(active):
                ids = list(new[j])[: budget - len(comp[i])]
                lp = list(new_lp[j])[: len(ids)] if new_lp is not None else [0.0] * len(ids)
                reply = tok.decode(ids, skip_special_tokens=True)
                kept, message = respond(turns[i], reply)
                if message is not None and len(turns[i]) + 1 < max_turns:
                    k = _tokens_for(tok, ids, kept)
                    suffix = _env_ids(trainer, message)
                    rest, eos = ids[k:], tok.eos_token_id
                    if eos in rest and not tok.decode(rest[: rest.index(eos)], skip_special_tokens=True).strip():
                        ids = ids[: k + rest.index(eos) + 1]  # it ended its turn there: that token is its own
                        suffix = suffix[1:] if suffix[:1] == [eos] else suffix  # (the template's, where it is one)
                    else:
                        ids = ids[:k]  # it wrote on: the end of its turn is the environment's
                    kept = tok.decode(ids, skip_special_tokens=True)  # what the model reads on: its tokens' text
                    if len(comp[i]) + len(ids) + len(suffix) < budget:
                        comp[i] += ids + suffix
                        mask[i] += [1] * len(ids) + [0] * len(suffix)
                        lps[i] += lp[: len(ids)] + [0.0] * len(suffix)
                        turns[i].append(kept)
                        messages[i].append(message)
                        going.append(i)
                        continue
                    reply = kept  # no room for the message: the episode ends with the cut reply
                comp[i] += ids
                mask[i] += [1] * len(ids)
                lps[i] += lp[: len(ids)]
                turns[i].append(kept if message is None else reply)
            active = going
            if active:
                new, new_lp = trainer._generate_single_turn([prompt_ids[i] + comp[i] for i in active], None, {}, 1)
        if timers is not None:
            timers["generation"] = timers.get("generation", 0.0) + time.perf_counter() - t0
        return {"prompt_ids": prompt_ids, "completion_ids": comp,
                "logprobs": lps if new_lp is not None else None, "env_mask": mask,
                "turns": turns, "env_messages": messages}

    return rollout


def _tokens_for(tok: Any, ids: list[int], text: str) -> int:
    """How many of ``ids`` decode to at least ``text`` (a prefix of their decoding)."""
    for k in range(1, len(ids) + 1):
        if len(tok.decode(ids[:k], skip_special_tokens=True)) >= len(text):
            return k
    return len(ids)


@functools.lru_cache(maxsize=4096)
def _env_suffix(tok: Any, message: str) -> tuple[int, ...]:
    """The chat template's tokens after an assistant reply's text: the end of its turn, the user turn with
    ``message``, and the next assistant header (rendered on a stand-in chat, as TRL does for tool results)."""
    mark = "\u2063"  # a reply's stand-in text that no template writes itself
    chat = [{"role": "user", "content": "x"}, {"role": "assistant", "content": mark}]
    before = tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=False)
    after = tok.apply_chat_template(chat + [{"role": "user", "content": message}], tokenize=False,
                                    add_generation_prompt=True)
    end = before.rindex(mark) + len(mark)
    if after[:end] != before[:end]:
        raise RuntimeError("the chat template renders an earlier turn differently once a turn follows it")
    return tuple(tok(after[end:], add_special_tokens=False)["input_ids"])


def _env_ids(trainer: GRPOTrainer, message: str) -> list[int]:
    return list(_env_suffix(trainer.processing_class, message))


def make_config(*, lr: float, group: int, prompts_per_step: int, mini_batch_prompts: int,
                micro_batch: int, clip: float, no_clip: bool, beta: float, temperature: float, epochs: float,
                max_completion_length: int, optim: Any, shuffle: bool, ppo_epochs: int = 1, world: int | None = None,
                **kw: Any) -> GRPOConfig:
    """GRPOConfig from the paper's quantities: prompts per step x group completions, updated in mini-batches,
    ``ppo_epochs`` passes over each generation batch; ``optim`` (`rl.RLOptim`) gives the optimizer and loss.

    Every size here is global, the recipe's whatever the number of processes (``world``, default the launched
    one): TRL's generation batch is per device x processes x steps_per_generation, so each process gets
    1/world of every step and of every update, in forward passes of at most ``micro_batch`` sequences."""
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.train.run import split, world_size

    world = world_size() if world is None else world
    per_step = prompts_per_step * group
    per_update = mini_batch_prompts * group
    local_update = split(per_update, f"an update's {mini_batch_prompts} prompts x {group} completions", world)
    micro = min(micro_batch, local_update)
    if per_step % per_update or local_update % micro:
        raise UserError(f"{prompts_per_step} prompts x {group} per step, mini-batches of {mini_batch_prompts} "
                        f"prompts and micro-batches of {micro_batch} on {world} processes do not divide")
    eps = NO_CLIP if no_clip else clip
    args = GRPOConfig(learning_rate=lr, num_generations=group, per_device_train_batch_size=micro,
                      gradient_accumulation_steps=local_update // micro,
                      steps_per_generation=per_step // (micro * world), num_iterations=ppo_epochs,
                      epsilon=eps, epsilon_high=eps, beta=beta, temperature=temperature, num_train_epochs=epochs,
                      max_completion_length=max_completion_length, scale_rewards="group",
                      vllm_importance_sampling_correction=False,  # the recipe's own correction, below
                      remove_unused_columns=False, shuffle_dataset=shuffle, **optim.trl(), **kw)
    if args.world_size != world:  # TRL sizes its batches by the processes it sees: they must be these
        raise RuntimeError(f"sized for {world} processes, TRL sees {args.world_size}")
    return args


def batch_sizes(args: GRPOConfig) -> dict:
    """What a run's config.json records of its batches: the global sizes and each process's share (from
    the config TRL trains with)."""
    world, g = args.world_size, args.num_generations
    update = args.per_device_train_batch_size * args.gradient_accumulation_steps
    return {"prompts_per_step": args.generation_batch_size // g, "sequences_per_step": args.generation_batch_size,
            "sequences_per_update": update * world,
            "per_device": {"sequences_per_step": args.generation_batch_size // world, "sequences_per_update": update,
                           "micro_batch": args.per_device_train_batch_size,
                           "grad_accum": args.gradient_accumulation_steps}}


class GRPOEngine(GRPOTrainer):
    """TRL's GRPOTrainer with prompt and advantage hooks (on training batches only), TIS weights, positive-only
    and batch dumps."""

    def __init__(self, *args: Any, prompt_hook: PromptHook | None = None, advantage_hook: AdvantageHook | None = None,
                 tis_cap: float | None = None,
                 tis_level: str = "token", positive_only: bool = False, dump_path: Path | None = None,
                 dump_steps: int = 0, timers: dict | None = None, **kw: Any):
        funcs = kw.get("reward_funcs")
        funcs = funcs if isinstance(funcs, list) else [funcs]
        self._rewards_seen: list[list[float]] = []
        self.rollout_rows: list[dict] = []  # the rows of the batch being generated, for `docs_rollout`
        kw["reward_funcs"] = [self._recording(f) if callable(f) and not isinstance(f, str) else f for f in funcs]
        super().__init__(*args, **kw)
        self.prompt_hook, self.advantage_hook = prompt_hook, advantage_hook
        self.tis_cap, self.tis_level = tis_cap, tis_level
        self.positive_only, self.dump_path, self.dump_steps = positive_only, dump_path, dump_steps
        self.timers = timers if timers is not None else {}
        self.negative_shares: list[float] = []  # per generation batch since the last log

    def log(self, logs: dict, *args: Any, **kw: Any) -> None:
        """Trainer.log, with the share of trained tokens that had a negative advantage (mean since the last log)."""
        if self.negative_shares and "loss" in logs:
            logs["negative_share"] = sum(self.negative_shares) / len(self.negative_shares)
            self.negative_shares = []
        super().log(logs, *args, **kw)

    def _recording(self, f: Callable) -> Callable:
        @functools.wraps(f)
        def wrapped(*a: Any, **kw: Any):
            out = f(*a, **kw)
            self._rewards_seen.append([float("nan") if r is None else float(r) for r in out])
            return out

        return wrapped

    def _logps(self, prompt_ids_list: list[list[int]], completion_ids, completion_mask):
        """Per-token log-probs of the completion after each prompt, with TRL's own function (same numerics)."""
        import torch
        from trl.trainer.utils import pad

        device = completion_ids.device
        p = pad([torch.tensor(x) for x in prompt_ids_list], padding_value=self.processing_class.pad_token_id,
                padding_side="left").to(device)
        pm = pad([torch.ones(len(x), dtype=torch.long) for x in prompt_ids_list], padding_value=0,
                 padding_side="left").to(device)
        with torch.no_grad():
            logps, _, _ = self._get_per_token_logps_and_entropies(
                self.model, torch.cat([p, completion_ids], 1), torch.cat([pm, completion_mask], 1),
                completion_ids.size(1), batch_size=self.args.per_device_train_batch_size)
        return logps

    def _generate_and_score_completions(self, inputs: list[dict]) -> dict:
        self._rewards_seen = []
        self.rollout_rows = inputs
        if self.prompt_hook is not None and self.model.training:
            g = self.num_generations
            if len(inputs) % g or any(inputs[i] != inputs[i - i % g] for i in range(len(inputs))):
                raise RuntimeError(f"TRL {TRL_VERSION} puts a prompt's copies next to each other; this one does not")
            columns = self.prompt_hook(len(inputs) // g)
            for i, row in enumerate(inputs):
                row.update(columns[i // g])
        step = self.state.global_step
        out = super()._generate_and_score_completions(inputs)
        lengths = out["completion_mask"].sum(1).tolist()  # as generated, before positive-only drops any
        out = self.reweight(out, inputs)
        if self.dump_path is not None and step < self.dump_steps:
            self._dump(step + 1, inputs, out, lengths)
        return out

    def reweight(self, out: dict, inputs: list[dict]) -> dict:
        """The recipe's changes to a scored batch, in order: advantage hook, TIS weights, positive-only.
        Weights are folded into the advantages ((B,) -> (B, T)); see the module docstring for why that is exact."""
        import torch

        mask = out["completion_mask"]
        adv = out["advantages"]
        rewards = [sum(v) for v in zip(*self._rewards_seen, strict=True)] if self._rewards_seen else [None] * len(adv)
        if self.advantage_hook is not None and self.model.training:
            texts = self.processing_class.batch_decode(out["completion_ids"], skip_special_tokens=True)
            adv = self.advantage_hook(adv, RolloutView(rows=inputs, completions=texts, rewards=rewards,
                                                       completion_ids=out["completion_ids"], completion_mask=mask))
        per_sample = adv if adv.dim() == 1 else adv[:, 0]
        weights = torch.ones_like(mask, dtype=torch.float32)
        if self.tis_cap is not None:
            train_prompts = [ids[m.bool()].tolist() for ids, m in zip(out["prompt_ids"], out["prompt_mask"], strict=True)]
            old = out.get("old_per_token_logps")
            if old is None:
                old = self._logps(train_prompts, out["completion_ids"], mask)
                out["old_per_token_logps"] = old  # pi_old on the training (no-doc) sequence, as the loss uses
            samp = self._logps([r["sampling_prompt_ids"] for r in inputs], out["completion_ids"], mask)
            weights = weights * tis_weights(old, samp, mask, self.tis_cap, self.tis_level)
        keep = torch.ones_like(per_sample, dtype=torch.float32)
        if self.positive_only:
            keep = per_sample.ge(0).float()
            out["completion_mask"] = mask = mask * keep.long().unsqueeze(1)
            out["num_items_in_batch"] = self.accelerator.gather(mask.sum()).sum()  # dapo's token normalizer
        scale = 1.0
        if self.positive_only and self.loss_type in SEQUENCE_MEAN_LOSSES:
            # these losses average over every row: dropped rows would still count, so the kept ones are scaled
            n, k = self.accelerator.gather(torch.tensor([float(len(keep)), keep.sum().item()], device=keep.device)
                                           ).view(-1, 2).sum(0).tolist()
            scale = n / max(k, 1.0)
        weights = weights * keep.unsqueeze(1) * mask * scale
        if self.model.training:  # what the RL Gap's ablations act on: the trained tokens that push probability down
            trained = (mask * keep.unsqueeze(1)).float()
            neg = self.accelerator.gather(torch.stack([(trained * per_sample.lt(0).float().unsqueeze(1)).sum(),
                                                       trained.sum()])).view(-1, 2).sum(0).tolist()
            self.negative_shares.append(neg[0] / max(neg[1], 1.0))
        if self.tis_cap is not None or self.positive_only:
            adv = (adv.unsqueeze(1) if adv.dim() == 1 else adv) * weights
        out["advantages"] = adv
        self._last = {"advantage": per_sample.tolist(), "reward": rewards, "weights": weights, "keep": keep.tolist()}
        return out

    def _dump(self, step: int, inputs: list[dict], out: dict, lengths: list[int]) -> None:
        from selfevolve_lab.jsonl import append_jsonl

        dec, last = self.processing_class.decode, self._last
        recs = []
        for i, row in enumerate(inputs):
            pids = out["prompt_ids"][i][out["prompt_mask"][i].bool()].tolist()
            cids = out["completion_ids"][i][: lengths[i]].tolist()
            sids = row.get("sampling_prompt_ids", pids)
            w = last["weights"][i][: lengths[i]].tolist()
            recs.append({"step": step, "task_id": row.get("task_id"), "sampling_prompt": dec(sids),
                         "training_prompt": dec(pids), "completion": dec(cids), "reward": last["reward"][i],
                         "advantage": last["advantage"][i],
                         "weight": last["keep"][i] * (sum(w) / len(w) if w else 1.0),
                         "token_weights": w, "prompt_ids": pids, "sampling_prompt_ids": sids, "completion_ids": cids})
        if self.accelerator.num_processes > 1:  # every process's rows, in rank order (the generation batch's)
            from accelerate.utils import gather_object

            recs = gather_object(recs)
        if self.accelerator.is_main_process:
            append_jsonl(self.dump_path, recs)


