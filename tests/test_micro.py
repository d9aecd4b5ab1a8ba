"""The micro-world: its model class, its corpora, `selfevolve micro pretrain` and `micro check`."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], capture_output=True, text=True,
                          **kw)


def _tiny_micro(vocab: int = 40):
    import torch

    from selfevolve_lab.models.micro import MicroConfig, MicroForCausalLM

    cfg = MicroConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=4, newline_ids=[3, 7], pad_token_id=0,
                      eos_token_id=1, bos_token_id=1, tie_word_embeddings=True)
    torch.manual_seed(0)
    model = MicroForCausalLM(cfg).eval()
    with torch.no_grad():  # the features start at zero only if trained so; make them matter here
        for p in (*model.model.shift_proj.parameters(), *model.model.bag_proj.parameters()):
            p.normal_(std=0.3)
    return model


def test_model_class_round_trip_and_cached_generation(tmp_path):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    model = _tiny_micro()
    ids = torch.tensor([[0, 0, 5, 3, 9, 11, 7, 12, 13], [4, 5, 6, 3, 9, 11, 7, 12, 13]])
    am = (ids != 0).long()
    kw = {"max_new_tokens": 10, "do_sample": False, "pad_token_id": 0}
    cached = model.generate(input_ids=ids, attention_mask=am, **kw)
    fresh = model.generate(input_ids=ids, attention_mask=am, use_cache=False, **kw)
    assert torch.equal(cached, fresh)  # the features' running state rides on the KV cache correctly
    # the features are real: without them the same weights give other logits
    full = model(input_ids=cached).logits
    model.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "selfevolve_micro"
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "MicroForCausalLM"
    assert torch.allclose(loaded(input_ids=cached).logits, full, atol=1e-5)
    # a training forward with labels and a padding mask, as TRL's trainers call it
    labels = cached.clone()
    labels[:, :9] = -100
    out = loaded(input_ids=cached, attention_mask=torch.ones_like(cached), labels=labels)
    out.loss.backward()
    assert torch.isfinite(out.loss) and loaded.model.shift_proj.weight.grad.abs().sum() > 0


def test_line_bag_is_the_mean_of_the_current_line():
    import torch

    model = _tiny_micro()
    m = model.model
    with torch.no_grad():
        m.shift_proj.weight.zero_()
        m.bag_proj.weight.copy_(torch.eye(32))
        ids = torch.tensor([[5, 6, 3, 8, 9]])  # 3 is a newline token: the line restarts there
        got = m.features(ids, None, None)
        e = m.embed_tokens(ids)[0]
        want = torch.stack([e[0], (e[0] + e[1]) / 2, e[2], (e[2] + e[3]) / 2, (e[2] + e[3] + e[4]) / 3])
        assert torch.allclose(got[0] - e, want, atol=1e-6)


def test_corpora_never_use_the_bench_names(numpy_tasks):
    from selfevolve_lab.micro.corpus import CorpusBuilder, Worlds, drafts

    bench = numpy_tasks
    pool = drafts(bench, [101])
    assert len(pool) > 500
    test_prompts = {t.prompt for s in ("test_single", "test_multi") for t in bench.tasks(s)}
    assert not any(d.prompt in test_prompts for d in pool)
    builder = CorpusBuilder(bench, pool, seed=3)
    tokens = Worlds(bench, 0).bench_tokens
    assert "zwc" in tokens and bench.mapping["numpy.abs"].split(".")[-1] in tokens
    kinds = {}
    for kind in ("prior", "docs", "write", "revise"):
        for _ in range(60):
            ex = builder.draw({kind: 1.0}, pool)
            text = ex.messages[0]["content"] + ex.reply
            assert not set(re.findall(r"[A-Za-z_]\w*", text)) & tokens
            kinds[kind] = ex
    assert "import numpy\n" in kinds["prior"].reply and "numpy." in kinds["prior"].reply
    docs = kinds["docs"]
    pkg = re.search(r"import (\w+)", docs.reply).group(1)
    name = re.search(rf"{pkg}\.([\w.]+)\(", docs.reply).group(1)
    assert f"{pkg}.{name}\n    signature:" in docs.messages[0]["content"]  # the answer's API is documented
    # write: self-play's own prompt, and a reply its parser accepts (a task with at least 3 inputs)
    from selfevolve_lab.exit.prompts import IMPROVE
    from selfevolve_lab.train.selfplay import parse_task

    writes = [builder.draw({"write": 1.0}, pool) for _ in range(40)]
    for w in writes:
        api = re.search(r"Write a programming task that needs `([\w.]+)`", w.messages[0]["content"]).group(1)
        assert f"\n\n{api}\n    signature:" in w.messages[0]["content"]  # the doc shown is the API's
        task, why = parse_task(w.reply, api, "t")
        assert why is None and len(task.tests) >= 3, (why, w.reply)
    # revise: ExIt's improve prompt with the sebench domain's feedback, a wrong name fixed or a pass kept
    revises = [builder.draw({"revise": 1.0}, pool) for _ in range(40)]
    head = IMPROVE.split("{response}")[0].split("{request}")[1]
    feedbacks = [re.search(r"Feedback on it: (.*)\n\nImprove", r.messages[0]["content"]).group(1) for r in revises]
    assert all(head in r.messages[0]["content"] for r in revises)
    wrong = [(r, f) for r, f in zip(revises, feedbacks, strict=True) if f.startswith("runtime_error")]
    kept = [r for r, f in zip(revises, feedbacks, strict=True) if f.startswith("passed: all")]
    assert wrong and kept and len(wrong) + len(kept) == len(revises)
    for r, f in wrong:
        missing = re.search(r"has no attribute '(\w+)'", f).group(1)
        assert f".{missing}(" in r.messages[0]["content"] and f".{missing}(" not in r.reply


def test_subset_answers_pass_the_real_judge(numpy_tasks):
    from selfevolve_lab.judge import Judge
    from selfevolve_lab.micro.subset import answer, bench_names, choose_subset, signature_args

    bench = numpy_tasks
    sub = choose_subset(bench, 12, seed=5)
    assert len(sub.apis) == 12 and len(sub.tasks["test_single"]) == 12
    assert {t.apis[0] for t in sub.tasks["train"]} == set(sub.apis)
    assert all(set(t.apis) <= set(sub.apis) for t in sub.tasks["test_multi"])
    assert sub.apis == choose_subset(bench, 12, seed=5).apis != choose_subset(bench, 12, seed=6).apis
    t = sub.tasks["test_single"][0]
    code = answer(signature_args(t), sub.exprs[t.id], bench_names(bench), bench.package)
    assert "gohit" not in code and bench.mapping[bench.library + "." + re.search(
        r"LIB\.([\w.]+)\(", sub.exprs[t.id]).group(1)] in code
    with Judge(bench, workers=1) as judge:
        assert judge.judge(t, code).passed
        assert not judge.judge(t, code.replace(bench.package + ".", "numpy.")).passed


def test_micro_pretrain_smoke_and_bad_input(numpy_tasks, tmp_path):
    out = tmp_path / "base"
    r = _cli("micro", "pretrain", "--bench", numpy_tasks.root, "--out", out, "--apis", "6", "--steps", "3",
             "--examples", "300", "--hidden", "32", "--layers", "1", "--draft-seeds", "101", "--no-check")
    assert r.returncode == 0, r.stderr[-2000:]
    info = json.loads((out / "pretrain.json").read_text())
    assert len(info["subset_apis"]) == 6 and len(info["sha256"]) == 64
    assert (out / "subset" / "test_single.jsonl").read_text().count("\n") == 6
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import selfevolve_lab.models.micro  # noqa: F401

    model = AutoModelForCausalLM.from_pretrained(out)
    tok = AutoTokenizer.from_pretrained(out)
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    enc = tok(text, return_tensors="pt", add_special_tokens=False)
    assert model.generate(**enc, max_new_tokens=3, do_sample=False).shape[1] == enc["input_ids"].shape[1] + 3
    # a base already there is not overwritten silently
    again = _cli("micro", "pretrain", "--bench", numpy_tasks.root, "--out", out, "--steps", "1")
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr


@pytest.mark.parametrize("what", ["no_tasks", "not_a_base"])
def test_bad_input_is_one_line_exit_2(what, numpy_bench, tmp_path):
    if what == "no_tasks":  # a bench built but without tasks
        import shutil

        bench = tmp_path / "bench"
        shutil.copytree(numpy_bench.root, bench, ignore=shutil.ignore_patterns("tasks"))
        r = _cli("micro", "pretrain", "--bench", bench, "--out", tmp_path / "base")
        assert "no tasks" in r.stderr
    else:
        (tmp_path / "notabase").mkdir()
        r = _cli("micro", "check", "--bench", numpy_bench.root, "--base", tmp_path / "notabase")
        assert "not a micro base" in r.stderr
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
