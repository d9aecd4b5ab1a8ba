"""`selfevolve tasks export --format hf`: a dataset directory that `datasets.load_dataset` reads back task for
task, with the bench a downloader judges with; `--push-to-hub` refused without a token, and pushed through
huggingface_hub's HfApi (a stand-in here: no network)."""

from __future__ import annotations

from pathlib import Path

import pytest

from selfevolve_lab.cli import main
from train_fixtures import make_small_bench


@pytest.fixture
def two_splits(mini_bench, tmp_path):
    bench = make_small_bench(mini_bench.root, tmp_path / "bench")
    train = bench.tasks("train")
    (bench.root / "tasks" / "test_single.jsonl").write_text(
        "".join(t.model_copy(update={"id": t.id.replace("train", "test")}).model_dump_json() + "\n" for t in train[:2]))
    return bench


def test_export_hf_round_trips_through_load_dataset(two_splits, tmp_path, capsys):
    import datasets
    import yaml

    from selfevolve_lab.judge import Judge
    from selfevolve_lab.tasks.formats import task_from_hf_row

    out = tmp_path / "nested" / "ds"
    main(["tasks", "export", str(two_splits.root), "--format", "hf", "--out", str(out)])
    said = capsys.readouterr()
    assert "train 4, test_single 2 tasks" in said.out and "name mapping" in said.err  # what publishing gives away
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert set(loaded) == {"train", "test_single"}
    for split in loaded:
        back = [task_from_hf_row(r) for r in loaded[split]]
        assert back == two_splits.tasks(split)  # every field: ids, tests (tagged values), references, compare
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---")[1])
    assert meta["license"] == ["apache-2.0", "bsd-3-clause"]
    assert meta["configs"][0]["data_files"] == [{"split": "train", "path": "data/train.parquet"},
                                                {"split": "test_single", "path": "data/test_single.parquet"}]
    assert "Closed book" in card and "Open book" in card and "`zwc`" in card
    assert {p.name for p in (out / "bench").iterdir()} == {"manifest.json", "mapping.json", "docs.jsonl", "package"}
    task = task_from_hf_row(loaded["test_single"][0])
    with Judge(out / "bench", workers=1) as judge:  # what a downloader has is enough to judge
        assert judge.judge(task, f"```python\n{task.reference}```").status == "passed"
        assert judge.judge(task, "```python\ndef solve(x):\n    return [abs(v) for v in x]\n```").status \
            == "not_using_package"
    with pytest.raises(SystemExit) as e:  # an existing directory is refused without --force
        main(["tasks", "export", str(two_splits.root), "--format", "hf", "--out", str(out)])
    assert e.value.code == 2 and "--force" in capsys.readouterr().err
    main(["tasks", "export", str(two_splits.root), "--format", "hf", "--split", "train", "--out", str(out), "--force"])
    assert sorted(p.name for p in (out / "data").iterdir()) == ["train.parquet"]


def test_push_to_hub_needs_a_token_and_uploads_the_directory(two_splits, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub, "get_token", lambda: None)  # nor a stored login
    out = tmp_path / "ds"
    argv = ["tasks", "export", str(two_splits.root), "--format", "hf", "--out", str(out), "--push-to-hub", "me/zwc"]
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "no Hugging Face token" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # refused before any work

    calls = []

    class FakeApi:
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo_id, **kw):
            calls.append(("create_repo", repo_id, kw))
            return f"https://huggingface.co/datasets/{repo_id}"

        def upload_folder(self, **kw):
            files = sorted(p.name for p in Path(kw["folder_path"]).iterdir())
            calls.append(("upload_folder", kw["repo_id"], kw["repo_type"], files))

    monkeypatch.setattr(huggingface_hub, "get_token", lambda: "hf_secret")
    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    main([*argv, "--private"])
    assert calls == [("init", "hf_secret"),
                     ("create_repo", "me/zwc", {"repo_type": "dataset", "private": True, "exist_ok": True}),
                     ("upload_folder", "me/zwc", "dataset", ["README.md", "bench", "data"])]
    assert "pushed to https://huggingface.co/datasets/me/zwc" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["tasks", "export", str(two_splits.root), "--out", str(tmp_path / "x.jsonl"), "--push-to-hub", "me/zwc"])
    assert e.value.code == 2 and "--format hf" in capsys.readouterr().err
