"""Finding the program in a model's answer.

The rule, in order:
1. Reasoning is removed: every ``<think>...</think>`` block, and an unclosed ``<think>`` up to the end.
   Chat-template artifacts are removed: special tokens ``<|...|>`` (``<|im_end|>``, ``<|eot_id|>``, ...),
   and ``</s>``, ``<eos>``, ``<end_of_turn>``, ``<start_of_turn>`` (Python code never contains them),
   with the role name that follows a turn opener (``<|im_start|>assistant``).
2. Fenced blocks are collected (```python, ```py, ```python3 or a bare ```); blocks fenced as another
   language are ignored. A fence that is never closed runs to the end of the text. A block indented as
   a whole (a fence inside a list item) is dedented.
3. If there are Python blocks: the chosen block is the *last* one that defines the entry point (else the
   last Python block). The blocks before it are prepended when the result still parses, so a helper
   written in an earlier block is kept; otherwise the chosen block stands alone.
4. With no fence at all: the whole text if it parses as Python; else, if it contains ``def <entry>``,
   the text from its first ``import``/``from``/``def``/``class`` line on, cut back line by line until
   it parses.
5. Otherwise there is no code (status ``no_code``).
"""

from __future__ import annotations

import ast
import re
import textwrap

_THINK = re.compile(r"<think>.*?</think>", re.S)
_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.S | re.M)
_PY = {"", "python", "py", "python3", "py3"}
_START = re.compile(r"^(import |from |def |class |@)", re.M)
_SPECIAL = re.compile(r"<\|im_start\|>\w*\n?|<\|start_header_id\|>\w*<\|end_header_id\|>\n?|"
                      r"<\|[^|<>\s]{1,40}\|>|</s>|<eos>|<end_of_turn>|<start_of_turn>(?:model|user)?")


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
        return True
    except (SyntaxError, ValueError):
        return False


def _defines(code: str, entry_point: str) -> bool:
    return re.search(rf"^\s*(async\s+)?def\s+{re.escape(entry_point)}\s*\(", code, re.M) is not None


def strip_reasoning(text: str) -> str:
    text = _SPECIAL.sub("", _THINK.sub("", text))
    if "<think>" in text:
        text = text[: text.index("<think>")]
    return text.replace("</think>", "")


def extract_code(text: str, entry_point: str = "solve") -> str | None:
    """The program in ``text`` per the module's rule, or None when there is none."""
    text = strip_reasoning(text or "")
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE.finditer(text)]
    py = [textwrap.dedent(body) for lang, body in blocks if lang in _PY and body.strip()]
    if py:
        idx = max((i for i, b in enumerate(py) if _defines(b, entry_point)), default=len(py) - 1)
        joined = "\n\n".join(b.rstrip() for b in py[: idx + 1]) + "\n"
        return joined if idx > 0 and _parses(joined) else py[idx].rstrip() + "\n"
    if blocks:
        return None  # only non-Python blocks
    stripped = text.strip()
    if not stripped:
        return None
    if _parses(stripped) and re.search(r"^\s*(def|class|import|from)\s", stripped, re.M):
        return stripped + "\n"
    if _defines(stripped, entry_point):
        m = _START.search(stripped)
        lines = stripped[m.start():].splitlines() if m else stripped.splitlines()
        while lines:
            candidate = "\n".join(lines) + "\n"
            if _parses(candidate):
                return candidate
            lines.pop()
    return None
