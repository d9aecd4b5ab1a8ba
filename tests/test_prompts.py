"""Prompts: `--doc-style full|summary`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from selfevolve_lab.evaluate.prompts import Prompter, first_paragraph
from selfevolve_lab.schema import Task, TestCase


def _task(api: str) -> Task:
    return Task(id="t", kind="single", apis=[api], prompt="Do it.", entry_point="solve", signature="def solve(x):",
                tests=[TestCase(input={"x": [1.0]}, output=[1.0])], reference="")


def test_first_paragraph_skips_a_signature_line():
    assert first_paragraph("abs(x, /)\n\nAbsolute value,\nelement-wise.\n\nParameters\n----------\nx\n") == \
        "Absolute value,\nelement-wise."
    assert first_paragraph("One line.") == "One line."
    assert first_paragraph("") == ""


def test_summary_docs_are_the_signature_and_first_paragraph(numpy_bench):
    entry = next(d for d in numpy_bench.docs if d.kind == "function" and d.signature and d.doc.count("\n\n") >= 3)
    full = Prompter(numpy_bench, "open").messages(_task(entry.novel))[0]["content"]
    short = Prompter(numpy_bench, "open", doc_style="summary").messages(_task(entry.novel))[0]["content"]
    head = f"Documentation of the `{numpy_bench.package}` library:\n\n{entry.novel}\n    signature: {entry.signature}\n"
    para = first_paragraph(entry.doc)
    assert para and head + para + "\n\n\nReply with" in short  # the block ends right after the paragraph
    assert head in full and entry.doc.strip() in full and len(short) < len(full)
    rest = entry.doc.strip()[entry.doc.strip().index(para) + len(para):].strip()
    assert rest and rest[:40] not in short
    # closed book is unchanged by the doc style
    assert Prompter(numpy_bench, "closed", doc_style="summary").messages(_task(entry.novel)) == \
        Prompter(numpy_bench, "closed").messages(_task(entry.novel))
    with pytest.raises(ValueError):
        Prompter(numpy_bench, "open", doc_style="short")
    for bad in ({"docs": "taks"}, {"style": "official"}, {"mode": "open-book"}):  # "taks" once meant every doc
        with pytest.raises(ValueError, match=next(iter(bad))):
            Prompter(numpy_bench, **{"mode": "open", **bad})


def test_eval_rejects_an_unknown_doc_style(numpy_bench, tmp_path):
    r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "eval", "--bench", str(numpy_bench.root), "--references",
                        "--out", str(tmp_path / "run"), "--doc-style", "short"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "'short' is not one of 'full', 'summary'" in r.stderr
