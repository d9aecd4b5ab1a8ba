"""Prompts: closed book (no docs) and open book (the docs of the task's APIs, every doc, or BM25 top-k).

Docs are shown in full or, with ``doc_style="summary"``, as the signature plus the first paragraph.
Both show one example input *with* its output, the signature, and require the package. `sebench` is a
reconstruction of the official SE-Bench wording (not byte-identical to the official scripts).
"""

from __future__ import annotations

import hashlib
import json
import re
from functools import cached_property

from selfevolve_lab.sandbox.protocol import from_tagged
from selfevolve_lab.schema import Task

DOCS_BUDGET = 24_000  # characters of documentation for --docs all


def _example(task: Task) -> str:
    case = task.tests[0]
    args = ", ".join(f"{k}={from_tagged(v)!r}" for k, v in case.input.items())
    return f">>> {task.entry_point}({args})\n{from_tagged(case.output)!r}"


DOC_STYLES = ("full", "summary")
MODES = ("closed", "open")
DOC_SOURCES = ("task", "all", "bm25")  # open book: the task's APIs' docs, every doc (to DOCS_BUDGET), BM25 top-k
PROMPT_STYLES = ("default", "sebench")


def first_paragraph(doc: str) -> str:
    """The doc's first paragraph of prose (a leading signature line is skipped: the block shows it)."""
    for para in re.split(r"\n\s*\n", doc.strip()):
        text = para.strip()
        if text and not re.match(r"^[\w.]+\(.*\)\s*$", text, re.S):
            return text
    return ""


def _doc_block(entry, doc_style: str = "full") -> str:
    head = entry.novel + (f"\n    signature: {entry.signature}" if entry.signature else "")
    doc = entry.doc.strip() if doc_style == "full" else first_paragraph(entry.doc)
    return f"{head}\n{doc}\n"


class Prompter:
    def __init__(self, bench, mode: str, docs: str = "task", style: str = "default", top_k: int = 5,
                 doc_style: str = "full", target: str = "package"):
        """``doc_style``: full (the whole rewritten doc) or summary (the signature and first paragraph).
        ``target="library"`` asks for the original library instead of the package, with no docs: the
        paper's "same tasks in NumPy" row, the ceiling of what the package's knowledge could give."""
        for what, value, choices in (("mode", mode, MODES), ("docs", docs, DOC_SOURCES),
                                     ("style", style, PROMPT_STYLES), ("doc_style", doc_style, DOC_STYLES)):
            if value not in choices:  # an unknown docs value would silently mean "all"
                raise ValueError(f"{what} is one of {choices}, not {value!r}")
        self.bench, self.mode, self.docs, self.style, self.top_k = bench, mode, docs, style, top_k
        self.doc_style, self.target = doc_style, target

    @cached_property
    def _bm25(self):
        from rank_bm25 import BM25Okapi

        entries = [d for d in self.bench.docs if d.kind in ("function", "class", "method")]
        corpus = [re.findall(r"\w+", (d.doc or "").lower()) or ["_"] for d in entries]
        return BM25Okapi(corpus), entries

    def documentation(self, task: Task) -> str:
        if self.docs == "task":
            by = self.bench.docs_by_novel
            return "\n".join(_doc_block(by[a], self.doc_style) for a in task.apis if a in by)
        if self.docs == "bm25":
            index, entries = self._bm25
            scores = index.get_scores(re.findall(r"\w+", task.prompt.lower()))
            best = sorted(range(len(entries)), key=lambda i: -scores[i])[: self.top_k]
            return "\n".join(_doc_block(entries[i], self.doc_style) for i in best)
        text, out = 0, []
        for d in self.bench.docs:  # "all": every doc, truncated to the budget
            block = _doc_block(d, self.doc_style)
            if text + len(block) > DOCS_BUDGET:
                break
            out.append(block)
            text += len(block)
        return "\n".join(out)

    def messages(self, task: Task) -> list[dict[str, str]]:
        pkg = self.bench.library if self.target == "library" else self.bench.package
        open_book = self.mode == "open" and self.target == "package"
        docs = f"\n\nDocumentation of the `{pkg}` library:\n\n{self.documentation(task)}" if open_book else ""
        if self.style == "sebench":
            content = (f"You need to use the `{pkg}` library to solve the problem below.{docs}\n\n"
                       f"Problem: {task.prompt}\n\nExample:\n{_example(task)}\n\n"
                       f"Complete the function `{task.signature}` in a single ```python block, using `{pkg}`.")
        else:
            content = (f"{task.prompt}\n\nExample:\n{_example(task)}\n\nWrite the function with this signature:\n"
                       f"{task.signature}\n\nYou must use the `{pkg}` library (import {pkg}).{docs}\n\n"
                       f"Reply with the complete solution in a single ```python code block.")
        return [{"role": "user", "content": content}]


def prompt_hash(messages: list[dict[str, str]]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest()[:16]
