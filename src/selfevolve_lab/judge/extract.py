"""Finding the program in a model's answer.

The rule, in order:
0. Size caps: a completion longer than ``MAX_COMPLETION_CHARS`` (1,000,000 characters), or whose
   answer (the text left once reasoning is removed) is longer than ``MAX_ANSWER_CHARS`` (64,000
   characters), has no code: status ``no_code``, with a detail that names the cap.
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
   the text from its first ``import``/``from``/``def``/``class`` line on, cut back until it parses: each
   try cuts to before the line of its syntax error (no longer prefix can parse), at most
   ``MAX_CUTS`` tries and ``PARSE_BUDGET`` characters parsed in all.
5. Otherwise there is no code (status ``no_code``).

The judge runs this on its main thread for every sample, so each step is linear in the text's length
(every pattern is anchored and never spans lines it cannot use; ``ast.parse`` runs a bounded number of
times on capped text) and a parser that gives up (``RecursionError``, ``MemoryError``) means "does not
parse", never a crash.
"""

from __future__ import annotations

import re
import textwrap
from typing import NamedTuple

from selfevolve_lab.sandbox.guard import parse

MAX_COMPLETION_CHARS = 1_000_000  # beyond any generation budget (about 250k tokens)
# What is searched and parsed. ast.parse takes about 3 ms of CPU per KB of text it rejects late (and
# ~400 bytes of memory per byte), so a parse of a whole capped answer stays well under 1 s.
MAX_ANSWER_CHARS = 64_000
MAX_CUTS = 16
PARSE_BUDGET = 2 * MAX_ANSWER_CHARS  # characters parsed in all by the unfenced rule

_FENCE = re.compile(r"^[ \t]*```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:^[ \t]*```[ \t]*$|\Z)", re.S | re.M)
_PY = {"", "python", "py", "python3", "py3"}
_START = re.compile(r"^(import |from |def |class |@)", re.M)
_CODE_LINE = re.compile(r"^[ \t]*(def|class|import|from)[ \t]", re.M)
_SPECIAL = re.compile(r"<\|im_start\|>\w*\n?|<\|start_header_id\|>\w*<\|end_header_id\|>\n?|"
                      r"<\|[^|<>\s]{1,40}\|>|</s>|<eos>|<end_of_turn>|<start_of_turn>(?:model|user)?")
NO_CODE = "no Python code found in the completion"


class Extraction(NamedTuple):
    code: str | None  # the program, or None when there is none
    detail: str  # why there is none ("" when there is code)


def _syntax_error_line(code: str) -> int | None:
    """None when ``code`` parses; else the line of the first error (0 when the parser gave none)."""
    try:
        parse(code)
        return None
    except SyntaxError as e:
        return e.lineno or 0
    except (ValueError, RecursionError, MemoryError):  # null bytes; nesting or length the parser refuses
        return 0


def _parses(code: str) -> bool:
    return _syntax_error_line(code) is None


def _defines(code: str, entry_point: str) -> bool:
    # [ \t], not \s: with re.M, \s* at every line start would rescan each following run of newlines
    return re.search(rf"^[ \t]*(async[ \t]+)?def[ \t]+{re.escape(entry_point)}[ \t]*\(", code, re.M) is not None


def _drop_think(text: str) -> str:
    """Every closed ``<think>`` block removed, and an unclosed one up to the end; one pass (a regex
    ``<think>.*?</think>`` rescans the rest of the text from every unclosed opener)."""
    out, i = [], 0
    while True:
        j = text.find("<think>", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k = text.find("</think>", j + 7)
        if k < 0:
            break
        i = k + 8
    return "".join(out)


def strip_reasoning(text: str) -> str:
    text = _SPECIAL.sub("", _drop_think(text))
    if "<think>" in text:  # one formed by removing a special token
        text = text[: text.index("<think>")]
    return text.replace("</think>", "")


def extract(text: str, entry_point: str = "solve") -> Extraction:
    """The program in ``text`` per the module's rule, or None and why."""
    text = text or ""
    if len(text) > MAX_COMPLETION_CHARS:
        return Extraction(None, f"the completion has {len(text):,} characters, over the judge's cap of "
                                f"{MAX_COMPLETION_CHARS:,}")
    text = strip_reasoning(text)
    if len(text) > MAX_ANSWER_CHARS:
        return Extraction(None, f"the answer (reasoning removed) has {len(text):,} characters, over the judge's "
                                f"cap of {MAX_ANSWER_CHARS:,}")
    code = _find_code(text, entry_point)
    return Extraction(code, "" if code is not None else NO_CODE)


def extract_code(text: str, entry_point: str = "solve") -> str | None:
    """The program in ``text`` per the module's rule, or None when there is none."""
    return extract(text, entry_point).code


def _find_code(text: str, entry_point: str) -> str | None:
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
    parsed = _CODE_LINE.search(stripped) is not None
    whole = _syntax_error_line(stripped) if parsed else None
    if parsed and whole is None:
        return stripped + "\n"
    if not _defines(stripped, entry_point):
        return None
    m = _START.search(stripped)
    start = m.start() if m else 0
    lines = stripped[start:].splitlines()
    known = whole if parsed and start == 0 else None  # the first candidate is the text just parsed
    budget = PARSE_BUDGET - (len(stripped) if parsed else 0)
    for _ in range(MAX_CUTS):
        if not lines:
            break
        candidate = "\n".join(lines) + "\n"
        if known is not None:
            bad, known = known, None
        elif len(candidate) > budget:
            break
        else:
            budget -= len(candidate)
            bad = _syntax_error_line(candidate)
            if bad is None:
                return candidate
        lines = lines[: min(bad - 1, len(lines) - 1)] if bad > 0 else lines[:-1]
    return None
