"""`selfevolve demo` (what `make demo` runs): it reuses a bench and task sets already in OUT, checks the bench
through the real judge, and runs the micro-world's quick experiments through their APIs (no CLI command called
as a function), from a base it pretrains once with the committed recipe."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from selfevolve_lab.cli import app


def test_demo_reuses_the_bench_checks_it_and_runs_the_micro_experiments_through_their_apis(numpy_tasks, tmp_path,
                                                                                          monkeypatch):
    from selfevolve_lab.micro import base as mb
    from selfevolve_lab.micro import exit_world, experiment
    from selfevolve_lab.micro.pretrain import PretrainConfig

    shutil.copytree(numpy_tasks.root, tmp_path / "bench", ignore=shutil.ignore_patterns(".source-*"))
    calls: dict = {}

    def pretrain(bench, out, cfg, **_):
        calls["pretrain"] = (out, cfg)
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text("{}")
        pre = {"open_book": {"value": 1.0, "ok": True, "needs": ">= 60%"}}
        (out / "preconditions.json").write_text(json.dumps(pre))
        return pre

    monkeypatch.setattr(mb, "pretrain", pretrain)
    for name, module, cls in (("run", experiment, "Experiment"), ("exit", exit_world, "ExitWorld")):
        def world(cfg, log, name=name):
            calls[name] = cfg
            (tmp_path / cfg.out).mkdir(parents=True, exist_ok=True)
            (tmp_path / cfg.out / "report.md").write_text(f"report of {name}")
            return type("Ran", (), {"run": lambda self: {}})()

        monkeypatch.setattr(module, cls, world)
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--pretrain"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "using the bench" in out and "using the task sets" in out  # nothing rebuilt
    assert "did not pass" not in out, [ln for ln in res.output.splitlines() if "did not pass" in ln]
    assert "references pass (novel package) │ 100.0%" in out
    assert "same solutions with NumPy's names pass │ 0.0%" in out
    assert "report of run" in out and "report of exit" in out
    base = tmp_path / "base"
    assert calls["pretrain"] == (base, PretrainConfig(threads=1))
    assert calls["run"] == experiment.MicroRunConfig(bench=calls["run"].bench, base=str(base), out=str(tmp_path / "micro"),
                                                     seeds=1, quick=True)
    assert calls["exit"] == exit_world.MicroExitConfig(bench=calls["run"].bench, base=str(base),
                                                       out=str(tmp_path / "micro-exit"), seeds=1, quick=True)

    calls.clear()  # a second demo reuses the pretrained base
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--pretrain"])
    assert res.exit_code == 0, res.output
    assert "using the base pretrained" in res.output and set(calls) == {"run", "exit"}
