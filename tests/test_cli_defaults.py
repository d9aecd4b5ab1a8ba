"""Each option's default is its config's field, declared once: the commands, run with no optional flag, hand
the libraries the configs' own defaults, and a flag changes only its field."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from selfevolve_lab.cli import main


def test_exit_train_builds_the_config_from_its_fields(monkeypatch, tmp_path):
    import selfevolve_lab.exit.cli as ec
    import selfevolve_lab.exit.trainer as T

    seen = []
    monkeypatch.setattr(ec, "_domain", lambda *a: SimpleNamespace(close=lambda: None))
    monkeypatch.setattr(T, "train", lambda dom, model, cfg, out, **kw: seen.append(cfg) or SimpleNamespace(
        step=0, buffer=[], mean_training_depth=0.0))
    argv = ["exit", "train", "--domain", "math", "--model", "m", "--out", str(tmp_path)]
    main(argv)
    main([*argv, "--use-vllm", "--lr", "0.5", "--max-tokens", "7", "--no-diversity"])
    assert seen == [T.ExItConfig(), T.ExItConfig(use_vllm=True, learning_rate=0.5, max_completion_length=7,
                                                 diversity=False)]


def test_micro_and_eval_commands_hand_over_their_configs_defaults(monkeypatch, tmp_path):
    from selfevolve_lab.evaluate import run
    from selfevolve_lab.micro import exit_world, experiment

    seen = []

    def world(cfg, log):
        seen.append(cfg)
        (tmp_path / "report.md").write_text("")
        return SimpleNamespace(run=lambda: {})

    monkeypatch.setattr(experiment, "Experiment", world)
    monkeypatch.setattr(exit_world, "ExitWorld", world)
    monkeypatch.setattr(run, "run_eval", lambda cfg, out, **kw: seen.append(cfg) or {
        "metrics": {"n_samples": 0, "n_tasks": 0, "status": {}}, "isolation": "none"})
    paths = {"bench": "b", "base": "c", "out": str(tmp_path)}
    main(["micro", "run", "--bench", "b", "--base", "c", "--out", str(tmp_path)])
    main(["micro", "exit", "--bench", "b", "--base", "c", "--out", str(tmp_path)])
    main(["eval", "--bench", "b", "--model", "m", "--out", str(tmp_path)])
    assert seen == [experiment.MicroRunConfig(**paths), exit_world.MicroExitConfig(**paths),
                    run.EvalConfig(bench="b", model="m")]


def test_train_commands_hand_over_their_configs_defaults(monkeypatch, tmp_path):
    from dataclasses import replace

    from selfevolve_lab.train import rl, selfplay, sft
    from selfevolve_lab.train.run import CommonOptions

    seen = []
    monkeypatch.setattr(rl, "train_rl", lambda bench, model, recipe, out, opts, hp, **kw: seen.append((opts, hp)) or {
        "unsampled_per_epoch": 0, "steps": 0, "tasks": 0})
    monkeypatch.setattr(selfplay, "train_selfplay", lambda bench, model, learner, out, opts, hp: seen.append(
        (opts, hp)) or {"rounds": [], "model": ""})
    monkeypatch.setattr(sft, "train_sft", lambda bench, model, data, mode, out, opts, hp: seen.append((opts, hp)) or {
        "steps": 0, "records": 0, "truncated": 0, "dropped": 0, "max_length": 0})
    base = ["--bench", "b", "--model", "m", "--out", str(tmp_path)]
    main(["train", "rl", *base, "--mode", "closed"])
    main(["train", "selfplay", *base, "--learner", "sft"])
    main(["train", "sft", *base, "--mode", "closed", "--data", "d"])
    assert [(replace(o, cli={}), h) for o, h in seen] == [(CommonOptions(), rl.RLHyper()),
                                                          (CommonOptions(), selfplay.SelfPlayHyper()),
                                                          (CommonOptions(), sft.SFTHyper())]


def test_lora_and_tracking_flags_reach_exit_train_config(monkeypatch, tmp_path):
    import selfevolve_lab.exit.cli as ec
    import selfevolve_lab.exit.trainer as T
    from selfevolve_lab.train.run import LoraOptions

    seen = []
    monkeypatch.setattr(ec, "_domain", lambda *a: SimpleNamespace(close=lambda: None))
    monkeypatch.setattr(T, "train", lambda dom, model, cfg, out, **kw: seen.append(cfg) or SimpleNamespace(
        step=0, buffer=[], mean_training_depth=0.0))
    main(["exit", "train", "--domain", "math", "--model", "m", "--out", str(tmp_path), "--lora", "--lora-r", "8",
          "--lora-target-modules", "q_proj,v_proj", "--gradient-checkpointing", "--report-to", "tensorboard,wandb",
          "--run-name", "x", "--log-completions"])
    assert seen == [T.ExItConfig(lora=LoraOptions(r=8, target_modules="q_proj,v_proj"), gradient_checkpointing=True,
                                 report_to="tensorboard,wandb", run_name="x", log_completions=True)]
    args = T.grpo_config(seen[0], tmp_path / "ckpt")
    assert (args.report_to, args.run_name, args.gradient_checkpointing, args.log_completions) == (
        ["tensorboard", "wandb"], "x", True, True)
    assert seen[0].lora.peft_config().target_modules == {"q_proj", "v_proj"}


@pytest.mark.parametrize("flags, message", [
    (["--report-to", "mlflow"], "--report-to 'mlflow'"),
    (["--report-to", "none,wandb"], "--report-to 'none,wandb'"),
    (["--lora-r", "8"], "need --lora"),
    (["--lora", "--lora-dropout", "1.5"], "--lora-dropout"),  # the option's range
    (["--lora", "--lora-target-modules", ","], "target modules"),
])
def test_bad_lora_or_tracking_flags_are_one_line_errors_before_anything_is_written(flags, message, tmp_path, capsys):
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        main(["train", "sft", "--bench", str(tmp_path), "--model", "m", "--data", "d", "--mode", "closed",
              "--out", str(out), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and message in err[0], err
    assert not out.exists()
