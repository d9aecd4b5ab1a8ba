"""The official SE-Bench record format: import into Tasks, export back; and Hugging Face export.

Official record fields: ``query``, ``function_name`` ("def solve(x1, x2):"), ``test_cases``
([{"input": "x1=[...], x2=[...]", "output": "..."}]), ``example_output`` (a NumPy solution),
``right_exe_result`` (ground-truth outputs joined by "#", as the NumPy solution printed them),
``selected_functions`` (original names). Test values are read by the whitelisted reader of
`selfevolve_lab.tasks.literals`, never evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from selfevolve_lab.bench import Bench
from selfevolve_lab.errors import UserError, missing_extra
from selfevolve_lab.obfuscate import official
from selfevolve_lab.obfuscate.translate import translate_code
from selfevolve_lab.sandbox.protocol import from_tagged, to_tagged
from selfevolve_lab.schema import CompareSpec, Task, TestCase
from selfevolve_lab.tasks.literals import NotALiteral, read_kwargs, read_value

# NumPy prints arrays with 8 decimals: an expected value read from that print is off by up to 5e-9.
PRINTED_COMPARE = CompareSpec(atol=1e-8, array_equals_list=True)
# The official ground truth is printed text, which cannot tell an array from a list.
OFFICIAL_COMPARE = CompareSpec(array_equals_list=True)


@dataclass
class Skipped:
    """An official record that could not be imported."""

    line: int
    reason: str


class _Bad(Exception):
    pass


_LISTS = frozenset({"test_cases", "selected_functions", "example_output"})


def parse_kwargs(text: str) -> dict:
    """``"x1=[1, 2], x2=3"`` -> ``{"x1": [1, 2], "x2": 3}``, through the whitelisted reader."""
    return read_kwargs(text).value


def read_records(source: str | Path, config: str = "single_test", split: str = "train") -> list[tuple[int, object]]:
    """Official records as they ship, each with its line (or row) number: a JSONL file, a parquet file, a
    directory from ``datasets``' ``save_to_disk`` or holding parquet / JSONL files, or, online, a Hub dataset
    id (``jintailin/SE-Bench``, whose configs are ``train``, ``single_test`` and ``multiple_test``)."""
    path = Path(source)
    if path.is_dir():
        if (path / "dataset_dict.json").exists() or (path / "state.json").exists():
            return _rows(_load_from_disk(path, split))
        files = sorted(f for f in path.rglob("*") if f.suffix in (".jsonl", ".parquet"))
        chosen = [f for f in files if config in f.name or config in f.parent.name] or files
        if len(chosen) != 1:
            raise UserError(f"{path}: expected one .jsonl or .parquet file for {config!r}, found "
                            f"{len(chosen)}" + (f": {', '.join(f.name for f in chosen[:5])}" if chosen else ""))
        path = chosen[0]
    if path.is_file():
        if path.suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise missing_extra("hf", "reading parquet") from None
            try:
                return _rows(pq.read_table(path).to_pylist())
            except Exception as e:  # pyarrow raises several types for a file that is not parquet
                raise UserError(f"{path}: not a parquet file: {str(e).splitlines()[0][:200]}") from None
        try:
            lines = path.read_text(encoding="utf-8").split("\n")
        except (OSError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: cannot read: {str(e).splitlines()[0]}") from None
        return [(n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if (not re.fullmatch(r"[\w.-]+/[\w.-]+", str(source)) or path.suffix in (".jsonl", ".json", ".parquet")
            or path.parent.exists()):
        raise UserError(f"{source}: no such file")
    try:
        import datasets
    except ImportError:
        raise missing_extra("hf", "reading a Hub dataset") from None
    try:
        return _rows(datasets.load_dataset(str(source), config, split=split))
    except Exception as e:  # offline, unknown id or config: one line, not the Hub client's traceback
        raise UserError(f"{source}: cannot load the Hub dataset (config {config!r}, split {split!r}): "
                        f"{str(e).splitlines()[0][:200]}") from None


def _load_from_disk(path: Path, split: str):
    try:
        import datasets
    except ImportError:
        raise missing_extra("hf", "reading a saved dataset") from None
    data = datasets.load_from_disk(str(path))
    if isinstance(data, datasets.DatasetDict):
        if split not in data:
            raise UserError(f"{path}: no split {split!r} (it has {', '.join(data)})")
        data = data[split]
    return data


def _rows(rows) -> list[tuple[int, object]]:
    return [(n, dict(r)) for n, r in enumerate(rows, start=1)]


def import_sebench(source: str | Path, bench: Bench, skipped: list[Skipped] | None = None, *,
                   config: str = "single_test", split: str = "train") -> list[Task]:
    """Official records (any form `read_records` reads) -> Tasks on ``bench`` (built with the official mapping
    to score official data).

    A record that cannot be imported raises UserError naming its line, or, when ``skipped`` is a list,
    is appended to it and the rest are imported. Ids are unique: the official test set repeats some
    ``1func_query_id``s, so a repeated id gets its occurrence number (``sebench/7``, ``sebench/7-2``).
    """
    records = read_records(source, config, split)
    notes = official.recorded(bench.root)  # NumPy 1 names the official data uses, and where they went
    mapping = {**bench.mapping, **{old: bench.mapping[new] for old, new in notes["renamed"].items()
                                   if new in bench.mapping}}
    # The official test set names submodule functions bare ("cholesky", not "linalg.cholesky").
    bare: dict[str, list[str]] = {}
    for dotted in mapping:
        parts = dotted.split(".")
        if len(parts) == 3 and parts[0] == bench.library:
            bare.setdefault(parts[2], []).append(dotted)
    names = _Names(bench.library, mapping, bare, notes["skipped"])
    tasks, seen = [], {}
    for lineno, rec in records:
        try:
            task = _task(rec, lineno, bench, names)
        except _Bad as e:
            if skipped is None:
                raise UserError(f"{source}:{lineno}: {e}") from None
            skipped.append(Skipped(lineno, str(e)))
            continue
        seen[task.id] = seen.get(task.id, 0) + 1
        if seen[task.id] > 1:
            task.id = f"{task.id}-{seen[task.id]}"
        tasks.append(task)
    return tasks


@dataclass
class _Names:
    library: str
    mapping: dict[str, str]
    bare: dict[str, list[str]]
    dropped: dict[str, str]

    def novel(self, name: str) -> str:
        dotted = f"{self.library}.{name}"
        if dotted in self.mapping:
            return self.mapping[dotted]
        if len(self.bare.get(name, ())) == 1:
            return self.mapping[self.bare[name][0]]
        why = f" ({self.dropped[dotted]})" if dotted in self.dropped else ""
        if len(self.bare.get(name, ())) > 1:
            why = f" (ambiguous: {', '.join(self.bare[name])})"
        raise _Bad(f"unknown API name {name!r}{why}")


def _task(rec: object, lineno: int, bench: Bench, names: _Names) -> Task:
    try:
        if isinstance(rec, str):
            rec = json.loads(rec)
        # The Hub's parquet may hold the list fields as JSON text.
        rec = {k: json.loads(v) if k in _LISTS and isinstance(v, str) and v.lstrip().startswith("[") else v
               for k, v in rec.items()}
        entry = re.match(r"\s*def\s+(\w+)\s*\(", rec["function_name"]).group(1)  # type: ignore[union-attr]
        apis = [names.novel(f) for f in rec["selected_functions"]]
        outputs = rec["right_exe_result"].split("#")
        cases = rec["test_cases"]
        if len(outputs) != len(cases):
            raise _Bad(f"{len(cases)} test cases but {len(outputs)} results in right_exe_result")
        tests, printed = [], False
        for c, o in zip(cases, outputs, strict=True):
            inputs, output = read_kwargs(c["input"]), read_value(o)
            printed = printed or output.printed or inputs.printed
            tests.append(TestCase(input={k: to_tagged(v) for k, v in inputs.value.items()},
                                  output=to_tagged(output.value)))
        solution = rec["example_output"][0] if isinstance(rec["example_output"], list) else rec["example_output"]
        reference = translate_code(solution, names.mapping, library=bench.library, package=bench.package)
        qid = rec.get("1func_query_id", rec.get("id", lineno))
        return Task(id=f"sebench/{qid}", kind="single" if len(apis) == 1 else "multi", apis=apis,
                    prompt=rec["query"], entry_point=entry, signature=rec["function_name"].strip(), tests=tests,
                    reference=reference, compare=PRINTED_COMPARE if printed else OFFICIAL_COMPARE,
                    provenance={"source": "SE-Bench", "line": lineno})
    except _Bad:
        raise
    except NotALiteral as e:
        raise _Bad(f"a test value is not a literal: {e}") from None
    except ValueError as e:  # json.JSONDecodeError, or a value the tagged protocol refuses
        raise _Bad(f"malformed record: {str(e).splitlines()[0]}") from None
    except (KeyError, TypeError, AttributeError, IndexError, ValidationError) as e:
        raise _Bad(f"malformed record: missing or wrong field ({e})") from None
    except RecursionError:
        raise _Bad("malformed record: nested too deeply") from None
    except Exception as e:  # OverflowError, MemoryError, ...: a crafted record is skipped, never ends the import
        raise _Bad(f"malformed record: {type(e).__name__}: {str(e)[:200]}") from None


def export_sebench(tasks: list[Task], bench: Bench) -> list[dict]:
    """Tasks -> official-shape records (with the original names, for the official pipeline)."""
    inverse = {v: k for k, v in bench.mapping.items()}
    out = []
    for t in tasks:
        cases = [{"input": ", ".join(f"{k}={from_tagged(v)!r}" for k, v in c.input.items()),
                  "output": repr(from_tagged(c.output))} for c in t.tests]
        original = translate_code(t.reference, bench.mapping, library=bench.library, package=bench.package,
                                  reverse=True)
        out.append({"query": t.prompt, "function_name": t.signature, "test_cases": cases,
                    "example": cases[0] if cases else {}, "example_output": [original],
                    "right_exe_result": "#".join(c["output"] for c in cases),
                    "selected_functions": [inverse.get(a, a).split(".", 1)[1] for a in t.apis], "id": t.id})
    return out


def hf_row(task: Task) -> dict:
    """A Task as one row of the Hugging Face export: every field; the nested ones (tests, compare,
    provenance) as JSON text, since a test's tagged values differ in type from task to task."""
    return {"id": task.id, "kind": task.kind, "apis": task.apis, "prompt": task.prompt,
            "entry_point": task.entry_point, "signature": task.signature, "reference": task.reference,
            "tests": json.dumps([c.model_dump() for c in task.tests]), "compare": task.compare.model_dump_json(),
            "provenance": json.dumps(task.provenance)}


def task_from_hf_row(row: dict) -> Task:
    """The Task an `hf_row` (as ``datasets`` gives it back) holds."""
    fields = {**row, "tests": json.loads(row["tests"]), "compare": json.loads(row["compare"]),
              "provenance": json.loads(row.get("provenance") or "{}")}
    return Task.model_validate(fields)


def export_hf(tasks: list[Task], out: str | Path) -> Path:
    """A parquet file of `hf_row`s that ``datasets.load_dataset("parquet", data_files=...)`` loads."""
    try:
        import datasets
    except ImportError:
        raise missing_extra("hf", "the Hugging Face export") from None
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # a bar per file, for a write of a second
    try:
        datasets.Dataset.from_list([hf_row(t) for t in tasks]).to_parquet(str(out))
    finally:
        if not quiet:
            datasets.enable_progress_bars()
    return out
