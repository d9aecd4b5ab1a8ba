"""`selfevolve demo` (what `make demo` runs): it reuses a bench and task sets already in OUT, checks the bench
through the real judge, and hands the micro-world stages real option values (they are typer commands called
as functions, where an omitted option would arrive as typer's OptionInfo, not its default)."""

from __future__ import annotations

import inspect
import json
import shutil

import typer
from typer.testing import CliRunner

from selfevolve.cli import app


def _fake(calls: dict, name: str, write_base: bool = False):
    def record(**kw):
        calls[name] = kw
        if write_base:
            kw["out"].mkdir(parents=True, exist_ok=True)
            (kw["out"] / "config.json").write_text("{}")
            (kw["out"] / "preconditions.json").write_text(json.dumps({"open_book": {"ok": True}}))
    return record


def test_demo_reuses_the_bench_checks_it_and_gives_the_micro_stages_every_option(numpy_tasks, tmp_path, monkeypatch):
    import selfevolve.micro.cli as mc

    shutil.copytree(numpy_tasks.root, tmp_path / "bench", ignore=shutil.ignore_patterns(".source-*"))
    params = {n: set(inspect.signature(getattr(mc, f"{n}_cmd")).parameters) for n in ("pretrain", "run", "exit")}
    calls: dict = {}
    for name in params:
        monkeypatch.setattr(mc, f"{name}_cmd", _fake(calls, name, write_base=name == "pretrain"))
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--pretrain"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "using the bench" in out and "using the task sets" in out  # nothing rebuilt
    assert "references pass (novel package) │ 100.0%" in out
    assert "same solutions with NumPy's names pass │ 0.0%" in out
    assert set(calls) == set(params)
    for name, wanted in params.items():
        assert set(calls[name]) == wanted, name
        assert not any(isinstance(v, typer.models.OptionInfo) for v in calls[name].values()), name
    base = tmp_path / "base"
    assert calls["pretrain"]["out"] == base and calls["run"]["base"] == base and calls["exit"]["base"] == base

    calls.clear()  # a second demo reuses the pretrained base
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path), "--pretrain"])
    assert res.exit_code == 0, res.output
    assert "using the base pretrained" in res.output and set(calls) == {"run", "exit"}
