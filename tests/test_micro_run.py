"""`selfevolve micro run` end to end at CI size: every recipe from the committed base, through the real
trainers, eval harness and judge, into a well-formed results.json (the numbers mean nothing at this size)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfevolve.micro import experiment as X

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "micro-base"
TINY = X.Scale(sft_epochs=1.0, sft_max_steps=2, sft_batch=4, data_samples=1, rl_steps=1, rl_group=2,
               rl_prompts_per_step=2, selfplay_tasks=2, eval_limit=3, train_limit=3)


def test_every_recipe_runs_end_to_end_and_writes_results(numpy_bench, tmp_path):
    cfg = X.RunConfig(bench=str(numpy_bench.root), base=str(BASE), out=str(tmp_path / "run"), seeds=1, quick=True,
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
    for f in on_disk["findings"].values():
        assert f["verdict"] in ("reproduced", "not reproduced", "inconclusive")
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
    again.run()
    assert not {"sft", "rl", "selfplay", "sft_data"} & set(again.timings)


@pytest.mark.parametrize("args,message", [
    (["--seeds", "0"], "at least one seed"),
    (["--base", "{tmp}"], "not a micro base"),
    (["--recipes", "closed_sft,nonsense"], "unknown nonsense"),
])
def test_bad_input_is_one_line_and_exit_2(numpy_bench, tmp_path, args, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    r = subprocess.run([sys.executable, "-m", "selfevolve.cli", "micro", "run", "--bench", str(numpy_bench.root),
                        "--out", str(tmp_path / "run"), *args], capture_output=True, text=True)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr, r.stderr
