"""What each recipe really trains on, shown with --dump-batches and on fixed batches (tiny model, small bench)."""

from __future__ import annotations

import math

import pytest

from train_fixtures import corpus_of, make_small_bench, read_batches

DOCS_MARK = "Documentation of the `zwc` library"


@pytest.fixture(scope="module")
def small(mini_bench, tmp_path_factory):
    from selfevolve.micro.tiny import make_tiny_model
    from selfevolve.train.data import train_tasks

    root = tmp_path_factory.mktemp("train-sem")
    bench = make_small_bench(mini_bench.root, root / "bench")
    tasks = train_tasks(bench)
    model = make_tiny_model(root / "model", corpus=corpus_of(bench, tasks), hidden=32, vocab_size=600)
    return bench, tasks, model, root


def _opts(**kw):
    from selfevolve.train.run import CommonOptions

    base = dict(max_steps=1, lr=1e-3, force=True, dump_batches=1, progress=False, save_steps=1000, limit=2)
    return CommonOptions(**{**base, **kw})


def _hp(**kw):
    from selfevolve.train.rl import RLHyper

    return RLHyper(**{**dict(group=2, prompts_per_step=2, micro_batch=4, max_completion_length=12), **kw})


def test_closed_rl_samples_with_docs_and_trains_without(small):
    from selfevolve.train.rl import train_rl

    bench, tasks, model, root = small
    run = root / "closed-tis"
    train_rl(bench.root, str(model), "closed", run, _opts(), _hp(), correction="tis")
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
    from selfevolve.train.rl import train_rl

    bench, tasks, model, root = small
    run = root / "open"
    train_rl(bench.root, str(model), "open", run, _opts(), _hp())
    recs = read_batches(run)
    assert len(recs) == 4
    for r in recs:
        assert DOCS_MARK in r["training_prompt"] and r["training_prompt"] == r["sampling_prompt"]
        assert r["weight"] == 1.0 and set(r["token_weights"]) == {1.0}
        assert r["reward"] in (0.0, 1.0)


def test_open_and_closed_sft_differ_only_in_the_prompt(small, tmp_path):
    from selfevolve.train.data import build_data
    from selfevolve.train.sft import train_sft

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

    from selfevolve.train.grpo import GRPOEngine, make_config

    bench, tasks, model, root = small

    def build(**kw):
        args = make_config(str(root / "fixed"), lr=1e-3, group=2, prompts_per_step=2, mini_batch_prompts=2,
                           micro_batch=4, clip=0.2, no_clip=kw.pop("no_clip", False), beta=0.0, temperature=1.0,
                           epochs=1, max_completion_length=3, use_cpu=True, bf16=False, report_to="none")
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


def test_no_clip_uses_the_raw_ratio(engine_of):
    build, batch = engine_of
    shift = 0.5  # ratio e^0.5 = 1.65, far outside 1 +- 0.2
    r = math.exp(shift)
    mask = batch["completion_mask"].float()
    adv = batch["advantages"][:, None]
    n = mask.sum().item()
    clipped, _ = _fixed_loss(build(), batch, shift)
    raw, _ = _fixed_loss(build(no_clip=True), batch, shift)
    # clipped: -min(rA, 1.2A) -> 1.2A for A>0, rA for A<0; unclipped: rA everywhere
    want_clipped = -((mask * adv * (adv > 0)).sum() * 1.2 + (mask * adv * (adv < 0)).sum() * r).item() / n
    want_raw = -(mask * adv).sum().item() * r / n
    assert clipped == pytest.approx(want_clipped, rel=1e-4) and raw == pytest.approx(want_raw, rel=1e-4)
    assert raw != pytest.approx(clipped)


def test_positive_only_drops_exactly_the_negative_samples(engine_of):
    import torch

    build, batch = engine_of
    eng = build(positive_only=True)
    out = eng.reweight({k: v.clone() for k, v in batch.items()}, [{}] * 4)
    assert out["completion_mask"].sum(1).tolist() == [3, 0, 3, 0]  # samples 1 and 3 (A<0) are gone
    assert out["num_items_in_batch"].item() == 6
    loss, _ = _fixed_loss(build(), out, 0.1)
    kept = {k: (v[[0, 2]] if v.dim() else torch.tensor(6)) for k, v in batch.items()}
    want, _ = _fixed_loss(build(), kept, 0.1)  # the same batch without the negative samples
    assert loss == pytest.approx(want, rel=1e-5)
    plain = build().reweight({k: v.clone() for k, v in batch.items()}, [{}] * 4)
    assert torch.equal(plain["advantages"], batch["advantages"]) and torch.equal(plain["completion_mask"],
                                                                                 batch["completion_mask"])


def test_tis_weights_are_the_truncated_ratio():
    import torch

    from selfevolve.train.grpo import tis_weights

    old = torch.tensor([[-1.0, -2.0, -0.5], [-3.0, -1.0, -9.0]])
    samp = torch.tensor([[-2.0, -1.0, -0.5], [-0.5, -4.0, -1.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])
    w = tis_weights(old, samp, mask, cap=2.0)
    want = torch.tensor([[min(math.e, 2.0), math.exp(-1), 1.0], [math.exp(-2.5), 2.0, 0.0]])
    assert torch.allclose(w, want)
    seq = tis_weights(old, samp, mask, cap=2.0, level="sequence")
    assert torch.allclose(seq, torch.tensor([[1.0], [math.exp(-2.5 + 3.0)]]).clamp(max=2.0))
