"""The official SE-Bench data as it ships: the four-section mapping, and records whose values are not literals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from selfevolve_lab.errors import UserError
from selfevolve_lab.obfuscate import official
from selfevolve_lab.obfuscate.surface import introspect
from selfevolve_lab.tasks.formats import Skipped, import_sebench
from selfevolve_lab.tasks.literals import NotALiteral, read_kwargs, read_value

# three real records, kept beside the checkout (a worktree sits one level deeper)
SAMPLE = next((p / "shared" / "sebench-format-sample.jsonl" for p in Path(__file__).resolve().parents[1:]
               if (p / "shared" / "sebench-format-sample.jsonl").exists()), Path("shared/sebench-format-sample.jsonl"))
OFFICIAL_MAPPING = Path(__file__).resolve().parent / "data" / "official_mappings.json"  # what official_bench uses


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], capture_output=True, text=True,
                          **kw)


# ---------------------------------------------------------------- the mapping


@pytest.fixture(scope="module")
def surface():
    return introspect("numpy")


def _write(tmp_path, data: dict) -> Path:
    path = tmp_path / "mappings.json"
    path.write_text(json.dumps(data))
    return path


def test_the_four_section_layout_with_numpy_1_names(surface):
    m = official.load(OFFICIAL_MAPPING, surface, allow_missing=True)
    assert m.renamed == {"numpy.trapz": "numpy.trapezoid", "numpy.in1d": "numpy.isin", "numpy.round_": "numpy.round"}
    assert m.names["numpy.trapezoid"] == "jodafu" and m.names["numpy.linalg.det"] == "lamupo"
    assert "numpy.trapz" not in m.names and set(m.skipped) == {"numpy.asfarray"}
    with pytest.raises(UserError, match=r"1 API\(s\) the library does not have: numpy.asfarray \(--allow-missing"):
        official.load(OFFICIAL_MAPPING, surface)


@pytest.mark.parametrize("case", ["changed", "extra", "missing"])
def test_a_reverse_section_that_does_not_invert_its_section_is_an_error(surface, tmp_path, case):
    data = json.loads(OFFICIAL_MAPPING.read_text())
    if case == "changed":
        data["main_reverse"]["jodafu"] = "trapezoid"
    elif case == "extra":
        data["linalg_reverse"]["fedupo"] = "pinv"
    else:
        del data["main_reverse"]["kapeho"]
    with pytest.raises(UserError, match=f"{'linalg' if case == 'extra' else 'main'}_reverse does not invert"):
        official.load(_write(tmp_path, data), surface, allow_missing=True)


def test_a_successor_named_in_the_mapping_keeps_its_own_name(surface, tmp_path):
    path = _write(tmp_path, {"main": {"trapz": "jodafu", "trapezoid": "nisoke", "sometrue": "gepalu"}})
    m = official.load(path, surface)
    assert m.names["numpy.trapezoid"] == "nisoke" and m.names["numpy.any"] == "gepalu"
    assert m.renamed == {"numpy.sometrue": "numpy.any"} and "numpy.trapz" in m.skipped


def test_build_lists_and_skips_missing_names_with_allow_missing(tmp_path):
    main = {"mean": "kavoti", "no_such_function": "dodoka"}
    path = _write(tmp_path, {"main": main, "main_reverse": {v: k for k, v in main.items()}})
    args = ["build", "--library", "statistics", "--name", "kavo", "--mapping", path, "--out", tmp_path / "b"]
    r = _cli(*args)
    assert r.returncode == 2 and "statistics.no_such_function" in r.stderr and "Traceback" not in r.stderr
    r = _cli(*args, "--allow-missing")
    assert r.returncode == 0, r.stderr[-1500:]
    assert "mapping: skipped statistics.no_such_function: not in statistics" in r.stdout
    mapping = json.loads((tmp_path / "b" / "mapping.json").read_text())["names"]
    assert mapping["statistics.mean"] == "kavo.kavoti"


def test_the_bench_records_what_the_mapping_renamed_and_skipped(official_bench):
    notes = official.recorded(official_bench.root)
    assert notes["renamed"]["numpy.trapz"] == "numpy.trapezoid" and "numpy.asfarray" in notes["skipped"]
    assert official_bench.mapping["numpy.trapezoid"] == "zwc.jodafu"


# ---------------------------------------------------------------- reading test values


@pytest.mark.parametrize("text, value", [
    ("float('nan')", float("nan")), ("-float('inf')", float("-inf")), ("complex(1, 2)", 1 + 2j),
    ("[nan, inf, -inf]", [float("nan"), float("inf"), float("-inf")]), ("array([5.0])", [5.0]),
    ("[[1.  2.5 1. ]\n [3.7 0.  4. ]]", [[1.0, 2.5, 1.0], [3.7, 0.0, 4.0]]), ("[ 1 -2]", [1, -2]),
    ("[1.+2.j 3.-4.j]", [1 + 2j, 3 - 4j]), ("[ True False]", [True, False]), ("['a' 'b']", ["a", "b"]),
    ("(array([1, 3]),)", ([1, 3],)), ("[np.float64(2.5), np.int64(1)]", [2.5, 1]),
    ("array([[1, 2],\n       [3, 4]], dtype=int64)", [[1, 2], [3, 4]]), ("set()", set()), ("{'a': (1, 2)}", {"a": (1, 2)}),
])
def test_values_are_read_without_evaluating(text, value):
    got = read_value(text).value
    assert json.dumps(got, default=repr) == json.dumps(value, default=repr)


def test_keyword_inputs_and_types_as_values():
    assert read_kwargs("x1=[1, float('inf')], dtype=int, t=np.float32").value == {
        "x1": [1, float("inf")], "dtype": "int", "t": "float32"}


@pytest.mark.parametrize("text", ["3.8002011672502d", "open('/etc/passwd')", "__import__('os').system('true')",
                                  "[1 2 3 ... 8 9 10]", "(1).__class__", "[x for x in (1, 2)]", "2 ** 10 ** 10",
                                  "float('nan').hex()", "lambda: 0", "[" * 500 + "]" * 500, "x1=[1]"])
def test_anything_else_is_refused(text):
    with pytest.raises(NotALiteral):
        read_value(text)


# ---------------------------------------------------------------- importing records end to end

# (selected functions, signature, NumPy solution, inputs, outputs or None: as NumPy prints the results)
RECORDS = [
    (["isfinite"], "def solve(x):", "return np.isfinite(x)",
     ["x=[1.0, float('nan'), float('inf'), -float('inf')]", "x=[0.5, -float('inf')]"], None),
    (["conjugate"], "def solve(z):", "return np.conjugate(z).tolist()",
     ["z=[complex(1, 2), complex(3, -4)]", "z=[complex(0, 1)]"], ["[complex(1, -2), complex(3, 4)]", "[-1j]"]),
    (["log"], "def solve(x):", "return np.log(x).tolist()", ["x=[1.0, 0.0, -1.0, nan]", "x=[inf, 1.0]"], None),
    (["zeros"], "def solve(shape, dtype):", "return np.zeros(shape, dtype=dtype)",
     ["shape=(2, 3), dtype=int", "shape=[2], dtype=float"], None),
    (["split"], "def solve(x, n):", "return np.split(np.array(x), n)", ["x=[1.0, 2.0, 3.0, 4.0], n=2"], None),
    (["abs"], "def solve(m):", "return np.abs(m)", ["m=[[-1.0, 2.5, 1.0], [3.7, 0.0, -4.0]]"], None),
    (["trapz"], "def solve(y, dx):", "return float(np.trapz(y, dx=dx))", ["y=[1.0, 2.0, 3.0], dx=1.0",
                                                                          "y=[0.0, 1.0], dx=0.5"], None),
    (["linalg.inv"], "def solve(m):", "return np.linalg.inv(m)", ["m=[[2.0, 1.0], [1.0, 3.0]]"], None),
    (["round_", "mean"], "def solve(a, b):", "return [np.round_(np.mean(a), 1), np.mean(b)]",
     ["a=[1.25, 2.5], b=[1, 2]"], None),
    (["sqrt"], "def solve(x):", "return float(np.sqrt(x))", ["x=14.4415"], ["3.8002011672502d"]),  # malformed
    (["asfarray"], "def solve(x):", "return np.asfarray(x).tolist()", ["x=[1, 2]"], ["[1.0, 2.0]"]),  # gone
    (["sum"], "def solve(n):", "return np.arange(n)", ["n=2000"], ["[   0    1    2 ... 1997 1998 1999]"]),  # cut
    (["sum"], "def solve(x):", "return np.sum(x)", ["x=open('/etc/passwd')"], ["0"]),  # not a value
]
BAD = {13: "not a literal: not Python syntax", 14: "unknown API name 'asfarray' (not in numpy",  # line: reason
       15: "cut short with '...'", 16: "open('/etc/passwd')", 17: "malformed record"}

# Runs each solution under NumPy and prints its results as the official pipeline did. NumPy 1 names get the
# NumPy 2 functions they became.
PRINTER = """
import json, sys
import numpy as np
np.trapz, np.round_ = np.trapezoid, np.round
nan, inf = float("nan"), float("inf")
out = []
for sig, body, inputs in json.load(sys.stdin):
    ns = {"np": np, "nan": nan, "inf": inf}
    exec(f"import numpy as np\\n{sig}\\n    {body}\\n", ns)
    out.append("#".join(str(eval(f"solve({i})", ns)) for i in inputs))
print(json.dumps(out))
"""


def _records(tmp_path) -> tuple[Path, int]:
    todo = [(sig, body, inputs) for _, sig, body, inputs, outputs in RECORDS if outputs is None]
    r = subprocess.run([sys.executable, "-c", PRINTER], input=json.dumps(todo), capture_output=True, text=True)
    printed = iter(json.loads(r.stdout))
    lines = SAMPLE.read_text().splitlines()
    for i, (funcs, sig, body, inputs, outputs) in enumerate(RECORDS):
        result = "#".join(outputs) if outputs is not None else next(printed)
        solution = f"\nimport numpy as np\n\n{sig}\n    {body}\n"
        lines.append(json.dumps({
            "selected_functions": funcs, "query": f"constructed record {i}", "function_name": sig,
            "test_cases": [{"input": x, "output": o} for x, o in zip(inputs, result.split("#"), strict=False)],
            "example_output": [solution], "1func_query_id": 1000 + i, "right_exe_result": result}))
    lines.append("{not json")
    path = tmp_path / "single_test.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path, len(lines)


def test_official_records_import_skip_what_is_broken_and_pass_end_to_end(official_bench, tmp_path):
    path, n = _records(tmp_path)
    records = [json.loads(line) for line in path.read_text().splitlines()[:-1]]
    prints = {r["1func_query_id"]: r["right_exe_result"] for r in records}
    assert "\n" in prints[1005] and "  " in prints[1005] and "array([" in prints[1004]  # printed without commas
    assert "nan" in prints[1002] and "-inf" in prints[1002]
    skipped: list[Skipped] = []
    tasks = import_sebench(path, official_bench, skipped)
    assert len(tasks) == n - len(BAD)
    assert {s.line for s in skipped} == set(BAD)
    for s in skipped:
        assert BAD[s.line] in s.reason, s
    by_id = {t.id: t for t in tasks}
    assert by_id["sebench/1006"].apis == ["zwc.jodafu"] and "zwc.jodafu(y, dx=dx)" in by_id["sebench/1006"].reference
    assert by_id["sebench/1003"].tests[0].input["dtype"] == "int"

    out = tmp_path / "imported.jsonl"
    r = _cli("tasks", "import-sebench", path, "--bench", official_bench.root, "--out", out)
    assert r.returncode == 0, r.stderr[-1500:]
    assert f"imported {len(tasks)} tasks" in r.stdout and f"skipped {len(BAD)} record(s)" in r.stdout
    assert [line.split(": skipped")[0] for line in r.stderr.splitlines()] == [f"{path}:{i}" for i in sorted(BAD)]
    run = _cli("eval", "--bench", official_bench.root, "--tasks", out, "--references", "--out", tmp_path / "run")
    assert run.returncode == 0 and f"{len(tasks)} samples" in run.stdout and "pass@1 100.0%" in run.stdout, (
        run.stdout, run.stderr[-1500:])


def test_one_bad_record_raises_without_a_skip_list(official_bench, tmp_path):
    path, _ = _records(tmp_path)
    with pytest.raises(UserError, match=r"single_test.jsonl:13: a test value is not a literal"):
        import_sebench(path, official_bench)


def test_crafted_records_are_skipped_and_long_prints_read(official_bench, tmp_path):
    # how the time grows with a print's length is benchmarks/official_import.py's to show (no timings here)
    def record(qid: int, inputs: str, output: str) -> str:
        return json.dumps({"selected_functions": ["sum"], "query": "q", "function_name": "def solve(x):",
                           "test_cases": [{"input": inputs, "output": output}], "1func_query_id": qid,
                           "example_output": ["import numpy as np\n\ndef solve(x):\n    return np.sum(x)\n"],
                           "right_exe_result": output})

    big = "[" + " ".join(f"{i % 100}." for i in range(150_000)) + "]"  # NumPy's print, no commas
    lines = [record(1, "x=[1, 2]", f"float({'9' * 400})"),  # OverflowError
             record(2, f"x=complex({'9' * 400}, 1)", "0"),  # OverflowError
             record(3, "x=[1, 2]", "3"),
             record(4, "x=[1.0]", "[1.0]" + "[0]" * 10),  # a subscript: refused
             record(5, f"x={big}", str(sum(i % 100 for i in range(150_000))))]
    path = tmp_path / "crafted.jsonl"
    path.write_text("\n".join(lines) + "\n")
    skipped: list[Skipped] = []
    tasks = import_sebench(path, official_bench, skipped)
    assert [t.id for t in tasks] == ["sebench/3", "sebench/5"] and len(tasks[1].tests[0].input["x"]) == 150_000
    assert [(s.line, s.reason.split(":")[0]) for s in skipped] == [(1, "malformed record"), (2, "malformed record"),
                                                                  (4, "a test value is not a literal")]
    assert "OverflowError" in skipped[0].reason
    r = _cli("tasks", "import-sebench", path, "--bench", official_bench.root, "--out", tmp_path / "out.jsonl")
    assert r.returncode == 0 and "imported 2 tasks" in r.stdout and "Traceback" not in r.stderr, r.stderr[-800:]
    assert f"{path}:1: skipped: malformed record: OverflowError" in r.stderr


# ---------------------------------------------------------------- the official test set's own quirks and forms


def _official_like(tmp_path) -> list[dict]:
    """Records with the two quirks of the official test set: repeated ids and bare linalg names."""
    def rec(qid, funcs, body, inp, out):
        return {"selected_functions": funcs, "query": f"q{qid}", "function_name": "def solve(m):",
                "test_cases": [{"input": inp, "output": out}], "1func_query_id": qid,
                "example_output": [f"import numpy as np\n\ndef solve(m):\n    return {body}\n"],
                "right_exe_result": out}
    m = "m=[[2.0, 1.0], [1.0, 3.0]]"
    return [rec(7, ["det"], "float(np.linalg.det(m))", m, "5.000000000000001"),
            rec(7, ["norm"], "float(np.linalg.norm(m))", m, "3.872983346207417"),
            rec(24, ["inv"], "np.linalg.inv(m).tolist()", m, "[[0.6000000000000001, -0.2], [-0.2, 0.4]]"),
            rec(24, ["mean"], "float(np.mean(m))", m, "1.75"),
            rec(25, ["no_such_name"], "0", m, "0")]


def test_repeated_ids_get_their_occurrence_and_bare_linalg_names_resolve(official_bench, tmp_path):
    path = tmp_path / "single_test.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in _official_like(tmp_path)) + "\n")
    skipped: list[Skipped] = []
    tasks = import_sebench(path, official_bench, skipped)
    assert [t.id for t in tasks] == ["sebench/7", "sebench/7-2", "sebench/24", "sebench/24-2"]
    m = official_bench.mapping
    assert [t.apis for t in tasks] == [[m["numpy.linalg.det"]], [m["numpy.linalg.norm"]], [m["numpy.linalg.inv"]],
                                       [m["numpy.mean"]]]
    assert [(s.line, s.reason) for s in skipped] == [(5, "unknown API name 'no_such_name'")]
    out = tmp_path / "imported.jsonl"
    r = _cli("tasks", "import-sebench", path, "--bench", official_bench.root, "--out", out)
    assert r.returncode == 0 and "imported 4 tasks" in r.stdout, r.stderr[-800:]
    run = _cli("eval", "--bench", official_bench.root, "--tasks", out, "--references", "--out", tmp_path / "run")
    assert run.returncode == 0 and "pass@1 100.0%" in run.stdout, (run.stdout, run.stderr[-1500:])


def test_the_hub_forms_read_offline(official_bench, tmp_path):
    datasets = pytest.importorskip("datasets")
    records = _official_like(tmp_path)[:4]
    # as the Hub's parquet may hold them: list fields as JSON text
    flat = [{**r, "test_cases": json.dumps(r["test_cases"])} for r in records]
    ds = datasets.Dataset.from_list(flat)
    ds.to_parquet(str(tmp_path / "single_test.parquet"))
    datasets.DatasetDict({"train": ds}).save_to_disk(str(tmp_path / "saved"))
    (tmp_path / "hub" / "single_test").mkdir(parents=True)
    ds.to_parquet(str(tmp_path / "hub" / "single_test" / "train-00000-of-00001.parquet"))
    (tmp_path / "hub" / "multiple_test").mkdir()
    ds.to_parquet(str(tmp_path / "hub" / "multiple_test" / "train-00000-of-00001.parquet"))
    want = ["sebench/7", "sebench/7-2", "sebench/24", "sebench/24-2"]
    for source in ("single_test.parquet", "saved", "hub"):
        tasks = import_sebench(tmp_path / source, official_bench)
        assert [t.id for t in tasks] == want, source
        assert [t.apis for t in tasks] == [[m] for m in (official_bench.mapping["numpy.linalg.det"],
                                                         official_bench.mapping["numpy.linalg.norm"],
                                                         official_bench.mapping["numpy.linalg.inv"],
                                                         official_bench.mapping["numpy.mean"])], source
        assert tasks[3].tests[0].input["m"] == [[2.0, 1.0], [1.0, 3.0]], source
    with pytest.raises(UserError, match="no split 'test' \\(it has train\\)"):
        import_sebench(tmp_path / "saved", official_bench, split="test")
    r = _cli("tasks", "import-sebench", "nowhere/single_test.jsonl", "--bench", official_bench.root,
             "--out", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "nowhere/single_test.jsonl: no such file" in r.stderr, r.stderr[-800:]
    assert "Traceback" not in r.stderr and not (tmp_path / "o.jsonl").exists()
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(UserError, match="not a parquet file"):
        import_sebench(bad, official_bench)
