"""What each recipe really trains on, shown with --dump-batches and on fixed batches (tiny model, small bench)."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from selfevolve_lab.train.recipes import CLOSED_RL, RL_RECIPES
from train_fixtures import corpus_of, make_small_bench, one_torch_thread, read_batches  # noqa: F401

DOCS_MARK = "Documentation of the `zwc` library"


@pytest.fixture(scope="module")
def small(mini_bench, tmp_path_factory):
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.data import train_tasks

    root = tmp_path_factory.mktemp("train-sem")
    bench = make_small_bench(mini_bench.root, root / "bench")
    tasks = train_tasks(bench)
    model = make_tiny_model(root / "model", corpus=corpus_of(bench, tasks), hidden=32, vocab_size=600)
    return bench, tasks, model, root


def _opts(**kw):
    from selfevolve_lab.train.run import CommonOptions

    base = dict(max_steps=1, lr=1e-3, force=True, dump_batches=1, progress=False, save_steps=1000, limit=2)
    return CommonOptions(**{**base, **kw})


def _hp(**kw):
    from selfevolve_lab.train.rl import RLHyper

    return RLHyper(**{**dict(group=2, prompts_per_step=2, micro_batch=4, max_completion_length=12), **kw})


def test_closed_rl_samples_with_docs_and_trains_without(small):
    from selfevolve_lab.train.rl import train_rl

    bench, tasks, model, root = small
    run = root / "closed-tis"
    train_rl(bench.root, str(model), RL_RECIPES["closed_rl_tis"], run, _opts(), _hp())
    recs = read_batches(run)
    assert len(recs) == 4 and {r["step"] for r in recs} == {1}
    by_id = {t.id: t for t in tasks}
    for r in recs:
        assert DOCS_MARK in r["sampling_prompt"] and DOCS_MARK not in r["training_prompt"]
        assert "Calculate the absolute value" not in r["training_prompt"]  # no doc text at all
        assert by_id[r["task_id"]].prompt in r["training_prompt"] and by_id[r["task_id"]].prompt in r["sampling_prompt"]
        assert r["completion_ids"] and len(r["token_weights"]) == len(r["completion_ids"])
    # TIS by hand: the initial model, completion tokens scored after each prompt; old log-probs use the no-doc one
    import torch
    from transformers import AutoModelForCausalLM

    lm = AutoModelForCausalLM.from_pretrained(model).eval()

    def logps(prompt_ids, completion_ids):
        ids = torch.tensor([prompt_ids + completion_ids])
        with torch.no_grad():
            logits = lm(ids).logits[0, len(prompt_ids) - 1:-1]
        return torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(completion_ids)[:, None])[:, 0]

    differs = 0
    for r in recs:
        old = logps(r["prompt_ids"], r["completion_ids"])
        samp = logps(r["sampling_prompt_ids"], r["completion_ids"])
        want = torch.clamp(torch.exp(old - samp), max=2.0)
        assert torch.allclose(torch.tensor(r["token_weights"]), want, atol=1e-4), (r["token_weights"], want)
        differs += int(not torch.allclose(want, torch.ones_like(want), atol=1e-3))
    assert differs > 0  # the two contexts really give different probabilities: the weights are not all 1


def test_open_rl_samples_and_trains_with_docs(small):
    from selfevolve_lab.train.rl import train_rl

    bench, tasks, model, root = small
    run = root / "open"
    train_rl(bench.root, str(model), RL_RECIPES["open_rl"], run, _opts(), _hp())
    recs = read_batches(run)
    assert len(recs) == 4
    for r in recs:
        assert DOCS_MARK in r["training_prompt"] and r["training_prompt"] == r["sampling_prompt"]
        assert r["weight"] == 1.0 and set(r["token_weights"]) == {1.0}
        assert r["reward"] in (0.0, 1.0)


def test_open_and_closed_sft_differ_only_in_the_prompt(small, tmp_path):
    from selfevolve_lab.train.data import build_data
    from selfevolve_lab.train.sft import train_sft

    bench, tasks, model, root = small
    data = tmp_path / "data.jsonl"
    res = build_data(bench.root, data, model=None, from_references=True, progress=False)
    assert res["records"] == len(tasks)
    dumps = {}
    for mode in ("open", "closed"):
        run = tmp_path / mode
        train_sft(bench.root, str(model), data, mode, run, _opts(limit=None, batch_size=4, lr=1e-4))
        dumps[mode] = {r["task_id"]: r for r in read_batches(run)}
    assert set(dumps["open"]) == {t.id for t in tasks}
    for tid, o in dumps["open"].items():
        c = dumps["closed"][tid]
        assert o["completion_ids"] == c["completion_ids"] and o["completion"] == c["completion"]
        assert o["completion"].startswith("```python\nimport zwc")
        # the loss mask covers exactly the completion tokens, in both
        assert sum(o["loss_mask"]) == sum(c["loss_mask"]) == len(o["completion_ids"])
        assert o["loss_mask"][-len(o["completion_ids"]):] == [1] * len(o["completion_ids"])
        assert DOCS_MARK in o["training_prompt"] and DOCS_MARK not in c["training_prompt"]
        assert o["training_prompt"] != c["training_prompt"] and o["sampling_prompt"] == c["sampling_prompt"]


# ---- fixed batches: the engine's post-processing and TRL's loss, on known numbers ----------------------------


@pytest.fixture(scope="module")
def engine_of(small):
    """Build a GRPOEngine (no training) and a fixed batch: 4 completions of 3 tokens after one prompt."""
    import datasets
    import torch

    from selfevolve_lab.train.grpo import GRPOEngine, make_config

    bench, tasks, model, root = small

    def build(**kw):
        from selfevolve_lab.train.rl import RLOptim

        args = make_config(output_dir=str(root / "fixed"), lr=1e-3, group=2, prompts_per_step=2, mini_batch_prompts=2,
                           micro_batch=4, clip=0.2, no_clip=kw.pop("no_clip", False), beta=0.0, temperature=1.0,
                           epochs=1, max_completion_length=3, optim=RLOptim(loss_type=kw.pop("loss_type", "grpo")),
                           shuffle=False, use_cpu=True, bf16=False, report_to="none")
        eng = GRPOEngine(model=str(model), args=args, train_dataset=datasets.Dataset.from_list([{"prompt": "x"}]),
                         reward_funcs=[lambda prompts, completions, **_: [0.0] * len(prompts)], **kw)
        eng.current_gradient_accumulation_steps = 1
        eng.args.steps_per_generation = 1
        return eng

    torch.manual_seed(0)
    batch = {"prompt_ids": torch.tensor([[5, 6, 7]] * 4), "prompt_mask": torch.ones(4, 3, dtype=torch.long),
             "completion_ids": torch.tensor([[8, 9, 10], [11, 12, 0], [13, 14, 15], [16, 0, 0]]),
             "completion_mask": torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 0, 0]]),
             "advantages": torch.tensor([1.0, -1.0, 0.5, -0.5])}
    batch["num_items_in_batch"] = batch["completion_mask"].sum()
    return build, batch


def _fixed_loss(eng, batch, shift):
    """TRL's loss on ``batch`` with pi_old = pi_theta * exp(-shift) per token (so the ratio is exp(shift))."""
    import torch

    b = {k: v.clone() for k, v in batch.items()}
    ids = torch.cat([b["prompt_ids"], b["completion_ids"]], 1)
    am = torch.cat([b["prompt_mask"], b["completion_mask"]], 1)
    with torch.no_grad():
        cur, _, _ = eng._get_per_token_logps_and_entropies(eng.model, ids, am, 3)
    b["old_per_token_logps"] = cur - shift
    return eng._compute_loss(eng.model, b).item(), b


@pytest.mark.parametrize("loss_type", ["grpo", "dapo"])
def test_no_clip_uses_the_raw_ratio(engine_of, loss_type):
    import torch

    build, batch = engine_of
    shift = 0.5  # ratio e^0.5 = 1.65, far outside 1 +- 0.2
    r = math.exp(shift)
    mask = batch["completion_mask"].float()
    adv = batch["advantages"][:, None]
    clipped, _ = _fixed_loss(build(loss_type=loss_type), batch, shift)
    raw, _ = _fixed_loss(build(no_clip=True, loss_type=loss_type), batch, shift)
    # per token: clipped -min(rA, 1.2A) -> 1.2A for A>0, rA for A<0; unclipped: rA everywhere
    tok_clipped = -mask * adv * torch.where(adv > 0, torch.tensor(1.2), torch.tensor(r))
    tok_raw = -mask * adv * r
    if loss_type == "dapo":  # one token mean over the batch
        want_clipped, want_raw = (tok_clipped.sum() / mask.sum()).item(), (tok_raw.sum() / mask.sum()).item()
    else:  # the official aggregation: the mean over sequences of each one's token mean
        want_clipped = (tok_clipped.sum(1) / mask.sum(1)).mean().item()
        want_raw = (tok_raw.sum(1) / mask.sum(1)).mean().item()
    assert clipped == pytest.approx(want_clipped, rel=1e-4, abs=1e-6)
    assert raw == pytest.approx(want_raw, rel=1e-4, abs=1e-6)
    assert raw != pytest.approx(clipped)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo"])
def test_positive_only_drops_exactly_the_negative_samples(engine_of, loss_type):
    import torch

    build, batch = engine_of
    eng = build(positive_only=True, loss_type=loss_type)
    out = eng.reweight({k: v.clone() for k, v in batch.items()}, [{}] * 4)
    assert out["completion_mask"].sum(1).tolist() == [3, 0, 3, 0]  # samples 1 and 3 (A<0) are gone
    assert out["num_items_in_batch"].item() == 6
    loss, _ = _fixed_loss(build(loss_type=loss_type), out, 0.1)
    kept = {k: (v[[0, 2]] if v.dim() else torch.tensor(6)) for k, v in batch.items()}
    want, _ = _fixed_loss(build(loss_type=loss_type), kept, 0.1)  # the same batch without the negative samples
    assert loss == pytest.approx(want, rel=1e-5)
    plain = build().reweight({k: v.clone() for k, v in batch.items()}, [{}] * 4)
    assert torch.equal(plain["advantages"], batch["advantages"]) and torch.equal(plain["completion_mask"],
                                                                                 batch["completion_mask"])
    # the share of trained tokens with a negative advantage, logged per step: none left after positive-only
    mask, neg = batch["completion_mask"], batch["advantages"].lt(0)
    for positive_only, want in ((False, (mask.sum(1) * neg).sum().item() / mask.sum().item()), (True, 0.0)):
        e = build(positive_only=positive_only, loss_type=loss_type)
        e.model.train()
        e.reweight({k: v.clone() for k, v in batch.items()}, [{}] * 4)
        assert e.negative_shares == [pytest.approx(want)] and (positive_only or want > 0)


def test_tis_weights_are_the_truncated_ratio():
    import torch

    from selfevolve_lab.train.grpo import tis_weights

    old = torch.tensor([[-1.0, -2.0, -0.5], [-3.0, -1.0, -9.0]])
    samp = torch.tensor([[-2.0, -1.0, -0.5], [-0.5, -4.0, -1.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    w = tis_weights(old, samp, mask, cap=2.0)
    want = torch.tensor([[min(math.e, 2.0), math.exp(-1), 1.0], [math.exp(-2.5), 2.0, 0.0]])
    assert torch.allclose(w, want)
    seq = tis_weights(old, samp, mask, cap=2.0, level="sequence")
    assert torch.allclose(seq, torch.tensor([[1.0], [math.exp(-2.5 + 3.0)]]).clamp(max=2.0))


# ---- runs that cannot silently train nothing, with the official settings ------------------------------------


@pytest.fixture
def captured(monkeypatch):
    """Every GRPO trainer `train_rl` runs, kept after its run (its args are the config it received)."""
    from selfevolve_lab.train.grpo import GRPOEngine

    seen, train = [], GRPOEngine.train

    def keep(self, *a, **kw):
        seen.append(self)
        return train(self, *a, **kw)

    monkeypatch.setattr(GRPOEngine, "train", keep)
    return seen


def test_too_few_tasks_for_a_step_is_refused_and_enough_trains_exactly_one(small, captured, capsys):
    """TRL drops an incomplete generation batch: 4 tasks < 32 prompts per step used to train 0 steps, exit 0."""
    from selfevolve_lab.cli import main

    bench, tasks, model, root = small
    argv = ["train", "rl", "--bench", str(bench.root), "--model", str(model), "--mode", "closed", "--limit", "4",
            "--max-steps", "1", "--max-completion-length", "8", "--save-steps", "1000"]
    with pytest.raises(SystemExit) as e:
        main([*argv, "--out", str(root / "zero")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and err[-1] == ("error: 4 tasks < 32 prompts per step; lower --prompts-per-step "
                                             "or raise --limit")
    assert not (root / "zero").exists() and not captured
    main([*argv, "--prompts-per-step", "4", "--out", str(root / "one")])
    assert "closed-rl, 1 steps on 4 tasks" in capsys.readouterr().out
    assert captured[0].state.global_step == 1
    assert len((root / "one" / "metrics.jsonl").read_text().splitlines()) == 1


def test_train_rl_reads_its_recipe_from_the_table_and_flags_override_it(small, captured):
    import json

    from selfevolve_lab.cli import main

    bench, tasks, model, root = small
    main(["train", "rl", "--bench", str(bench.root), "--model", str(model), "--limit", "4", "--prompts-per-step", "4",
          "--max-steps", "1", "--max-completion-length", "8", "--save-steps", "1000", "--recipe", "closed_rl_tis",
          "--ppo-epochs", "2", "--out", str(root / "recipe")])
    cfg = json.loads((root / "recipe" / "config.json").read_text())
    assert (cfg["recipe"], cfg["mode"], cfg["correction"]) == ("closed-rl-tis", "closed", "tis")
    assert cfg["hyper"]["epochs"] == 30.0 and cfg["hyper"]["shuffle"] is False  # the recipe's official defaults
    assert captured[0].tis_cap == 2.0 and captured[0].args.num_iterations == 2  # the flag overrode its one pass


def test_a_run_of_zero_steps_is_an_error_not_a_model():
    from types import SimpleNamespace

    from selfevolve_lab.errors import UserError
    from selfevolve_lab.train.run import require_steps

    with pytest.raises(UserError, match="0 optimizer steps"):
        require_steps(SimpleNamespace(state=SimpleNamespace(global_step=0), args=SimpleNamespace(output_dir="r")))
    require_steps(SimpleNamespace(state=SimpleNamespace(global_step=1), args=SimpleNamespace(output_dir="r")))


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_the_trainer_receives_the_official_optimizer_loss_and_order(small, captured, mode):
    """verl_evolve's actor: constant lr, no warmup, weight decay 0.01, token-mean per sequence (TRL's grpo),
    one pass per generation batch; Closed-RL reads its tasks in order (data.shuffle=False), Open-RL shuffles."""
    from selfevolve_lab.train.rl import train_rl

    bench, tasks, model, root = small
    lr = 1e-3
    train_rl(bench.root, str(model), RL_RECIPES[f"{mode}_rl"], root / f"official-{mode}",
             _opts(lr=lr, dump_batches=0, limit=None),
             _hp(prompts_per_step=2, micro_batch=2, mini_batch_prompts=1 if mode == "open" else None))
    args = captured[0].args
    assert args.lr_scheduler_type == "constant" and args.warmup_steps == 0 and args.weight_decay == 0.01
    assert args.loss_type == "grpo" and args.num_iterations == 1 and args.learning_rate == lr
    assert args.shuffle_dataset is (mode == "open")
    assert captured[0].lr_scheduler.get_last_lr() == [lr] * len(captured[0].lr_scheduler.get_last_lr())  # no decay
    assert {g["weight_decay"] for g in captured[0].optimizer.param_groups} == {0.0, 0.01}  # biases/norms: none


def test_exit_trains_with_the_same_official_optimizer(tmp_path):
    from selfevolve_lab.exit.trainer import ExItConfig, grpo_config

    args = grpo_config(ExItConfig(), tmp_path)
    assert (args.lr_scheduler_type, args.warmup_steps, args.weight_decay, args.loss_type) == ("constant", 0, 0.01,
                                                                                              "grpo")
    # with vLLM: no TRL importance correction of its sampling, which the paper does not have
    assert grpo_config(ExItConfig(use_vllm=True), tmp_path).vllm_importance_sampling_correction is False


def test_exit_splits_a_step_into_micro_batches_that_accumulate_to_one_update(tmp_path):
    """A whole step's prompts x group in one pass ran out of memory at the paper's 128 x 8: --micro-batch
    splits it, the update stays one per step (gradients accumulate), and a size that does not divide fails."""
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.exit.trainer import ExItConfig, grpo_config

    whole = grpo_config(ExItConfig(prompts=4, group=4), tmp_path)
    split = grpo_config(ExItConfig(prompts=4, group=4, micro_batch=4), tmp_path)
    assert (whole.per_device_train_batch_size, whole.gradient_accumulation_steps) == (16, 1)
    assert (split.per_device_train_batch_size, split.gradient_accumulation_steps) == (4, 4)
    assert split.steps_per_generation == whole.steps_per_generation * 4 and split.num_iterations == 1
    with pytest.raises(UserError, match="--micro-batch 3 must divide"):
        ExItConfig(prompts=4, group=4, micro_batch=3).check()


def test_no_clip_is_refused_where_it_cannot_act(small, captured):
    """One update per generation batch: the ratio is exactly 1, so no clip range changes the loss."""
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.train.grpo import NO_CLIP
    from selfevolve_lab.train.rl import train_rl

    bench, tasks, model, root = small
    with pytest.raises(UserError, match="--no-clip changes nothing with one update per generation batch"):
        train_rl(bench.root, str(model), replace(CLOSED_RL, no_clip=True), root / "noclip-1", _opts(dump_batches=0),
                 _hp())
    assert not (root / "noclip-1").exists()
    train_rl(bench.root, str(model), replace(CLOSED_RL, no_clip=True), root / "noclip-2", _opts(dump_batches=0),
             _hp(ppo_epochs=2))
    assert captured[0].args.num_iterations == 2 and captured[0].args.epsilon == NO_CLIP


def test_closed_rl_samples_each_task_with_its_own_docs_when_closed_prompts_coincide(small):
    """Two tasks with the same closed prompt but different APIs: each samples with its own API's docs."""
    from selfevolve_lab.train.data import TaskPrompts
    from selfevolve_lab.train.rl import train_rl

    bench, tasks, model, root = small
    a = tasks[0]
    b = a.model_copy(update={"id": "train/same-prompt", "apis": ["zwc.kocito"]})
    prompts = TaskPrompts(bench)
    assert prompts.messages(a, "closed") == prompts.messages(b, "closed")
    run = root / "same-prompt"
    train_rl(bench.root, str(model), CLOSED_RL, run, _opts(), _hp(), tasks=[a, b])
    recs = read_batches(run)
    assert {r["task_id"] for r in recs} == {a.id, b.id}
    for r in recs:
        docs = ("Calculate the absolute value element-wise", "Compute the arithmetic mean")
        mine, other = docs if r["task_id"] == a.id else docs[::-1]
        assert mine in r["sampling_prompt"] and other not in r["sampling_prompt"]


def test_sft_truncation_is_an_error_unless_asked_for_and_counted_per_mode(small, tmp_path):
    """Open-SFT's prompts carry the docs: a max length between the two prompts' lengths cuts only Open-SFT."""
    import json

    from selfevolve_lab.errors import UserError
    from selfevolve_lab.train.data import build_data
    from selfevolve_lab.train.sft import SFTHyper, lengths, load_tokenizer, rows, train_sft, turn_end

    bench, tasks, model, root = small
    data = tmp_path / "data.jsonl"
    build_data(bench.root, data, model=None, from_references=True, progress=False)
    from selfevolve_lab.train.data import read_data

    tok, recs = load_tokenizer(str(model)), read_data(data)
    size = {m: [len(tok.apply_chat_template(e["prompt"] + e["completion"], tokenize=True, return_dict=True)
                    ["input_ids"]) for e in rows(recs, m, turn_end(tok))] for m in ("open", "closed")}
    cut = max(size["closed"])  # every closed example fits, every open one is longer (its docs)
    assert min(size["open"]) > cut
    opts = _opts(limit=None, batch_size=4, dump_batches=0)
    with pytest.raises(UserError, match=f"4 of 4 open-sft examples exceed {cut} tokens"):
        train_sft(bench.root, str(model), data, "open", tmp_path / "open", opts, SFTHyper(max_length=cut))
    assert not (tmp_path / "open").exists()
    res = train_sft(bench.root, str(model), data, "closed", tmp_path / "closed", opts, SFTHyper(max_length=cut))
    assert (res["truncated"], res["dropped"]) == (0, 0)
    res = train_sft(bench.root, str(model), data, "open", tmp_path / "open", opts,
                    SFTHyper(max_length=cut, truncate=True))
    starts = [len(tok.apply_chat_template(r.prompt_open, tokenize=True, return_dict=True, add_generation_prompt=True)
                  ["input_ids"]) for r in recs]
    dropped = sum(n >= cut for n in starts)  # the prompt alone fills the max length: no completion token is left
    assert (res["truncated"], res["dropped"], res["steps"]) == (4, dropped, 1) and dropped < 4
    assert json.loads((tmp_path / "open" / "stats.json").read_text())["truncated"] == 4
    # a prompt longer than the max length leaves no completion token: TRL drops the example, and we count it
    fit = lengths(tok, rows(recs, "open", turn_end(tok)), min(size["open"]) - 40)
    assert fit["truncated"] == 4 and fit["dropped"] >= 1


def test_sft_default_batch_is_the_official_global_32():
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.train.sft import SFTHyper

    assert SFTHyper().batch_size == 32 and SFTHyper().per_device(1) == 32 and SFTHyper().per_device(8) == 4
    assert SFTHyper(grad_accum=2).per_device(8) == 2
    with pytest.raises(UserError, match="does not split"):
        SFTHyper().per_device(3)


def test_lora_rl_trains_an_adapter_logs_completions_and_mirrors_every_trl_key(small, captured, monkeypatch):
    """Closed-RL (TIS) with --lora and --gradient-checkpointing: the trainer trains a PEFT adapter and RUN/model
    is that adapter, which loads merged into its base; --log-completions writes TRL's completion table;
    metrics.jsonl holds every key TRL logged, with TRL's value. Training on from the adapter continues it (and
    refuses other LoRA settings); without --lora it fine-tunes the merged model."""
    import json

    import pandas as pd
    from peft import PeftModel
    from safetensors.torch import load_file

    from selfevolve_lab.errors import UserError
    from selfevolve_lab.models.adapters import load_causal_lm
    from selfevolve_lab.train.grpo import GRPOEngine
    from selfevolve_lab.train.rl import train_rl
    from selfevolve_lab.train.run import LoraOptions

    bench, tasks, model, root = small
    logged, log = [], GRPOEngine.log

    def keep(self, logs, start_time=None):
        log(self, logs, start_time)
        logged.append(dict(logs))

    monkeypatch.setattr(GRPOEngine, "log", keep)
    lora = LoraOptions(r=4, alpha=8, dropout=0.0)
    run = root / "lora-rl"
    train_rl(bench.root, str(model), RL_RECIPES["closed_rl_tis"], run,
             _opts(lora=lora, gradient_checkpointing=True, log_completions=True, dump_batches=0), _hp())
    assert isinstance(captured[0].model, PeftModel) and captured[0].args.gradient_checkpointing
    assert (run / "model" / "adapter_config.json").is_file() and not (run / "model" / "model.safetensors").exists()
    merged = load_causal_lm(run / "model").state_dict()  # a plain model: the adapter merged into its base
    assert set(load_file(model / "model.safetensors")) <= set(merged) and not any("lora" in k for k in merged)
    table = pd.read_parquet(run / "checkpoints" / "completions" / "completions_00001.parquet")
    assert len(table) == 4 and {"prompt", "completion", "advantage"} <= set(table.columns)
    (rec,) = map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
    trl_logs, summary = logged  # the step's, then the end-of-training totals (not a step's record)
    assert "train_loss" in summary
    assert {"entropy", "frac_reward_zero_std", "clip_ratio/region_mean"} <= set(trl_logs)
    assert {k: rec[k] for k in trl_logs} == pytest.approx(trl_logs, nan_ok=True)

    again = root / "lora-rl-again"
    with pytest.raises(UserError, match="settings must be the adapter's"):
        train_rl(bench.root, str(run / "model"), RL_RECIPES["closed_rl"], again,
                 _opts(lora=LoraOptions(r=8), dump_batches=0), _hp())
    assert not again.exists()
    train_rl(bench.root, str(run / "model"), RL_RECIPES["closed_rl"], again, _opts(lora=lora, dump_batches=0), _hp())
    assert isinstance(captured[-1].model, PeftModel)
    conf = json.loads((again / "model" / "adapter_config.json").read_text())
    assert conf["base_model_name_or_path"] == str(model.resolve())  # the same base: the adapter went on training
    full = root / "merged-rl"
    train_rl(bench.root, str(run / "model"), RL_RECIPES["closed_rl"], full, _opts(dump_batches=0), _hp())
    assert all(p.requires_grad for p in captured[-1].model.parameters())  # PEFT's load froze them
    assert (full / "model" / "model.safetensors").is_file() and not (full / "model" / "adapter_config.json").exists()
