"""`selfevolve export verl`: verl's parquet columns, and compute_score called the way verl's reward manager does."""

from __future__ import annotations

import pytest

from train_fixtures import make_small_bench, one_torch_thread  # noqa: F401


def test_export_and_compute_score(mini_bench, tmp_path, capsys):
    import pyarrow.parquet as pq

    from selfevolve_lab.cli import main
    from selfevolve_lab.integrations.verl import compute_score, compute_score_batch

    bench = make_small_bench(mini_bench.root, tmp_path / "bench")
    out = tmp_path / "verl"
    main(["export", "verl", "--bench", str(bench.root), "--out", str(out)])
    nodocs = pq.read_table(out / "train_nodocs.parquet").to_pylist()
    docs = pq.read_table(out / "train_docs.parquet").to_pylist()
    assert len(nodocs) == len(docs) == 4
    for a, b in zip(nodocs, docs, strict=True):
        assert set(a) == {"data_source", "prompt", "ability", "reward_model", "extra_info"}
        assert a["reward_model"] == b["reward_model"] and a["reward_model"]["style"] == "rule"
        assert a["extra_info"]["index"] == b["extra_info"]["index"]  # the same row in both: one sampler serves both
        assert a["prompt"][0]["role"] == "user" and "Documentation of the `zwc` library" not in a["prompt"][0]["content"]
        assert "Documentation of the `zwc` library" in b["prompt"][0]["content"]
    # verl's NaiveRewardManager: compute_score(data_source=, solution_str=, ground_truth=, extra_info=) per row
    row = nodocs[0]
    from selfevolve_lab.train.data import train_tasks

    ref = train_tasks(bench)[0].reference
    good = compute_score(data_source=row["data_source"], solution_str=f"```python\n{ref}```",
                         ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
    bad = compute_score(data_source=row["data_source"], solution_str="```python\ndef solve(x):\n    return x\n```",
                        ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
    assert good == {"score": 1.0, "status": "passed", "detail": ""}
    assert bad["score"] == 0.0 and bad["status"] == "not_using_package" and set(bad) == set(good)
    # verl's BatchRewardManager: lists in, one dict per row out, the same keys on every row; a row that cannot be
    # judged (here: an unknown task, no bench, extra_info that is no dict) scores 0 and says why, never raises
    rows = [nodocs[0], nodocs[0], nodocs[1], nodocs[1], nodocs[1]]
    infos = [r["extra_info"] for r in rows]
    infos[3], infos[4] = {"index": 1}, 7
    truths = [r["reward_model"]["ground_truth"] for r in rows]
    truths[2] = "train/nope/1"
    scores = compute_score_batch(data_sources=[r["data_source"] for r in rows], ground_truths=truths,
                                 solution_strs=[f"```python\n{ref}```", "no code", "x", "x", "x"], extra_infos=infos,
                                 rollout_reward_scores={})
    assert [s["score"] for s in scores] == [1.0, 0.0, 0.0, 0.0, 0.0] and all(set(s) == set(good) for s in scores)
    assert scores[0] == good and scores[1]["status"] not in ("passed", "error")
    assert [s["status"] for s in scores[2:]] == ["error"] * 3
    assert "'train/nope/1' is not in" in scores[2]["detail"] and "no bench" in scores[3]["detail"]
    assert "neither a dict nor JSON" in scores[4]["detail"]
    assert compute_score(row["data_source"], "x", "train/nope/1", row["extra_info"])["status"] == "error"
    with pytest.raises(SystemExit) as e:  # an existing output is refused
        main(["export", "verl", "--bench", str(bench.root), "--out", str(out)])
    assert e.value.code == 2 and "exists" in capsys.readouterr().err
