"""Learning, end to end on CPU: data -> trainer -> checkpoint -> eval -> judge, through the CLI commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from train_fixtures import corpus_of, make_small_bench, one_torch_thread, write_data  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args):
    from selfevolve_lab.cli import main

    main([str(a) for a in args])


def test_closed_sft_from_references_internalizes_20_train_tasks(numpy_tasks, tmp_path):
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.data import train_tasks

    tasks = train_tasks(numpy_tasks, limit=20)
    model = make_tiny_model(tmp_path / "base", corpus=corpus_of(numpy_tasks, tasks), hidden=128, vocab_size=1024)
    data = tmp_path / "data.jsonl"
    _cli("train", "data", "--bench", numpy_tasks.root, "--from-references", "--limit", 20, "--out", data)
    assert len(data.read_text().splitlines()) == 20
    # the base model has not seen the package: closed-book it solves nothing
    _cli("eval", "--bench", numpy_tasks.root, "--model", model, "--split", "train", "--limit", 20, "--mode", "closed",
         "--max-tokens", 64, "--out", tmp_path / "eval-base")
    assert json.loads((tmp_path / "eval-base" / "results.json").read_text())["metrics"]["pass@1"] == 0.0
    run = tmp_path / "sft"
    _cli("train", "sft", "--bench", numpy_tasks.root, "--model", model, "--data", data, "--mode", "closed",
         "--lr", 3e-3, "--epochs", 25, "--batch-size", 4, "--save-steps", 1000, "--out", run)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 125 and metrics[-1]["loss"] < metrics[0]["loss"] / 10
    assert all(m["tokens_per_s"] is None or m["tokens_per_s"] > 0 for m in metrics)
    _cli("eval", "--bench", numpy_tasks.root, "--model", run / "model", "--split", "train", "--limit", 20,
         "--mode", "closed", "--max-tokens", 96, "--out", tmp_path / "eval-sft")
    res = json.loads((tmp_path / "eval-sft" / "results.json").read_text())
    assert res["metrics"]["pass@1"] >= 0.9, res["metrics"]


def test_lora_closed_sft_on_the_micro_base_internalizes_its_train_tasks_and_eval_loads_the_adapter(numpy_bench,
                                                                                                  tmp_path):
    """Closed-SFT with --lora on the committed micro base: only the adapter trains, RUN/model is the adapter,
    and eval (which merges it into its base) solves the train tasks closed-book, as full SFT does."""
    from selfevolve_lab.jsonl import read_jsonl
    from selfevolve_lab.schema import Task
    from selfevolve_lab.train.run import LoraOptions

    base = ROOT / "micro-base"
    subset = base / "subset" / "train.jsonl"
    tasks = [Task.model_validate(r) for r in read_jsonl(subset)][:20]
    data = write_data(tmp_path / "data.jsonl", numpy_bench, [(t, f"```python\n{t.reference}```") for t in tasks])
    evals = ("eval", "--bench", numpy_bench.root, "--tasks", subset, "--limit", 20, "--mode", "closed",
             "--max-tokens", 96)
    _cli(*evals, "--model", base, "--out", tmp_path / "eval-base")
    assert json.loads((tmp_path / "eval-base" / "results.json").read_text())["metrics"]["pass@1"] == 0.0
    run = tmp_path / "lora"
    _cli("train", "sft", "--bench", numpy_bench.root, "--model", base, "--data", data, "--mode", "closed",
         "--lr", 1e-2, "--epochs", 10, "--batch-size", 4, "--save-steps", 1000, "--out", run, "--lora",
         "--gradient-checkpointing")
    adapter = json.loads((run / "model" / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (LoraOptions.r, LoraOptions.alpha)
    assert Path(adapter["base_model_name_or_path"]) == base.resolve()  # absolute: it loads from anywhere
    assert not (run / "model" / "model.safetensors").exists()  # the adapter, not a full model
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 50 and metrics[-1]["loss"] < metrics[0]["loss"] / 10
    _cli(*evals, "--model", run / "model", "--out", tmp_path / "eval-lora")
    res = json.loads((tmp_path / "eval-lora" / "results.json").read_text())
    assert res["metrics"]["pass@1"] >= 0.9, res["metrics"]


def _pass_rate(model_dir, bench, tasks, n: int, seed: int) -> float:
    """Open-book pass rate at temperature 1, n samples per task, judged."""
    from selfevolve_lab.judge import Judge
    from selfevolve_lab.models.hf_backend import TransformersBackend
    from selfevolve_lab.train.data import TaskPrompts

    backend = TransformersBackend(str(model_dir))
    prompts = TaskPrompts(bench)
    items = []
    for i, t in enumerate(tasks):
        texts = backend.generate([prompts.messages(t, "open")] * n, temperature=1.0, max_tokens=40, seed=seed + i)
        items += [(t, c) for c in texts]
    with Judge(bench, workers=2) as judge:
        rewards = judge.reward([c for _, c in items], [t for t, _ in items])
    return sum(rewards) / len(rewards)


def test_rl_raises_the_pass_rate_of_a_model_that_solves_half(mini_bench, tmp_path):
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.data import train_tasks

    bench = make_small_bench(mini_bench.root, tmp_path / "bench")
    tasks = train_tasks(bench)
    base = make_tiny_model(tmp_path / "base", corpus=corpus_of(bench, tasks), hidden=64, vocab_size=600)
    # A model that answers each task right about half the time: SFT on the reference and on the reference with
    # its API swapped for another one (a single-token difference, so sampling picks one or the other).
    items = []
    for t in tasks:
        wrong = t.reference.replace(t.apis[0].split(".")[1], "kocito")
        items += [(t, f"```python\n{t.reference}```"), (t, f"```python\n{wrong}```")]
    data = write_data(tmp_path / "mixed.jsonl", bench, items)
    _cli("train", "sft", "--bench", bench.root, "--model", base, "--data", data, "--mode", "open", "--lr", 1e-2,
         "--epochs", 40, "--batch-size", 2, "--save-steps", 1000, "--out", tmp_path / "half")
    half = tmp_path / "half" / "model"
    before = _pass_rate(half, bench, tasks, 16, seed=1)
    assert 0.15 <= before <= 0.85, before  # passes some but not all
    run = tmp_path / "rl"
    _cli("train", "rl", "--bench", bench.root, "--model", half, "--mode", "open", "--group", 8,
         "--prompts-per-step", len(tasks), "--max-completion-length", 40, "--lr", 2e-3, "--max-steps", 8,
         "--batch-size", 16, "--save-steps", 1000, "--out", run)
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 8 and all(0 <= m["pass_rate"] <= 1 for m in metrics)
    assert all(m["time_generation"] > 0 and m["time_reward"] > 0 for m in metrics)
    after = _pass_rate(run / "model", bench, tasks, 16, seed=1)
    assert after >= before + 0.15, (before, after)


@pytest.mark.parametrize("case", ["no-passing", "no-passing-sample", "no-tokenizer", "no-train", "bad-mode",
                                  "bad-correction"])
def test_bad_input_is_one_line_and_exit_2(mini_bench, tmp_path, case, capsys):
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.data import train_tasks

    bench = make_small_bench(mini_bench.root, tmp_path / "bench")
    model = make_tiny_model(tmp_path / "m", hidden=32) if case != "no-tokenizer" else tmp_path / "m"
    data = write_data(tmp_path / "d.jsonl", bench, [(t, "x") for t in train_tasks(bench)])
    out = tmp_path / "run"
    if case == "no-passing":
        lines = [json.loads(line) for line in data.read_text().splitlines()]
        for r in lines:
            r["verdict"]["passed"], r["verdict"]["status"] = False, "wrong_answer"
        data.write_text("".join(json.dumps(r) + "\n" for r in lines))
        argv = ["train", "sft", "--bench", bench.root, "--model", model, "--data", data, "--mode", "closed"]
    elif case == "no-passing-sample":  # an untrained model answers open-book through the harness; nothing passes
        out = tmp_path / "data.jsonl"
        argv = ["train", "data", "--bench", bench.root, "--model", model, "--n-samples", 1, "--max-tokens", 8]
    elif case == "no-tokenizer":
        from transformers import LlamaConfig, LlamaForCausalLM

        LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, num_key_value_heads=2)).save_pretrained(model)
        argv = ["train", "sft", "--bench", bench.root, "--model", model, "--data", data, "--mode", "closed"]
    elif case == "no-train":
        (bench.root / "tasks" / "train.jsonl").unlink()
        argv = ["train", "rl", "--bench", bench.root, "--model", model, "--mode", "closed"]
    elif case == "bad-mode":
        argv = ["train", "sft", "--bench", bench.root, "--model", model, "--data", data, "--mode", "half"]
    else:
        argv = ["train", "rl", "--bench", bench.root, "--model", model, "--mode", "closed", "--correction", "is"]
    capsys.readouterr()  # what building the fixtures printed
    with pytest.raises(SystemExit) as e:
        _cli(*argv, "--out", out)
    err = capsys.readouterr().err.strip()  # progress bars of the work done before the error may precede it
    assert e.value.code == 2 and err.splitlines()[-1].startswith("error: ") and "Traceback" not in err, err
    assert sum(line.startswith("error") for line in err.splitlines()) == 1
    assert not out.exists()  # nothing half-written
