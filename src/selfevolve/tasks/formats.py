"""The official SE-Bench record format: import into Tasks, export back; and Hugging Face export.

Official record fields: ``query``, ``function_name`` ("def solve(x1, x2):"), ``test_cases``
([{"input": "x1=[...], x2=[...]", "output": "..."}]), ``example_output`` (a NumPy solution),
``right_exe_result`` (ground-truth outputs joined by "#"), ``selected_functions`` (original names).
Inputs and outputs are Python literals: parsed with ``ast.literal_eval``, never evaluated.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from selfevolve.bench import Bench
from selfevolve.errors import UserError
from selfevolve.jsonl import iter_jsonl
from selfevolve.obfuscate.translate import translate_code
from selfevolve.sandbox.protocol import from_tagged, to_tagged
from selfevolve.schema import Task, TestCase

_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "True": True, "False": False, "None": None}


def _literal(text: str) -> Any:
    text = text.strip()
    if text in _SPECIAL:
        return _SPECIAL[text]
    return ast.literal_eval(text)


def parse_kwargs(text: str) -> dict[str, Any]:
    """``"x1=[1, 2], x2=3"`` -> ``{"x1": [1, 2], "x2": 3}``, literals only."""
    call = ast.parse(f"f({text})", mode="eval").body
    if not isinstance(call, ast.Call) or call.args:
        raise ValueError("inputs must be keyword arguments")
    return {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords if kw.arg}


def import_sebench(path: str | Path, bench: Bench) -> list[Task]:
    """Official records -> Tasks on ``bench`` (built with the official mapping to score official data)."""
    tasks = []
    for lineno, rec in enumerate(iter_jsonl(path), start=1):
        where = f"{path}:{lineno}"
        try:
            entry = re.match(r"\s*def\s+(\w+)\s*\(", rec["function_name"]).group(1)  # type: ignore[union-attr]
            funcs = rec["selected_functions"]
            apis = []
            for f in funcs:
                dotted = f"{bench.library}.{f}"
                if dotted not in bench.mapping:
                    raise UserError(f"{where}: unknown API name {f!r}")
                apis.append(bench.mapping[dotted])
            outputs = rec["right_exe_result"].split("#")
            cases = rec["test_cases"]
            if len(outputs) != len(cases):
                raise UserError(f"{where}: {len(cases)} test cases but {len(outputs)} results in right_exe_result")
            tests = [TestCase(input={k: to_tagged(v) for k, v in parse_kwargs(c["input"]).items()},
                              output=to_tagged(_literal(o))) for c, o in zip(cases, outputs, strict=True)]
            solution = rec["example_output"][0] if isinstance(rec["example_output"], list) else rec["example_output"]
            reference = translate_code(solution, bench.mapping, library=bench.library, package=bench.package)
            qid = rec.get("1func_query_id", rec.get("id", lineno))
            task = Task(id=f"sebench/{qid}", kind="single" if len(apis) == 1 else "multi", apis=apis,
                        prompt=rec["query"], entry_point=entry, signature=rec["function_name"].strip(), tests=tests,
                        reference=reference, provenance={"source": "SE-Bench", "line": lineno})
        except UserError:
            raise
        except (KeyError, TypeError, AttributeError, IndexError, ValidationError) as e:
            raise UserError(f"{where}: malformed record: missing or wrong field ({e})") from None
        except (ValueError, SyntaxError) as e:
            raise UserError(f"{where}: a test value is not a literal: {str(e).splitlines()[0]}") from None
        tasks.append(task)
    return tasks


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
