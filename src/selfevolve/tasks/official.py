"""The official SE-Bench record format: import (records -> Task) and export (Task -> records)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

from selfevolve.errors import UserError
from selfevolve.schema import Task, TestCase

SIG = re.compile(r"^\s*def\s+(\w+)\s*\((.*)\)\s*:\s*$")


def parse_kwargs(text: str) -> dict[str, Any]:
    """'x1=[1, 2], x2=3' -> {'x1': [1, 2], 'x2': 3}; literals only (ast.literal_eval on a call's keywords)."""
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError as e:
        raise ValueError(f"unparseable test input {text[:60]!r}") from e
    assert isinstance(call, ast.Call)
    if call.args or any(k.arg is None for k in call.keywords):
        raise ValueError(f"test input must be name=value pairs: {text[:60]!r}")
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords}  # type: ignore[misc]


def _literal(text: str) -> Any:
    return ast.literal_eval(text.strip())


def record_to_task(rec: dict[str, Any], bench: Any) -> Task:
    from selfevolve.obfuscate.translate import translate_code
    from selfevolve.sandbox.protocol import to_tagged

    sig = rec["function_name"].strip()
    m = SIG.match(sig)
    if not m:
        raise ValueError(f"function_name is not a def line: {sig[:60]!r}")
    outputs = rec["right_exe_result"].split("#")
    cases = rec["test_cases"]
    if len(outputs) != len(cases):
        raise ValueError(f"{len(cases)} test cases but {len(outputs)} results")
    tests = [TestCase(input={k: to_tagged(v) for k, v in parse_kwargs(c["input"]).items()},
                      output=to_tagged(_literal(o))) for c, o in zip(cases, outputs, strict=True)]
    original = rec["example_output"][0]
    apis = []
    for name in rec.get("selected_functions", []):
        dotted = f"{bench.library}.{name}"
        if dotted not in bench.mapping:
            raise ValueError(f"unknown API {name!r} (not in the bench mapping)")
        apis.append(bench.mapping[dotted])
    qid = rec.get("1func_query_id", rec.get("query_id", ""))
    return Task(id=f"sebench/{qid}", kind="single" if len(apis) <= 1 else "multi", apis=apis,
                prompt=rec["query"], entry_point=m.group(1), signature=sig, tests=tests,
                reference=translate_code(original, bench.mapping, library=bench.library, package=bench.package),
                provenance={"generator": "sebench", "original_reference": original,
                            "selected_functions": rec.get("selected_functions", [])})


def import_records(path: Path, bench: Any) -> list[Task]:
    """All records of an official JSONL file; any bad record is a UserError naming file:line."""
    tasks = []
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise UserError(f"{path}: unreadable: {e}") from None
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("record is not an object")
            tasks.append(record_to_task(rec, bench))
        except (ValueError, KeyError, TypeError, IndexError, SyntaxError) as e:
            what = f"missing field {e}" if isinstance(e, KeyError) else str(e)
            raise UserError(f"{path}:{i}: {what}") from None
    return tasks


def _show(tagged: Any) -> str:
    from selfevolve.sandbox.protocol import from_tagged

    v = from_tagged(tagged)
    return repr(v.tolist() if hasattr(v, "tolist") else v)


def task_to_record(task: Task) -> dict[str, Any]:
    cases = [{"input": ", ".join(f"{k}={_show(v)}" for k, v in c.input.items()), "output": _show(c.output)}
             for c in task.tests]
    return {"selected_functions": [a.rsplit(".", 1)[-1] for a in task.apis], "query": task.prompt,
            "test_cases": cases, "example_output": [task.reference], "function_name": task.signature,
            "example": cases[0] if cases else {}, "right_exe_result": "#".join(c["output"] for c in cases),
            "right_code": task.reference, "is_valid": True, "task_id": task.id}
