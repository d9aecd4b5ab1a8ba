"""kill -9 during SFT and during RL, then --resume: the run ends where an uninterrupted one with the same seed ends;
and a run started from another's config.json (`--config`) ends where that one ended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from train_fixtures import corpus_of, make_small_bench, one_torch_thread  # noqa: F401

# On CPU a resumed run replays the same data order and RNG states; the only drift allowed is float noise from
# reloading the optimizer state.
TOL = 1e-4


@pytest.fixture(scope="module")
def small(mini_bench, tmp_path_factory):
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.data import build_data, train_tasks

    root = tmp_path_factory.mktemp("train-resume")
    bench = make_small_bench(mini_bench.root, root / "bench")
    model = make_tiny_model(root / "model", corpus=corpus_of(bench, train_tasks(bench)), hidden=32, vocab_size=600)
    build_data(bench.root, root / "data.jsonl", model=None, from_references=True, progress=False)
    return bench, model, root


def _kill_after_checkpoint(argv: list[str], run, step: int) -> int:
    env = {**os.environ, "TRL_EXPERIMENTAL_SILENCE": "1", "OMP_NUM_THREADS": "1"}  # as in this process
    proc = subprocess.Popen([sys.executable, "-m", "selfevolve_lab.cli", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=env)
    state = run / "checkpoints" / f"checkpoint-{step}" / "trainer_state.json"
    deadline = time.monotonic() + 600
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]
    return len((run / "metrics.jsonl").read_text().splitlines())


def _same(a, b) -> None:
    ma = [json.loads(line) for line in (a / "metrics.jsonl").read_text().splitlines()]
    mb = [json.loads(line) for line in (b / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in ma] == [m["step"] for m in mb] == list(range(1, len(ma) + 1))
    for x, y in zip(ma, mb, strict=True):
        for k in ("loss", "reward_mean", "lr", "grad_norm"):
            if x[k] is not None:
                assert y[k] == pytest.approx(x[k], rel=TOL, abs=TOL), (k, x["step"], x[k], y[k])
    from safetensors.torch import load_file

    wa, wb = load_file(a / "model" / "model.safetensors"), load_file(b / "model" / "model.safetensors")
    assert all((wa[k] - wb[k]).abs().max().item() <= TOL for k in wa)


def test_sft_resumes_after_kill_9(small):
    from selfevolve_lab.train.run import CommonOptions
    from selfevolve_lab.train.sft import train_sft

    bench, model, root = small
    common = ["--bench", bench.root, "--model", model, "--data", root / "data.jsonl", "--mode", "closed", "--lr",
              "1e-3", "--epochs", "4", "--batch-size", "1", "--save-steps", "2", "--seed", "3"]
    opts = dict(lr=1e-3, epochs=4, batch_size=1, save_steps=2, seed=3, progress=False)
    train_sft(bench.root, str(model), root / "data.jsonl", "closed", root / "sft-a", CommonOptions(**opts))
    run = root / "sft-b"
    logged = _kill_after_checkpoint(["train", "sft", *map(str, common), "--out", str(run)], run, 6)
    assert 6 <= logged < 16  # killed mid-run
    train_sft(bench.root, str(model), root / "data.jsonl", "closed", run, CommonOptions(**opts, resume=True))
    _same(root / "sft-a", run)


def test_rl_resumes_after_kill_9(small):
    from selfevolve_lab.train.recipes import CLOSED_RL
    from selfevolve_lab.train.rl import RLHyper, train_rl
    from selfevolve_lab.train.run import CommonOptions

    bench, model, root = small
    common = ["--bench", bench.root, "--model", model, "--mode", "closed", "--group", "2", "--prompts-per-step",
              "2", "--max-completion-length", "8", "--batch-size", "4", "--lr", "1e-3", "--max-steps", "8",
              "--save-steps", "2", "--seed", "3"]
    hp = RLHyper(group=2, prompts_per_step=2, max_completion_length=8)
    opts = dict(lr=1e-3, batch_size=4, max_steps=8, save_steps=2, seed=3, progress=False)
    train_rl(bench.root, str(model), CLOSED_RL, root / "rl-a", CommonOptions(**opts), hp)
    run = root / "rl-b"
    logged = _kill_after_checkpoint(["train", "rl", *map(str, common), "--out", str(run)], run, 4)
    assert 4 <= logged < 8
    train_rl(bench.root, str(model), CLOSED_RL, run, CommonOptions(**opts, resume=True),
             RLHyper(group=2, prompts_per_step=2, max_completion_length=8))
    _same(root / "rl-a", run)
    # `selfevolve report RUN` plots the training curves
    from selfevolve_lab.cli import main

    main(["report", str(run), str(root / "rl-a"), "--out", str(root / "report")])
    rep = json.loads((root / "report" / "report.json").read_text())
    assert rep["rl-b"]["steps"] == 8 and set(rep["rl-b"]["time_split"]) == {"generation", "reward", "update"}
    assert rep["rl-b"]["time_split"]["generation"] > 0
    assert (root / "report" / "train_curves.png").stat().st_size > 1000 and (root / "report" / "train_time.png").exists()


def test_a_run_started_from_its_predecessors_config_json_repeats_it(small, monkeypatch):
    """The acceptance of `--config`: a run's config.json is a recipe file that repeats the run."""
    from safetensors.torch import load_file

    from selfevolve_lab.cli import main

    bench, model, root = small
    monkeypatch.chdir(root)  # relative paths: recorded absolute, so the repeat works from anywhere
    main(["train", "sft", "--bench", "bench", "--model", str(model), "--data", "data.jsonl", "--mode", "closed",
          "--lr", "1e-3", "--epochs", "1", "--batch-size", "2", "--seed", "3", "--out", "cfg-a"])
    monkeypatch.chdir(bench.root)
    main(["train", "sft", "--config", str(root / "cfg-a" / "config.json"), "--out", str(root / "cfg-b")])
    a, b = (json.loads((root / r / "config.json").read_text()) for r in ("cfg-a", "cfg-b"))
    assert a == b and a["cli"]["options"]["bench"] == str(bench.root) and a["cli"]["options"]["lr"] == 1e-3
    def timing(k: str) -> bool:  # wall-clock fields, ours and TRL's mirrored ones (train_runtime, *_per_second)
        return k in ("tokens_per_s", "step_time", "time_update") or "runtime" in k or "per_second" in k

    ma, mb = ([{k: v for k, v in json.loads(x).items() if not timing(k)}
               for x in (root / r / "metrics.jsonl").read_text().splitlines()] for r in ("cfg-a", "cfg-b"))
    assert len(ma) == 2 and ma == mb  # 4 records / batch 2; exactly equal on CPU
    wa, wb = (load_file(root / r / "model" / "model.safetensors") for r in ("cfg-a", "cfg-b"))
    assert all((wa[k] == wb[k]).all() for k in wa)


def test_an_existing_run_is_refused_without_resume_or_force(small, capsys):
    from selfevolve_lab.cli import main

    bench, model, root = small
    run = root / "exists"
    run.mkdir()
    (run / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as e:
        main(["train", "sft", "--bench", str(bench.root), "--model", str(model), "--data", str(root / "data.jsonl"),
              "--mode", "closed", "--out", str(run)])
    assert e.value.code == 2 and "--resume" in capsys.readouterr().err
    assert (run / "config.json").read_text() == "{}"


def test_a_checkpoint_torn_by_a_kill_is_skipped_and_removed(tmp_path):
    """kill -9 can land while the trainer writes trainer_state.json (last, not atomically): that checkpoint
    is incomplete, and a resume takes the one before it (found in CI under load)."""
    from selfevolve_lab.train.run import RunDir

    run = RunDir(tmp_path)
    for step, state in ((2, {"global_step": 2}), (4, {"global_step": 4}), (6, None)):
        d = run.checkpoints / f"checkpoint-{step}"
        d.mkdir(parents=True)
        (d / "trainer_state.json").write_text(json.dumps(state) if state else '{\n  "best_global_step": null,\n  "tr')
        if step == 2:
            (d / "STATE").write_text("{}")
    assert run.last_checkpoint() == run.checkpoints / "checkpoint-4"
    assert not (run.checkpoints / "checkpoint-6").exists()  # the resumed run writes it again from scratch
    assert run.last_checkpoint(require=("STATE",)) == run.checkpoints / "checkpoint-2"  # 4 lacks a callback's file
    (run.checkpoints / "checkpoint-2" / "trainer_state.json").unlink()
    assert run.last_checkpoint() is None


def test_resume_compares_a_config_written_before_a_field_existed(tmp_path):
    """A run written before `lora` joined the config was refused on --resume with "another configuration ()":
    a field the old config.json lacks and that is off now (None) is the same run; any other difference is
    refused and named."""
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.train.run import CommonOptions, open_run

    now = {"recipe": "closed-rl", "hyper": {"lr": 1e-3}, "lora": None, "seed": 0}
    (tmp_path / "config.json").write_text(json.dumps({"recipe": "closed-rl", "hyper": {"lr": 1e-3}, "seed": 0}))
    resume = CommonOptions(resume=True, progress=False)
    run, ckpt = open_run(tmp_path, now, resume)
    assert ckpt is None
    for changed, key in (({**now, "lora": {"r": 8}}, "lora"), ({**now, "hyper": {"lr": 1e-4}}, "hyper")):
        with pytest.raises(UserError, match=rf"another configuration \({key}\)"):
            open_run(tmp_path, changed, resume)
    (tmp_path / "config.json").write_text(json.dumps({**now, "extra": 1}))
    with pytest.raises(UserError, match=r"another configuration \(extra\)"):
        open_run(tmp_path, now, resume)
