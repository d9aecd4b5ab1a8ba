"""Task descriptions: behaviour in words, never an API name.

Rule (tested): a prompt never contains, as a whole token (case-insensitive), the library name or its alias,
any component of a novel name, or any original API name that is not a plain English word. Plain English
words that happen to be API names ("mean", "sum", "sort", "absolute") are allowed, since they describe
behaviour; "plain English" means listed in the system word list (/usr/share/dict/words) and free of
underscores and digits.
"""

from __future__ import annotations

import functools
import inspect
import random
import re
from pathlib import Path

from selfevolve.tasks.inputs import KINDS

TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TEMPLATES = (
    "Write a function that does the following: {summary}\n\n{inputs}\n{output}",
    "Implement `solve`. It should {summary_lc}\n\n{inputs}\n{output}",
    "Your task: {summary}\n\nThe function receives {inputs_inline}.\n{output}",
    "A data pipeline needs one step: {summary_lc}\n\n{inputs}\n{output}",
    "Complete the function below so that it will {summary_lc}\n\n{inputs}\n{output}",
    "Given the inputs described below, {summary_lc}\n\n{inputs}\n{output}",
)
OUTPUT = "Return the result as plain Python values (nested lists of numbers, or a single number)."


@functools.cache
def english_words() -> frozenset[str]:
    for p in ("/usr/share/dict/words", "/usr/share/dict/american-english"):
        if Path(p).is_file():
            return frozenset(w.strip().lower() for w in Path(p).read_text(errors="ignore").split())
    return frozenset()


def forbidden_tokens(mapping: dict[str, str], library: str, package: str) -> frozenset[str]:
    words = english_words()
    bad = {library.lower(), package.lower(), "np"}
    for orig, novel in mapping.items():
        bad.update(c.lower() for c in novel.split(".")[1:])
        last = orig.rsplit(".", 1)[-1].lower()
        if "_" in last or any(ch.isdigit() for ch in last) or last not in words:
            bad.add(last)
    return frozenset(bad)


def leaks(text: str, forbidden: frozenset[str]) -> list[str]:
    return sorted({t for t in TOKEN.findall(text) if t.lower() in forbidden})


def summary_of(api: str) -> str:
    from selfevolve.tasks.specs import resolve

    doc = inspect.getdoc(resolve(api)) or ""
    for para in doc.split("\n\n"):
        line = " ".join(para.split())
        # skip signature lines like "abs(x, /, out=None, ...)"
        if line and not re.match(r"^[\w.]+\(.*\)", line):
            return line
    return ""


def clean(text: str, forbidden: frozenset[str]) -> str:
    """Drop markup and replace forbidden tokens by a neutral phrase."""
    text = re.sub(r"``?([^`]*)``?", r"\1", text)
    text = re.sub(r":\w+:", "", text)
    return TOKEN.sub(lambda m: "the operation" if m.group(0).lower() in forbidden else m.group(0), text)


def _imperative(text: str) -> str:
    """'returns the sum ...' -> 'return the sum ...', so 'it should ...' reads well."""
    first, _, rest = text.partition(" ")
    if first.endswith("s") and not first.endswith("ss") and first[:-1] in english_words():
        return f"{first[:-1]} {rest}"
    return text


def describe(summaries: list[str], profile: tuple[str, ...], params: list[str], template: int) -> str:
    if len(summaries) == 1:
        summary = summaries[0].rstrip(".") + "."
    else:
        steps = [f"({i + 1}) {s.rstrip('.')[0].lower() + s.rstrip('.')[1:]}" for i, s in enumerate(summaries)]
        summary = "Apply these steps in order, each to the previous step's result: " + "; ".join(steps) + "."
    lines = [f"- `{p}`: {KINDS[k].words}" for p, k in zip(params, profile, strict=True)]
    inline = ", ".join(f"`{p}` ({KINDS[k].words})" for p, k in zip(params, profile, strict=True))
    if "seed" in profile:
        summary += " Seed the legacy global pseudo-random generator with `seed` before drawing."
    t = TEMPLATES[template % len(TEMPLATES)]
    return t.format(summary=summary, summary_lc=_imperative(summary[0].lower() + summary[1:]),
                    inputs="Inputs:\n" + "\n".join(lines), inputs_inline=inline, output=OUTPUT)


def pick_template(rng: random.Random, avoid: set[int] = frozenset()) -> int:  # type: ignore[assignment]
    choices = [i for i in range(len(TEMPLATES)) if i not in avoid]
    return rng.choice(choices)
