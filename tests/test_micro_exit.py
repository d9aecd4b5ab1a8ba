"""`selfevolve micro exit` end to end at CI size: grpo and exit trained from the committed base with the real
ExIt trainer, K-step inference through the real sandbox, results.json with the statement, a second run
reusing every stage; the statement's arithmetic on hand-made scores; bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from selfevolve_lab.exit.inference import HELD_OUT
from selfevolve_lab.jsonl import read_jsonl
from selfevolve_lab.micro import exit_world as W

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "micro-base"
TINY = W.MicroExitScale(steps=1, prompts=2, group=2, buffer=16, buffer_min=1, k=2, samples=1, eval_limit=2)


def test_grpo_and_exit_run_end_to_end_and_resume(numpy_bench, tmp_path):
    cfg = W.MicroExitConfig(bench=str(numpy_bench.root), base=str(BASE), out=str(tmp_path / "run"), seeds=1, quick=True,
                       workers=2, embedder="hash", scale=TINY)
    results = W.ExitWorld(cfg, log=lambda m: None).run()
    out = tmp_path / "run"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results, sort_keys=True))
    assert set(on_disk["variants"]) == {"base", "grpo", "exit"}
    for name, v in on_disk["variants"].items():
        assert [c["step"] for c in v["curve"]] == [0, 1, 2]
        for c in v["curve"]:
            assert 0 <= c["ci95"][0] <= c["mean"] <= c["ci95"][1] <= 1 and len(c["per_seed"]) == 1
        assert (v["mean_training_depth"] is None) == (name == "base")
    assert on_disk["variants"]["grpo"]["mean_training_depth"] == 0.0  # plain GRPO trains on first attempts only
    # the curve's points are the trajectories' scores
    trajs = read_jsonl(out / "seed0" / "exit" / "iterate" / "trajectories.jsonl")
    assert len(trajs) == 2 and all(len(t["scores"]) == 3 for t in trajs)
    for k, c in enumerate(on_disk["variants"]["exit"]["curve"]):
        assert c["mean"] == pytest.approx(sum(t["scores"][k] for t in trajs) / 2, abs=1e-4)
    s = on_disk["statement"]
    assert set(s) == {"exit_beyond_training_depth", "exit_vs_grpo"}
    for f in s.values():
        assert f["verdict"] == "not computed" or f["ci95"][0] <= f["difference"] <= f["ci95"][1]
    depth = on_disk["variants"]["exit"]["mean_training_depth"]
    beyond = s["exit_beyond_training_depth"]
    assert beyond["step_beyond_depth"] == math.floor(depth) + 1  # the first step strictly beyond the depth
    if beyond["step_beyond_depth"] >= 2:
        assert beyond["verdict"] == "not computed"
    for name in ("base", "exit"):  # scored on the tests the feedback never showed
        assert json.loads((out / "seed0" / name / "iterate" / "curve.json").read_text())["scored_on"] == HELD_OUT
    report = (out / "report.md").read_text()
    assert report.startswith("# ExIt in the micro-world") and "## Statement" in report
    assert (out / "curves.png").stat().st_size > 0
    assert (out / "seed0" / "exit" / "groups.jsonl").is_file()
    assert {"train", "iterate"} <= set(on_disk["timings"])
    # the domain: summary docs, and the held-out split as asked
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.exit.domains.sebench import SEBenchDomain

    bench = Bench.open(out / "bench")
    multi = SEBenchDomain(bench, mode="open", doc_style="summary", test_split="test_multi").tasks("test")
    assert [t.id for t in multi] == [t.id for t in bench.tasks("test_multi")]
    full = SEBenchDomain(bench, mode="open").tasks("test")
    summary = {t.id: t.prompt for t in W.ExitWorld(cfg, log=lambda m: None).domain().tasks("test")}
    assert all(len(summary[t.id]) < len(t.prompt) for t in full)
    again = W.ExitWorld(cfg, log=lambda m: None)
    assert again.run()["variants"] == results["variants"]
    assert not {"train", "iterate"} & set(again.timings)
    # --jobs: seeds in parallel processes, each seed's numbers as one process gives them
    par = W.MicroExitConfig(bench=str(numpy_bench.root), base=str(BASE), out=str(tmp_path / "par"), seeds=2,
                            variants=["grpo"], workers=2, embedder="hash", scale=TINY, jobs=2)
    two = W.ExitWorld(par, log=lambda m: None).run()
    for name in ("base", "grpo"):
        assert [c["per_seed"][0] for c in two["variants"][name]["curve"]] == \
            [c["per_seed"][0] for c in results["variants"][name]["curve"]]
        assert all(len(c["per_seed"]) == 2 for c in two["variants"][name]["curve"])
    assert {"train", "iterate"} <= set(two["timings"])


def _scores(values_by_step: dict[int, list[float]], seeds: int = 2,
            copies: int = 100) -> list[dict[int, dict[str, float]]]:
    """Each step's task pattern repeated ``copies`` times: enough tasks to tell equal from different."""
    return [{k: {f"t{i}": v for i, v in enumerate(vs * copies)} for k, vs in values_by_step.items()}
            for _ in range(seeds)]


def test_statement_from_hand_made_scores():
    low, high = [0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0]
    scores = {"exit": _scores({0: low, 1: low, 2: high}), "grpo": _scores({0: low, 1: low, 2: high})}
    s = W.statement(scores, {"exit": [0.6, 1.2], "grpo": [0.0, 0.0]}, k=2)
    beyond = s["exit_beyond_training_depth"]
    assert beyond["step_beyond_depth"] == 1 and beyond["depth"] == pytest.approx(0.9)
    assert beyond["difference"] == pytest.approx(50.0)  # 0.75 - 0.25, in points
    assert beyond["verdict"] == "yes"  # two of every four tasks gain, none loses
    lo, hi = s["exit_vs_grpo"]["ci95"]
    assert s["exit_vs_grpo"]["difference"] == 0.0 and -1 < lo <= 0 <= hi < 1
    assert s["exit_vs_grpo"]["verdict"] == "no"  # measurably equal: not a win
    # a mean depth of 0.4 compares K with step 1 (the first beyond it), not with step 0 (the nearest)
    worse = W.statement({"exit": _scores({0: low, 1: high, 2: low})}, {"exit": [0.4, 0.4]}, k=2)
    assert worse["exit_beyond_training_depth"]["step_beyond_depth"] == 1
    assert worse["exit_beyond_training_depth"]["difference"] == pytest.approx(-50.0)  # rounding gave 0.0
    assert worse["exit_beyond_training_depth"]["verdict"] == "no" and "exit_vs_grpo" not in worse
    assert "does not improve" in W.sentence("exit_beyond_training_depth", worse["exit_beyond_training_depth"])
    deep = W.statement({"exit": _scores({0: low, 1: low, 2: high})}, {"exit": [1.0, 1.2]}, k=2)
    assert deep["exit_beyond_training_depth"]["verdict"] == "not computed"  # step 2 is K: nothing beyond to see
    assert W.sentence("exit_beyond_training_depth", deep["exit_beyond_training_depth"]).startswith("not computed")
    assert W.statement({"grpo": scores["grpo"]}, {}, k=2) == {}


@pytest.mark.parametrize("args,message", [
    (["--seeds", "0"], "'--seeds': Input should be greater than or equal to 1"),
    (["--out", "{tmp}/afile/sub"], "cannot write to {tmp}/afile/sub: Not a directory"),
    (["--jobs", "0"], "'--jobs': Input should be greater than or equal to 1"),
    (["--base", "{tmp}"], "not a micro base"),
    (["--variants", "grpo,nonsense"], "unknown nonsense"),
    (["--embedder", "bert"], "'bert' is not one of 'minilm', 'static', 'hash'"),
])
def test_bad_input_is_one_line_and_exit_2(numpy_bench, tmp_path, args, message):
    (tmp_path / "afile").write_text("")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    message = message.replace("{tmp}", str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "micro", "exit", "--bench", str(numpy_bench.root),
                        "--out", str(tmp_path / "run"), *args], capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_a_stage_is_reused_only_with_the_settings_it_ran_with(numpy_bench, tmp_path, monkeypatch):
    """An `exit train` stage's STAGE file holds its settings: a second run with them reuses it, another learning
    rate trains it again."""
    from dataclasses import replace
    from types import SimpleNamespace

    import selfevolve_lab.exit.trainer

    ran: list[float] = []

    def train(dom, base, cfg, run, **_):
        ran.append(cfg.learning_rate)
        (run / "model").mkdir(parents=True, exist_ok=True)
        (run / "model" / "config.json").write_text("{}")

    monkeypatch.setattr(selfevolve_lab.exit.trainer, "train", train)
    monkeypatch.setattr(W.ExitWorld, "domain", lambda self: SimpleNamespace(close=lambda: None))

    def world(scale):
        return W.ExitWorld(W.MicroExitConfig(bench=str(numpy_bench.root), base=str(BASE), out=str(tmp_path),
                                             seeds=1, embedder="hash", scale=scale), log=lambda m: None)

    assert world(TINY).train(0, "grpo") == world(TINY).train(0, "grpo") == tmp_path / "seed0" / "grpo" / "model"
    assert ran == [TINY.lr]
    world(replace(TINY, lr=TINY.lr / 2)).train(0, "grpo")
    assert ran == [TINY.lr, TINY.lr / 2]
