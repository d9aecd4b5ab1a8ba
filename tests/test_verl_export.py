"""`selfevolve export verl`: verl's parquet columns, and compute_score called the way verl's reward manager does."""

from __future__ import annotations

import pytest

from train_fixtures import make_small_bench


def test_export_and_compute_score(mini_bench, tmp_path, capsys):
    import pyarrow.parquet as pq

    from selfevolve.cli import main
    from selfevolve.integrations.verl import compute_score

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
    from selfevolve.train.data import train_tasks

    ref = train_tasks(bench)[0].reference
    good = compute_score(data_source=row["data_source"], solution_str=f"```python\n{ref}```",
                         ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
    bad = compute_score(data_source=row["data_source"], solution_str="```python\ndef solve(x):\n    return x\n```",
                        ground_truth=row["reward_model"]["ground_truth"], extra_info=row["extra_info"])
    assert good == {"score": 1.0, "status": "passed"} and bad["score"] == 0.0 and bad["status"] == "not_using_package"
    with pytest.raises(SystemExit) as e:  # an existing output is refused
        main(["export", "verl", "--bench", str(bench.root), "--out", str(out)])
    assert e.value.code == 2 and "exists" in capsys.readouterr().err
