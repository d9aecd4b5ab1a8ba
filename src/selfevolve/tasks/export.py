"""Exporters: the official SE-Bench JSONL shape, or a Hugging Face dataset saved as parquet."""

from __future__ import annotations

import json
from pathlib import Path

from selfevolve.errors import UserError
from selfevolve.jsonl import atomic_write_text
from selfevolve.schema import Task


def export(tasks: list[Task], fmt: str, out: Path) -> None:
    from selfevolve.tasks.official import task_to_record

    if fmt == "sebench":
        atomic_write_text(out, "".join(json.dumps(task_to_record(t)) + "\n" for t in tasks))
    elif fmt == "hf":
        import datasets

        rows = {"id": [t.id for t in tasks], "kind": [t.kind for t in tasks], "prompt": [t.prompt for t in tasks],
                "entry_point": [t.entry_point for t in tasks], "signature": [t.signature for t in tasks],
                "apis": [t.apis for t in tasks], "reference": [t.reference for t in tasks],
                "tests": [json.dumps([c.model_dump() for c in t.tests]) for t in tasks]}
        tmp = out.with_name(f".{out.name}.tmp")
        datasets.Dataset.from_dict(rows).to_parquet(str(tmp))
        tmp.replace(out)
    else:
        raise UserError(f"unknown export format {fmt!r}; choose sebench or hf")
