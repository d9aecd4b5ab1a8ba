"""The official SE-Bench record format: import into Tasks, export back; and Hugging Face export.

Official record fields: ``query``, ``function_name`` ("def solve(x1, x2):"), ``test_cases``
([{"input": "x1=[...], x2=[...]", "output": "..."}]), ``example_output`` (a NumPy solution),
``right_exe_result`` (ground-truth outputs joined by "#", as the NumPy solution printed them),
``selected_functions`` (original names). Test values are read by the whitelisted reader of
`selfevolve.tasks.literals`, never evaluated.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from selfevolve.bench import Bench
from selfevolve.errors import UserError
from selfevolve.obfuscate import official
from selfevolve.obfuscate.translate import translate_code
from selfevolve.sandbox.protocol import from_tagged, to_tagged
from selfevolve.schema import CompareSpec, Task, TestCase
from selfevolve.tasks.literals import NotALiteral, read_kwargs, read_value

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


def parse_kwargs(text: str) -> dict:
    """``"x1=[1, 2], x2=3"`` -> ``{"x1": [1, 2], "x2": 3}``, through the whitelisted reader."""
    return read_kwargs(text).value


def import_sebench(path: str | Path, bench: Bench, skipped: list[Skipped] | None = None) -> list[Task]:
    """Official records -> Tasks on ``bench`` (built with the official mapping to score official data).

    A record that cannot be imported raises UserError naming its line, or, when ``skipped`` is a list,
    is appended to it and the rest are imported.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").split("\n")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read: {str(e).splitlines()[0]}") from None
    notes = official.recorded(bench.root)  # NumPy 1 names the official data uses, and where they went
    mapping = {**bench.mapping, **{old: bench.mapping[new] for old, new in notes["renamed"].items()
                                   if new in bench.mapping}}
    dropped = notes["skipped"]
    tasks = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            tasks.append(_task(line, lineno, bench, mapping, dropped))
        except _Bad as e:
            if skipped is None:
                raise UserError(f"{path}:{lineno}: {e}") from None
            skipped.append(Skipped(lineno, str(e)))
    return tasks


def _task(line: str, lineno: int, bench: Bench, mapping: dict[str, str], dropped: dict[str, str]) -> Task:
    try:
        rec = json.loads(line)
        entry = re.match(r"\s*def\s+(\w+)\s*\(", rec["function_name"]).group(1)  # type: ignore[union-attr]
        apis = []
        for f in rec["selected_functions"]:
            dotted = f"{bench.library}.{f}"
            if dotted not in mapping:
                why = f" ({dropped[dotted]})" if dotted in dropped else ""
                raise _Bad(f"unknown API name {f!r}{why}")
            apis.append(mapping[dotted])
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
        reference = translate_code(solution, mapping, library=bench.library, package=bench.package)
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


def export_hf(tasks: list[Task], out: str | Path) -> Path:
    """A parquet file that ``datasets.load_dataset("parquet", data_files=...)`` loads."""
    try:
        import datasets
    except ImportError:
        raise UserError("the Hugging Face export needs the 'hf' extra: pip install 'selfevolve[hf]'") from None
    rows = [{"id": t.id, "kind": t.kind, "apis": t.apis, "prompt": t.prompt, "entry_point": t.entry_point,
             "signature": t.signature, "reference": t.reference,
             "tests": json.dumps([c.model_dump() for c in t.tests]), "compare": t.compare.model_dump_json()}
            for t in tasks]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    datasets.Dataset.from_list(rows).to_parquet(str(out))
    return out
