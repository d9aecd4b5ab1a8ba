"""`selfevolve micro run` end to end at CI size: every recipe from the committed base, through the real
trainers, eval harness and judge, into a well-formed results.json (the numbers mean nothing at this size)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfevolve_lab.micro import experiment as X

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "micro-base"
TINY = X.MicroRunScale(sft_epochs=1.0, sft_max_steps=2, sft_batch=4, data_samples=1, rl_steps=2, rl_group=2,
               rl_prompts_per_step=2, rl_curve_every=1, selfplay_tasks=2, selfplay_per_api=1, eval_limit=3,
               train_limit=3)


def test_every_recipe_runs_end_to_end_and_writes_results(numpy_bench, tmp_path):
    cfg = X.MicroRunConfig(bench=str(numpy_bench.root), base=str(BASE), out=str(tmp_path / "run"), seeds=1, quick=True,
                      workers=2, scale=TINY)
    results = X.Experiment(cfg, log=lambda m: None).run()
    out = tmp_path / "run"
    on_disk = json.loads((out / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results, sort_keys=True))
    assert set(on_disk["recipes"]) == set(X.RECIPES)
    for by_mode in on_disk["recipes"].values():
        for mode in ("closed", "open"):
            for split in ("test_single", "test_multi"):
                cell = by_mode[mode][split]
                assert set(cell) == {"mean", "ci95", "per_seed"} and len(cell["per_seed"]) == 1
                assert 0 <= cell["ci95"][0] <= cell["mean"] <= cell["ci95"][1] <= 100
    assert set(on_disk["findings"]) == set(X.F.FINDINGS)
    rl = {r for r, chain in X.RECIPES.items() if chain and chain[-1][0] == "rl"}
    assert set(on_disk["training"]) == rl and all(0 <= v[k] <= 1 for v in on_disk["training"].values()
                                                  for k in ("clip_fraction", "negative_share"))
    # each RL stage trained its budget in segments, resumed, with closed book scored between them
    closed_rl = out / "seed0" / X.stage_name(X.RECIPES["closed_rl"])
    assert [json.loads(line)["step"] for line in (closed_rl / "curve.jsonl").read_text().splitlines()] == [1]
    from selfevolve_lab.train.run import read_metrics

    assert [r["step"] for r in read_metrics(closed_rl) if r.get("reward_mean") is not None] == [1, 2]
    curve = on_disk["training"]["closed_rl"]["closed_curve"]
    assert [k for k, _ in curve] == [0, 1, 2]
    assert curve[0][1] == on_disk["recipes"]["base"]["closed"]["test_single"]["mean"]
    assert curve[-1][1] == on_disk["recipes"]["closed_rl"]["closed"]["test_single"]["mean"]
    assert [k for k, _ in on_disk["training"]["closed_rl"]["reward"]] == [1, 2]
    assert (out / "rl-curves.png").stat().st_size > 0
    # self-play's counts per seed and round, as its stats.json has them, in results.json and the report
    for r in ("selfplay_sft", "selfplay_rl"):
        stats = json.loads((out / "seed0" / X.stage_name(X.RECIPES[r]) / "stats.json").read_text())
        assert on_disk["selfplay"][r] == [[{k: st.get(k) for k in ("written", "parsed", "solved", "kept", "trained",
                                                                   "steps")} for st in stats]]
        assert on_disk["selfplay"][r][0][0]["written"] == 2  # 2 docs x 1 task each
    assert "self-play+SFT, by seed: seed 0: written 2" in (out / "report.md").read_text()
    report = (out / "report.md").read_text()
    assert "RL 2 steps" in report and "**The quick budget**" in report
    reward = dict(on_disk["training"]["closed_rl"]["reward"])
    assert f"| Closed-RL | {reward[1]:.3f} | {reward[2]:.3f} |" in report  # the reward per window between scores
    for f in on_disk["findings"].values():
        assert f["verdict"] in ("reproduced", "not reproduced", "inconclusive", "not tested")
    pre = on_disk["preconditions"]
    assert pre["original_library"] >= 0.8 and pre["open_book"] >= 0.6 and pre["closed_book"] <= 0.02
    assert {"sft_data", "sft", "rl", "selfplay", "eval"} <= set(on_disk["timings"])
    assert (out / "report.md").read_text().startswith("# SE-Bench in the micro-world")
    assert (out / "recipes.png").stat().st_size > 0
    # Closed-SFT->RL starts from the very model the Closed-SFT row scores: one SFT stage, reused
    sft_runs = [p for p in (out / "seed0").iterdir() if p.name.startswith("sft-mode=closed")]
    assert [p.name for p in sft_runs if "+" not in p.name] == ["sft-mode=closed"]
    # a second run resumes: every stage is reused, nothing is trained again
    again = X.Experiment(cfg, log=lambda m: None)
    assert again.run() == results | {"timings": again.timings}
    assert not {"sft", "rl", "selfplay", "sft_data", "eval"} & set(again.timings)
    # an eval is reused only for the weights it scored: other weights under the same path are scored again
    conf = out / "seed0" / "sft-mode=closed" / "model" / "config.json"
    conf.write_text(json.dumps({**json.loads(conf.read_text()), "note": "changed"}))
    third = X.Experiment(cfg, log=lambda m: None)
    third.run()
    assert set(third.timings) == {"eval"}
    assert json.loads((out / "seed0" / "closed_sft" / "eval-closed-test_single" / "STAGE").read_text())["weights"] == \
        X._digest(conf.parent)

    # determinism: the same seed from scratch in another directory, here with two seeds in two processes,
    # gives the same models, samples and numbers
    picked = ["closed_sft", "closed_rl", "selfplay_sft"]
    cfg2 = X.MicroRunConfig(bench=str(numpy_bench.root), base=str(BASE), out=str(tmp_path / "again"), seeds=2,
                       quick=True, workers=2, scale=TINY, recipes=picked, jobs=2)
    second = X.Experiment(cfg2, log=lambda m: None).run()
    for r in picked:
        for mode in ("closed", "open"):
            for split in ("test_single", "test_multi"):
                assert second["recipes"][r][mode][split]["per_seed"][0] == on_disk["recipes"][r][mode][split]["per_seed"][0]

    def fingerprint(root: Path) -> dict[str, object]:
        """Model weights by hash; the SFT data by what it trains on (its verdicts carry timings)."""
        import hashlib

        out: dict[str, object] = {str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest()
                                  for f in root.glob("seed0/*/model/model.safetensors")}
        data = root / "seed0" / "data.jsonl"
        if data.is_file():
            out["seed0/data.jsonl"] = [(r["task_id"], r["sample_idx"], r["completion"], r["verdict"]["status"])
                                       for r in map(json.loads, data.read_text().splitlines())]
        return out

    def completions(root: Path) -> dict[str, dict[tuple[str, int], str]]:
        """Each eval's completions by sample (the file's order is the order the judge finished them in)."""
        return {str(f.relative_to(root)): {(r["task_id"], r["sample_idx"]): r["completion"]
                                           for r in map(json.loads, f.read_text().splitlines())}
                for f in root.glob("seed0/*/eval-*/samples.jsonl")}

    mine = fingerprint(tmp_path / "again")
    assert len([k for k in mine if k.endswith("model.safetensors")]) >= 2
    theirs = fingerprint(out)
    assert "seed0/data.jsonl" in mine and {k: theirs.get(k) for k in mine} == mine
    first_c, second_c = completions(out), completions(tmp_path / "again")
    assert second_c and all(second_c[k] == first_c[k] for k in second_c)


@pytest.mark.parametrize("args,message", [
    (["--seeds", "0"], "'--seeds': Input should be greater than or equal to 1"),
    (["--out", "{tmp}/afile/sub"], "cannot write to {tmp}/afile/sub: Not a directory"),
    (["--jobs", "0"], "'--jobs': Input should be greater than or equal to 1"),
    (["--base", "{tmp}"], "not a micro base"),
    (["--bench", "{tmp}"], "{tmp}"),
    (["--recipes", "closed_sft,nonsense"], "unknown nonsense"),
])
def test_bad_input_is_one_line_and_exit_2(numpy_bench, tmp_path, args, message):
    (tmp_path / "afile").write_text("")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    message = message.replace("{tmp}", str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "micro", "run", "--bench", str(numpy_bench.root),
                        "--out", str(tmp_path / "run"), *args], capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_every_ablation_can_act_at_the_micro_scale():
    """--no-clip changes nothing with one update per generation batch (and the trainer refuses it): the
    micro-world's no-clip ablation and the clipped run it is compared with take several."""
    from dataclasses import replace

    from selfevolve_lab.micro.experiment import ABLATIONS, MicroRunScale

    for name, stages in ABLATIONS.items():
        for _kind, recipe in stages:
            hp = replace(MicroRunScale().rl(), ppo_epochs=recipe.ppo_epochs)
            if recipe.no_clip:
                assert hp.updates_per_batch() > 1, name
    assert ABLATIONS["closed_rl_2_passes"][0][1].ppo_epochs == ABLATIONS["closed_rl_no_clip"][0][1].ppo_epochs


def test_a_stage_is_reused_only_with_the_settings_it_ran_with(numpy_bench, tmp_path, monkeypatch):
    """A finished stage's STAGE file holds its settings: the same settings reuse it, another value (here the
    SFT learning rate, then the SFT data's sample count) makes it, and only what depends on it, run again."""
    from dataclasses import replace

    import selfevolve_lab.train.data
    import selfevolve_lab.train.sft

    ran: list = []

    def data(bench, path, **_):
        ran.append("data")
        path.write_text("")

    def sft(bench, start, data, mode, run, common, hp):
        ran.append(hp.lr)
        (run / "model").mkdir(parents=True, exist_ok=True)
        (run / "model" / "config.json").write_text("{}")

    monkeypatch.setattr(selfevolve_lab.train.data, "build_data", data)
    monkeypatch.setattr(selfevolve_lab.train.sft, "train_sft", sft)

    def stage(scale):
        cfg = X.MicroRunConfig(bench=str(numpy_bench.root), base=str(BASE), out=str(tmp_path), seeds=1, scale=scale)
        return X.Experiment(cfg, log=lambda m: None).stage(0, X.RECIPES["closed_sft"], BASE)

    assert stage(TINY) == stage(TINY) == tmp_path / "seed0" / "sft-mode=closed" / "model"
    assert ran == ["data", TINY.sft_lr]  # the second run reused both stages
    stage(replace(TINY, sft_lr=TINY.sft_lr / 2))
    assert ran[2:] == [TINY.sft_lr / 2]  # the data's settings did not change
    stage(replace(TINY, sft_lr=TINY.sft_lr / 2, data_samples=2))
    assert ran[3:] == ["data", TINY.sft_lr / 2]


def test_a_seed_process_asks_to_die_with_its_parent(monkeypatch):
    import torch

    asked = []
    monkeypatch.setattr(X, "die_with_parent", lambda: asked.append(True))

    class World:
        def __init__(self, cfg, log):
            self.timings = {}

        def seed(self, seed):
            return seed

    assert X._seed_in_process((World, None, 3, torch.get_num_threads())) == (3, {})
    assert asked == [True]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_parent_takes_its_seed_processes_with_it(tmp_path):
    """`micro run --jobs 3` killed with SIGKILL once left three seeds training for an hour."""
    import os
    import signal
    import textwrap
    import time

    pid_file = tmp_path / "child.pid"
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent(f"""
        import multiprocessing as mp, os, sys, time
        sys.path.insert(0, {str(ROOT / "src")!r})
        from selfevolve_lab.micro.experiment import die_with_parent

        def child(path):
            die_with_parent()
            open(path + ".tmp", "w").write(str(os.getpid()))
            os.replace(path + ".tmp", path)
            time.sleep(120)

        if __name__ == "__main__":
            p = mp.get_context("spawn").Process(target=child, args=({str(pid_file)!r},))
            p.start()
            p.join()
    """))
    parent = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        child = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()

        def alive(pid):
            try:
                state = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                return False
            return "\nState:\tZ" not in state

        deadline = time.monotonic() + 20
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(child):
            os.kill(child, signal.SIGKILL)
            pytest.fail("the seed process outlived its killed parent")
    finally:
        parent.kill()
