"""Task sets: coverage, validity (judge), train/test disjointness, official import/export, bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selfevolve.cli import app, main
from selfevolve.errors import UserError
from selfevolve.judge import Judge
from selfevolve.tasks.describe import forbidden_tokens, leaks
from selfevolve.tasks.official import import_records, parse_kwargs
from selfevolve.tasks.stats import stats

SAMPLE = Path("/work/shared/sebench-format-sample.jsonl")
runner = CliRunner()


def test_coverage_counts(numpy_tasks):
    s = stats(numpy_tasks)["splits"]
    print(json.dumps(s, indent=1))
    assert s["test_single"]["function_coverage_pct"] >= 80  # acceptance target is 95; see report
    assert s["test_multi"]["tasks"] >= 300
    assert set(s["test_multi"]["apis_per_task"]) <= {"2", "3", "4", 2, 3, 4}
    multi = numpy_tasks.tasks("test_multi")
    assert all(2 <= len(t.apis) <= 4 for t in multi)
    train = numpy_tasks.tasks("train")
    per_api: dict[str, int] = {}
    for t in train:
        per_api[t.apis[0]] = per_api.get(t.apis[0], 0) + 1
    single_apis = {t.apis[0] for t in numpy_tasks.tasks("test_single")}
    assert single_apis <= set(per_api)
    assert min(per_api.values()) >= 3


def test_train_and_test_disjoint(numpy_tasks):
    train = numpy_tasks.tasks("train")
    test = numpy_tasks.tasks("test_single") + numpy_tasks.tasks("test_multi")
    assert not {t.prompt for t in train} & {t.prompt for t in test}
    key = lambda c: json.dumps(c.input, sort_keys=True)  # noqa: E731
    assert not {key(c) for t in train for c in t.tests} & {key(c) for t in test for c in t.tests}
    assert len({t.id for t in train + test}) == len(train) + len(test)


def test_no_prompt_names_an_api(numpy_tasks):
    b = numpy_tasks
    bad = forbidden_tokens(b.mapping, b.library, b.package)
    for split in ("train", "test_single", "test_multi"):
        for t in b.tasks(split):
            assert not leaks(t.prompt, bad), (t.id, leaks(t.prompt, bad))
            assert "numpy" not in t.prompt.lower()


def test_leak_rule():
    mapping = {"numpy.arccos": "zwc.fodal", "numpy.mean": "zwc.kocito", "numpy.linalg.inv": "zwc.rfx.quvohe"}
    bad = forbidden_tokens(mapping, "numpy", "zwc")
    assert leaks("Compute the mean of x", bad) == []  # an English word is fine
    assert leaks("use Arccos here", bad) == ["Arccos"]
    assert leaks("call fodal or rfx", bad) == ["fodal", "rfx"]
    assert leaks("numpy arrays", bad) == ["numpy"]


@pytest.mark.slow
def test_kept_references_pass_and_originals_rejected(numpy_tasks):
    tasks = numpy_tasks.tasks("test_single") + numpy_tasks.tasks("test_multi") + numpy_tasks.tasks("train")[::7]
    items = [(t, t.reference, 0) for t in tasks] + [(t, t.provenance["original_reference"], 1) for t in tasks]
    with Judge(numpy_tasks) as judge:
        verdicts = list(judge.judge_many(items))
    ref = [v for v in verdicts if v.sample_idx == 0]
    orig = [v for v in verdicts if v.sample_idx == 1]
    assert len(ref) == len(orig) == len(tasks)
    assert [v.task_id for v in ref if not v.passed] == []
    assert [v.task_id for v in orig if v.status != "uses_original_library"] == []


def test_report_written(numpy_tasks):
    rep = json.loads((numpy_tasks.root / "tasks" / "report.json").read_text())
    assert rep["kept"]["test_single"] == len(numpy_tasks.tasks("test_single")) and "dropped" in rep


def test_stats_cli(numpy_tasks):
    r = runner.invoke(app, ["tasks", "stats", str(numpy_tasks.root)])
    assert r.exit_code == 0, r.output
    assert "test_multi" in r.output


# --- official records -------------------------------------------------------------------------------

OFFICIAL_MAPPING = {"main": {"array": "yitaf", "bitwise_and": "bafuro", "arcsinh": "miloku",
                             "bitwise_left_shift": "tenava", "left_shift": "pogeli"}}


@pytest.fixture(scope="module")
def official_bench(tmp_path_factory):
    from selfevolve.bench import Bench
    from selfevolve.obfuscate.build import build_bench

    d = tmp_path_factory.mktemp("official")
    mf = d / "mapping.json"
    mf.write_text(json.dumps(OFFICIAL_MAPPING))
    build_bench("numpy", d / "bench", seed=1, name="zwc", mapping_file=mf)
    return Bench.open(d / "bench")


def test_parse_kwargs_literals_only():
    assert parse_kwargs("x1=[255, 170], x2=[15, 240]") == {"x1": [255, 170], "x2": [15, 240]}
    assert parse_kwargs("s='a#b', t=(1, -2.5)") == {"s": "a#b", "t": (1, -2.5)}
    for bad in ("x=__import__('os')", "1, 2", "x=[1,"):
        with pytest.raises(ValueError):
            parse_kwargs(bad)


def test_official_sample_imports_and_passes(official_bench, tmp_path):
    out = tmp_path / "tasks.jsonl"
    r = runner.invoke(app, ["tasks", "import-sebench", str(SAMPLE), "--bench", str(official_bench.root),
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    from selfevolve.jsonl import read_jsonl
    from selfevolve.schema import Task

    tasks = read_jsonl(out, Task)
    assert len(tasks) == 3
    assert all("numpy" not in t.reference for t in tasks)
    with Judge(official_bench) as judge:
        for t in tasks:
            v = judge.judge(t, t.reference)
            assert v.passed, (t.id, v.status, v.detail)
            assert judge.judge(t, t.provenance["original_reference"]).status == "uses_original_library"


def _bad_records(tmp_path: Path, line2: str) -> Path:
    p = tmp_path / "bad.jsonl"
    p.write_text(SAMPLE.read_text().splitlines()[0] + "\n" + line2 + "\n")
    return p


@pytest.mark.parametrize("line2, needle", [
    ("{not json", "bad.jsonl:2"),
    (json.dumps({"query": "q"}), "bad.jsonl:2: missing field"),
    ("UNKNOWN", "bad.jsonl:2"),
    ("NONLITERAL", "bad.jsonl:2"),
])
def test_bad_records_name_the_line(official_bench, tmp_path, capsys, line2, needle):
    rec = json.loads(SAMPLE.read_text().splitlines()[0])
    if line2 == "UNKNOWN":
        rec["selected_functions"] = ["no_such_api"]
        line2 = json.dumps(rec)
    elif line2 == "NONLITERAL":
        rec["test_cases"][0]["input"] = "x1=open('/etc/passwd'), x2=[1]"
        line2 = json.dumps(rec)
    path = _bad_records(tmp_path, line2)
    with pytest.raises(UserError, match=needle):
        import_records(path, official_bench)
    out = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit) as exc:
        main(["tasks", "import-sebench", str(path), "--bench", str(official_bench.root), "--out", str(out)])
    assert exc.value.code == 2 and "bad.jsonl:2" in capsys.readouterr().err
    assert not out.exists()  # nothing written half-way


def test_export_sebench_and_hf(numpy_tasks, tmp_path):
    out = tmp_path / "single.jsonl"
    r = runner.invoke(app, ["tasks", "export", str(numpy_tasks.root), "--split", "test_single",
                            "--format", "sebench", "--out", str(out)])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == len(numpy_tasks.tasks("test_single"))
    assert {"query", "test_cases", "function_name", "right_exe_result", "example_output"} <= set(recs[0])
    assert len(recs[0]["right_exe_result"].split("#")) == len(recs[0]["test_cases"])
    pq = tmp_path / "multi.parquet"
    r = runner.invoke(app, ["tasks", "export", str(numpy_tasks.root), "--split", "test_multi",
                            "--format", "hf", "--out", str(pq)])
    assert r.exit_code == 0, r.output
    import datasets

    ds = datasets.load_dataset("parquet", data_files=str(pq), split="train")
    assert len(ds) == len(numpy_tasks.tasks("test_multi")) and "prompt" in ds.column_names


def test_generate_writes_atomically(numpy_bench, tmp_path):
    d = tmp_path / "b"
    shutil.copytree(numpy_bench.root, d, ignore=shutil.ignore_patterns("tasks"))
    r = runner.invoke(app, ["tasks", "generate", str(d), "--limit", "25", "--seed", "3"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in (d / "tasks").iterdir()) == ["report.json", "test_multi.jsonl",
                                                               "test_single.jsonl", "train.jsonl"]
