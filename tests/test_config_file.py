"""`--config FILE`: a recipe file (YAML or JSON) sets a command's options, flags override it, a run's config.json
repeats the run, and a key that is no option is refused."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from selfevolve_lab.cli import main


@pytest.fixture
def exit_train(monkeypatch):
    """`exit train` with the domain and the trainer replaced: what it hands the trainer."""
    import selfevolve_lab.exit.cli as ec
    import selfevolve_lab.exit.trainer as T

    seen = []
    monkeypatch.setattr(ec, "_domain", lambda *a: seen.append(("domain", a)) or SimpleNamespace(close=lambda: None))
    monkeypatch.setattr(T, "train", lambda dom, model, cfg, out, **kw: seen.append((cfg, out, kw)) or SimpleNamespace(
        step=0, buffer=[], mean_training_depth=0.0))
    return seen


def test_a_recorded_command_repeats_and_a_flag_overrides_the_file(exit_train, tmp_path):
    from selfevolve_lab.exit.trainer import ExItConfig

    main(["exit", "train", "--domain", "math", "--model", "m", "--out", str(tmp_path / "a"), "--lr", "0.5",
          "--no-diversity", "--size", "7", "--seed", "3", "--force"])
    (_, dom_a), (cfg_a, _, kw_a) = exit_train
    cli = kw_a["cli"]
    assert cli["command"] == "exit train" and cli["options"]["lr"] == 0.5 and cli["options"]["diversity"] is False
    assert not {"out", "resume", "force", "config"} & set(cli["options"])  # the invocation's, not the recipe's
    # the run's config.json: the record, and derived keys that are ignored (here deliberately inconsistent)
    conf = tmp_path / "config.json"
    conf.write_text(json.dumps({"cli": cli, "world_size": 8, "learning_rate": 99.0, "recipe": "exit-grpo"}))
    main(["exit", "train", "--config", str(conf), "--out", str(tmp_path / "b")])
    (_, dom_b), (cfg_b, out_b, kw_b) = exit_train[2:]
    assert cfg_b == cfg_a == ExItConfig(learning_rate=0.5, diversity=False, seed=3)
    assert dom_b == dom_a and out_b == tmp_path / "b" and kw_b["cli"] == cli and kw_b["force"] is False
    main(["exit", "train", "--config", str(conf), "--out", str(tmp_path / "c"), "--seed", "5", "--diversity"])
    assert exit_train[-1][0] == ExItConfig(learning_rate=0.5, seed=5)  # flags win over the file
    # a hand-written recipe: flags' names or parameters' names, YAML's forms
    (tmp_path / "r.yaml").write_text("domain: math\nmodel: m\nlr: 1e-3\nmax-tokens: 9\nmicro_batch: 4\n"
                                     "diversity: false\nembedder: null\n")
    main(["exit", "train", "--config", str(tmp_path / "r.yaml"), "--out", str(tmp_path / "d")])
    assert exit_train[-1][0] == ExItConfig(learning_rate=1e-3, max_completion_length=9, micro_batch=4,
                                           diversity=False)


@pytest.mark.parametrize(("text", "name", "says"), [
    ("domain: math\nmodel: m\nlearning-rat: 0.1\n", "r.yaml", "unknown key 'learning-rat'"),
    ("domain: math\nmodel: m\nhyper: {lr: 1}\n", "r.yaml", "unknown key 'hyper'"),
    ("domain: math\nmodel: m\nseed: 1.5\n", "r.yaml", "'seed' takes an integer, not 1.5"),  # click: int(1.5) = 1
    ("domain: math\nmodel: m\nvariant: no\n", "r.yaml", "'variant' takes a string"),  # YAML's no is false
    ("domain: math\nmodel: m\nlr: 1\nlearning_rate: 2\n", "r.yaml", "a second time"),
    ("- domain\n", "r.yaml", "expected a mapping"),
    ("domain: [\n", "r.yaml", "not valid YAML"),
    ('{"cli": {"command": "train sft", "options": {"seed": 1}}}', "config.json", "a `selfevolve train sft` run"),
    ('{"cli": {}, "seed": 1}', "config.json", "recorded no command-line options"),
    ('{"seed": 1,}', "config.json", "not valid JSON"),
    # a value out of its range or choices names the file it came from, as the option's own error does
    ("domain: math\nmodel: m\nmax-steps: 0\n", "r.yaml", "r.yaml: Invalid value for '--max-steps'"),
    ("domain: math\nmodel: m\nvariant: exti\n", "r.yaml", "r.yaml: Invalid value for '--variant'"),
])
def test_a_bad_recipe_file_is_one_line_and_exit_2(exit_train, tmp_path, capsys, text, name, says):
    (tmp_path / name).write_text(text)
    with pytest.raises(SystemExit) as e:
        main(["exit", "train", "--config", str(tmp_path / name), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and says in err and len(err.strip().splitlines()) == 1, err
    assert exit_train == [] and not (tmp_path / "run").exists()


def test_every_train_exit_and_micro_command_takes_a_config(tmp_path, monkeypatch):
    import typer

    from selfevolve_lab.cli import app

    root = typer.main.get_command(app)
    for group in ("train", "exit", "micro"):
        for name, cmd in root.commands[group].commands.items():
            assert "--config" in {o for p in cmd.params for o in p.opts}, f"{group} {name}"
    # a micro command from a recipe file: required options and a flag
    from selfevolve_lab.micro import experiment

    seen = []

    def world(cfg, log):
        seen.append(cfg)
        (tmp_path / "report.md").write_text("")
        return SimpleNamespace(run=lambda: {})

    monkeypatch.setattr(experiment, "Experiment", world)
    (tmp_path / "r.yaml").write_text(f"bench: b\nbase: c\nout: {tmp_path}\nseeds: 2\nquick: true\nrecipes: base\n")
    main(["micro", "run", "--config", str(tmp_path / "r.yaml"), "--jobs", "2"])
    assert seen == [experiment.MicroRunConfig(bench="b", base="c", out=str(tmp_path), seeds=2, quick=True,
                                              recipes=["base"], jobs=2)]
