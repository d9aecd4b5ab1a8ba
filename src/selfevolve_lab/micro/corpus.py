"""The micro-world's pretraining corpora, as (chat prompt, reply) pairs.

* ``prior``: task prompts that ask for the original library, answered with its names (the model "knows NumPy");
* ``docs``: the same kinds of prompts, open book, with short docs of the task's APIs among shuffled
  distractors, in *another renaming*: every name of the bench (package, submodules, functions) is replaced by
  a fresh name from the bench's own name generator under another seed, so the model must read the docs;
* ``write``: write a task for a documented function, in self-play's own prompt and JSON reply
  (``selfevolve_lab.train.selfplay.WRITE_PROMPT``: problem, signature and test inputs);
* ``revise``: ExIt's improve prompt (``selfevolve_lab.exit.prompts.IMPROVE``) on an attempt and the judge's
  feedback on it, answered with the correct solution: a wrong function name is fixed, a passing attempt kept.

The bench's names never appear in any corpus (``assert_clean``). Prompts come from the task generator run
under other seeds; a prompt identical to one of the bench's test prompts is left out.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import tempfile
from dataclasses import dataclass, field
from types import SimpleNamespace

from selfevolve_lab.bench import Bench
from selfevolve_lab.evaluate.prompts import Prompter
from selfevolve_lab.micro.subset import answer, micro_expr, render
from selfevolve_lab.obfuscate.names import MODULE_LETTERS, NameGenerator
from selfevolve_lab.sandbox.protocol import to_tagged
from selfevolve_lab.schema import Task, TestCase

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
WORLD_SEED = 1_000_003  # other renamings: seeds far from any bench's
WRITE_INPUTS = 3  # test inputs in a written task (self-play's minimum)
TESTS_SHOWN = 8  # the test count the revise feedback states (the generator's usual)


@dataclass
class Example:
    kind: str  # prior | docs | write | revise
    messages: list[dict[str, str]]
    reply: str
    api: str  # the library-relative name of the (first) API the reply uses, for metrics


@dataclass
class Draft:
    """A task prompt with a micro answer, in library names (from the task generator)."""

    apis: list[str]  # original dotted names
    prompt: str
    args: str
    expr: str  # micro expression, LIB. rooted
    first_input: dict
    first_output: object
    inputs: list[dict] = field(default_factory=list)  # a few of the draft's inputs, as plain JSON values


def drafts(bench: Bench, seeds: list[int]) -> list[Draft]:
    """Single-API task drafts of the bench's library under other generator seeds, in the micro shape."""
    from selfevolve_lab.tasks import specs as S
    from selfevolve_lab.tasks.generate import Report, draft_tasks

    test_prompts = {t.prompt for split in ("test_single", "test_multi") for t in bench.tasks(split)}
    out, seen = [], set()
    # The generator's specs are tried in this process; file-writing ones must write into a scratch directory.
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        for seed in seeds:
            for d in draft_tasks(bench, seed, Report()):
                if d.kind != "single" or d.prompt in test_prompts or (d.prompt, repr(d.inputs[0])) in seen:
                    continue
                if micro_expr(d.body, True) is None:  # out of shape either way: not worth running
                    continue
                try:
                    value = S.plain(S.evaluate(d.body, d.inputs[0]))
                except Exception:
                    continue
                flat = isinstance(value, list) and not any(isinstance(v, list) for v in value)
                if isinstance(value, list) and not flat:
                    continue
                expr = micro_expr(d.body, flat)
                try:
                    ours = S.plain(S.evaluate(render(expr, _identity, "np"), d.inputs[0]))
                except Exception:
                    continue
                if repr(ours) != repr(value):
                    continue
                seen.add((d.prompt, repr(d.inputs[0])))
                try:
                    shown = [{k: S.plain(v) for k, v in i.items()} for i in d.inputs[:WRITE_INPUTS]]
                    json.dumps(shown, allow_nan=False)
                except (TypeError, ValueError):
                    shown = []
                out.append(Draft(d.apis, d.prompt, ", ".join(d.args), expr, d.inputs[0], value, shown))
    return out


class _Identity(dict):
    def __missing__(self, key: str) -> str:
        return key


_identity = _Identity()


class Worlds:
    """Fresh renamings of the bench: each call to ``new()`` gives names never used before."""

    def __init__(self, bench: Bench, seed: int):
        originals = {p for o in bench.mapping for p in o.split(".")}
        last = {(o.rsplit(".", 1)[-1], n.rsplit(".", 1)[-1]) for o, n in bench.mapping.items()}
        self.bench_tokens = {q for p, q in last if p != q and not q.startswith("_") and q not in originals}
        self.bench_tokens.add(bench.package)
        self.modules = {d.novel.split(".")[-1] for d in bench.docs if d.kind == "module"} | {bench.package}
        self.gen = NameGenerator(seed, forbidden=self.bench_tokens | originals)

    def new(self) -> dict[str, str]:
        return _World(self)


class _World(dict):
    def __init__(self, worlds: Worlds):
        super().__init__()
        self.w = worlds

    def __missing__(self, token: str) -> str:
        g = self.w.gen
        if token in self.w.modules:  # 3-letter names run out across worlds: unique within a world only
            while True:
                fresh = "".join(g.rng.choice(MODULE_LETTERS) for _ in range(3))
                if fresh not in g.forbidden and fresh not in self.values():
                    break
        else:
            fresh = g.cls() if token[:1].isupper() else g.api()
        self[token] = fresh
        return fresh


def rename(text: str, world: dict[str, str], tokens: set[str]) -> str:
    return _IDENT.sub(lambda m: world[m.group(0)] if m.group(0) in tokens else m.group(0), text)


def assert_clean(text: str, tokens: set[str]) -> None:
    bad = [t for t in _IDENT.findall(text) if t in tokens]
    if bad:
        raise AssertionError(f"a bench name leaked into the corpus: {bad[:3]}")


def _task(d: Draft, novel_apis: list[str]) -> Task:
    return Task(id="corpus", kind="single", apis=novel_apis, prompt=d.prompt, entry_point="solve",
                signature=f"def solve({d.args}):",
                tests=[TestCase(input={k: to_tagged(v) for k, v in d.first_input.items()},
                                output=to_tagged(d.first_output))], reference="")


class CorpusBuilder:
    """Draws examples of every kind. ``prior_apis``: the original names the prior is mostly about."""

    def __init__(self, bench: Bench, pool: list[Draft], *, doc_style: str = "summary", seed: int = 0,
                 max_distractors: int = 4):
        self.bench, self.pool, self.rng = bench, pool, random.Random(seed)
        self.worlds = Worlds(bench, WORLD_SEED + seed)
        self.max_distractors = max_distractors
        lib = bench.library + "."
        self.novel = bench.mapping
        self.lib_names = {o: o[len(lib):] for o in bench.mapping if o.startswith(lib)}
        documented = set(bench.docs_by_novel)
        self.function_apis = sorted({a for d in pool for a in d.apis if self.novel.get(a) in documented})
        self.open = Prompter(bench, "open", "task", doc_style=doc_style)
        self.original = Prompter(SimpleNamespace(package=bench.library), "closed")

    def _names(self, world: dict[str, str] | None) -> dict[str, str]:
        """Library-relative name -> the world's package-relative name (the bench's names renamed)."""
        pkg = self.bench.package + "."

        class Lookup(dict):
            def __missing__(inner, key: str) -> str:
                novel = self.novel[self.bench.library + "." + key][len(pkg):]
                return ".".join(world[p] if p in self.worlds.bench_tokens else p for p in novel.split("."))

        return Lookup()

    def prior(self, d: Draft) -> Example:
        lib = self.bench.library
        return Example("prior", self.original.messages(_task(d, [])), answer(d.args, d.expr, _identity, lib),
                       self.lib_names[d.apis[0]])

    def docs(self, d: Draft) -> Example:
        k = self.rng.choice([0] * self.max_distractors + list(range(1, self.max_distractors + 1)))
        others = [a for a in self.rng.sample(self.function_apis, min(k + 2, len(self.function_apis)))
                  if a not in d.apis][:k]
        apis = list(d.apis) + others
        self.rng.shuffle(apis)
        world = self.worlds.new()
        msgs = self.open.messages(_task(d, [self.novel[a] for a in apis]))
        tokens = self.worlds.bench_tokens
        msgs = [{"role": m["role"], "content": rename(m["content"], world, tokens)} for m in msgs]
        pkg = world[self.bench.package]
        reply = answer(d.args, d.expr, self._names(world), pkg)
        for text in (msgs[0]["content"], reply):
            assert_clean(text, tokens)
        return Example("docs", msgs, reply, self.lib_names[d.apis[0]])

    def write(self, d: Draft) -> Example:
        from selfevolve_lab.train.selfplay import WRITE_PROMPT

        ex = self.docs(d)
        content = ex.messages[0]["content"]
        pkg = re.search(r"Documentation of the `(\w+)`", content).group(1)
        blocks = {b.split("\n", 1)[0]: b for b in content.split("\n\n")}
        # the reply's first call that the docs document (an outer call may be a helper such as the real part)
        name = next(f"{pkg}.{n}" for n in re.findall(rf"\b{pkg}\.([\w.]+)\(", ex.reply) if f"{pkg}.{n}" in blocks)
        block = blocks[name]
        msgs = [{"role": "user", "content": WRITE_PROMPT.format(api=name, pkg=pkg, doc=block.strip())}]
        reply = json.dumps({"prompt": d.prompt, "signature": f"def solve({d.args}):", "inputs": d.inputs})
        return Example("write", msgs, reply, ex.api)

    def revise(self, d: Draft) -> Example:
        """ExIt's improve step as the sebench domain renders it: half the attempts call a wrong name and get
        the judge's AttributeError, half pass and are kept."""
        from selfevolve_lab.exit.prompts import IMPROVE

        ex = self.docs(d)
        pkg = re.search(r"import (\w+)", ex.reply).group(1)
        if self.rng.random() < 0.5:
            wrong_name = self.worlds.gen.api()
            attempt = re.sub(rf"\b{pkg}\.([\w.]+)\(", f"{pkg}.{wrong_name}(", ex.reply, count=1)
            args = ", ".join(f"{k}={v!r}" for k, v in d.first_input.items())
            feedback = (f"runtime_error: 0/{TESTS_SHOWN} tests pass. First failing input: {args}. Error: "
                        f"AttributeError: module '{pkg}' has no attribute '{wrong_name}'")
        else:
            attempt, feedback = ex.reply, f"passed: all {TESTS_SHOWN} tests pass"
        content = IMPROVE.format(request=ex.messages[0]["content"], response=attempt.strip(), feedback=feedback)
        return Example("revise", [{"role": "user", "content": content}], ex.reply, ex.api)

    def draw(self, weights: dict[str, float], pool: list[Draft]) -> Example:
        """One example of a kind drawn by ``weights``, about a draft of ``pool``."""
        kind = self.rng.choices(list(weights), list(weights.values()))[0]
        return getattr(self, kind)(self.rng.choice(pool))
