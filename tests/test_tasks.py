"""Task sets: coverage, validity, train/test separation, the official format, exports, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from selfevolve_lab.errors import UserError
from selfevolve_lab.judge import Judge
from selfevolve_lab.obfuscate.leaks import Detector
from selfevolve_lab.obfuscate.translate import translate_code
from selfevolve_lab.sandbox.pool import default_workers
from selfevolve_lab.tasks.formats import export_hf, export_sebench, import_sebench

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "sebench-format-sample.jsonl"


@pytest.fixture(scope="module")
def splits(numpy_tasks):
    return {s: numpy_tasks.tasks(s) for s in ("train", "test_single", "test_multi")}


def test_coverage(numpy_tasks, splits):
    functions = {d.novel for d in numpy_tasks.docs if d.kind == "function"}
    single = Counter(a for t in splits["test_single"] for a in t.apis)
    # The validator drops the tasks a constant answer passes; the profile gives those APIs (all, any,
    # allclose, zeros, imag, ...) inputs with varied answers. What stays uncovered: APIs whose reference
    # does not react to its API (file, print-option and random-state APIs) and the skipped ones.
    assert len(set(single) & functions) >= 0.95 * len(functions)
    assert len(splits["test_multi"]) >= 300
    assert all(2 <= len(t.apis) <= 4 for t in splits["test_multi"])
    train = Counter(a for t in splits["train"] for a in t.apis)
    assert set(single) <= set(train) and min(train.values()) >= 3
    assert all(len(t.tests) >= 8 for s in splits.values() for t in s)
    out = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "tasks", "stats", str(numpy_tasks.root)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "test_multi" in out.stdout and "covered" in out.stdout


@pytest.mark.serial  # every task through the judge at once: beside another worker's sandboxes one
# reference in 2158 got sandbox_error in CI (the load, not the task); `make test` runs these alone
def test_every_reference_passes_and_every_original_is_rejected(numpy_tasks, splits):
    tasks = [t for s in splits.values() for t in s]
    with Judge(numpy_tasks) as judge:
        assert judge.pool.n_workers == default_workers()
        verdicts = list(judge.judge_many((t, t.reference, i) for i, t in enumerate(tasks)))
        assert Counter(v.status for v in verdicts) == {"passed": len(tasks)}
        for t in tasks:
            original = translate_code(t.reference, numpy_tasks.mapping, library="numpy", package="zwc", reverse=True)
            assert "import numpy" in original
            assert judge.judge(t, original).status == "uses_original_library"


@pytest.mark.serial  # as the test above
def test_no_task_passes_with_a_constant_and_every_task_carries_its_usage_probe(numpy_tasks, splits):
    from selfevolve_lab.judge.compare import equal
    from selfevolve_lab.sandbox.pool import PERTURBATION_VERSION
    from selfevolve_lab.tasks.generate import constant_answer

    tasks = [t for s in splits.values() for t in s]
    for t in tasks:
        assert constant_answer(t) is None, t.id
        probe = t.provenance["usage_probe"]
        assert probe["version"] == PERTURBATION_VERSION and probe["input"] not in [c.input for c in t.tests], t.id
    with Judge(numpy_tasks, probe_seed=0) as judge:  # the generator's own perturbation (conftest: seed 0)
        expected = [judge.usage_probe(t) for t in tasks]
        for t, e in zip(tasks, expected, strict=True):  # the reference reacts there
            assert not equal(t.provenance["usage_probe"]["output"], e.result().value, t.compare)[0], t.id


def test_constant_answer_rules():
    from selfevolve_lab.schema import CompareSpec, Task, TestCase
    from selfevolve_lab.tasks.generate import constant_answer

    def task(outputs, atol=1e-9):
        return Task(id="t", kind="single", apis=["zwc.f"], prompt="p", entry_point="solve", signature="def solve(x):",
                    reference="", compare=CompareSpec(atol=atol),
                    tests=[TestCase(input={"x": i}, output=o) for i, o in enumerate(outputs)])

    assert constant_answer(task([[1.0, 2.0]] * 3)) == "all tests share one expected output"
    assert constant_answer(task([True, True])) == "all tests share one expected output"
    assert "atol" in constant_answer(task([[0.0, 1e-12], [-1e-10], {"$f": "nan"}][:2]))
    assert "atol" in constant_answer(task([{"$array": {"dtype": "f8", "shape": [1], "data": [1e-17]}}, [0.0]]))
    assert "atol" in constant_answer(task([{"$complex": [0.0, 1e-12]}, 0]))
    assert constant_answer(task([[1e-12], [1e-17]], atol=0.0)) is None  # tiny is fine when compared relatively
    assert constant_answer(task([[0.0], [1.0]])) is None
    assert constant_answer(task([[True], [False]])) is None  # booleans are not numbers
    assert constant_answer(task([["a", 0.0], ["b", 0.0]])) is not None  # every number is zero
    assert constant_answer(task([{"$f": "nan"}, [0.0]])) is None


def test_prompts_name_no_api(numpy_tasks, splits):
    detector = Detector("numpy", set(numpy_tasks.mapping), set())
    novel = {n.rsplit(".", 1)[-1] for n in numpy_tasks.mapping.values()}
    for s in splits.values():
        for t in s:
            assert not detector.scan(t.prompt), (t.id, t.prompt, detector.scan(t.prompt))
            assert not set(t.prompt.replace("`", " ").replace(".", " ").split()) & novel, t.prompt


def test_train_and_test_share_apis_not_prompts_or_inputs(splits):
    train, test = splits["train"], splits["test_single"] + splits["test_multi"]
    assert not {t.prompt for t in train} & {t.prompt for t in test}
    key = lambda t, c: (tuple(t.apis), json.dumps(c.input, sort_keys=True))  # noqa: E731
    assert not {key(t, c) for t in train for c in t.tests} & {key(t, c) for t in test for c in t.tests}


def test_official_records_import_and_pass(official_bench, tmp_path):
    tasks = import_sebench(SAMPLE, official_bench)
    assert len(tasks) == 3 and [len(t.tests) for t in tasks] == [8, 8, 8] or len(tasks) == 3
    assert tasks[0].apis == ["zwc.kapeho"] and "zwc.kapeho(x1, x2).tolist()" in tasks[0].reference
    with Judge(official_bench) as judge:
        for t in tasks:
            v = judge.judge(t, f"```python\n{t.reference}\n```")
            assert v.status == "passed", (t.id, v)
    out = tmp_path / "imported.jsonl"
    r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "tasks", "import-sebench", str(SAMPLE), "--bench",
                        str(official_bench.root), "--out", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and len(out.read_text().splitlines()) == 3


def _bad(tmp_path, record: dict | str) -> Path:
    lines = SAMPLE.read_text().splitlines()
    lines.insert(1, record if isinstance(record, str) else json.dumps(record))
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_official_import_bad_input(official_bench, tmp_path):
    good = json.loads(SAMPLE.read_text().splitlines()[0])
    cases = {
        "{not json": "malformed record",
        json.dumps({**good, "selected_functions": ["no_such_api"]}): "unknown API name",
        json.dumps({**good, "test_cases": [{"input": "x1=open('/etc/passwd'), x2=[1]", "output": "[1]"}] * 8}):
            "not a literal",
        json.dumps({k: v for k, v in good.items() if k != "query"}): "malformed record",
    }
    for i, (record, message) in enumerate(cases.items()):
        path = _bad(tmp_path, record)
        with pytest.raises(UserError, match=rf"bad.jsonl:2: .*{message}"):
            import_sebench(path, official_bench)
        out = tmp_path / f"imported-{i}.jsonl"  # an existing --out is refused without --force
        r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "tasks", "import-sebench", str(path), "--bench",
                            str(official_bench.root), "--out", str(out)], capture_output=True, text=True)
        # the CLI skips the bad record, says which line and why, and keeps the rest (issue 16)
        assert r.returncode == 0 and f"{path}:2: skipped: " in r.stderr and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr and len(out.read_text().splitlines()) == 3


def test_exports(numpy_tasks, splits, tmp_path):
    records = export_sebench(splits["test_single"][:20], numpy_tasks)
    assert all(r["right_exe_result"].count("#") == len(r["test_cases"]) - 1 for r in records)
    assert all("import numpy" in r["example_output"][0] for r in records)
    path = export_hf(splits["test_multi"][:20], tmp_path / "multi.parquet")
    import datasets

    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert len(ds) == 20 and set(ds.column_names) >= {"id", "prompt", "tests", "reference"}
    assert json.loads(ds[0]["tests"])[0]["input"] == splits["test_multi"][0].tests[0].input
