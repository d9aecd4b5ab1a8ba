"""Programmatic task generation and validation, read top to bottom.

1. Specs: one per function API (`specs.find_spec`), found by trial against the real library.
2. Prompts: the doc's summary line plus the input description, in one of several templates; a prompt
   that would name an API (the leak detector decides) is not used.
3. Splits: ``test_single`` (one task per API), ``train`` (3 per API, other seeds and templates),
   ``test_multi`` (chains of 2 to 4 APIs). Train and test share APIs, never prompts or inputs.
4. Validation in the sandbox: expected outputs are what the translated reference returns there; a task
   whose tests all expect one output, or whose expected numbers all lie within its ``compare.atol`` of
   zero, is dropped (a constant would pass it). The reference is then judged against the outputs (a
   second run: it must pass, so outputs are deterministic), its answer must change when its APIs are
   perturbed on one of a few *probe inputs* drawn like the tests but not among them (the first that
   does is kept in ``provenance["usage_probe"]`` with the reference's plain answer on it: the judge's
   usage rule calls the solution there), and the reference written with the original names must be
   rejected by the judge. ``tasks/report.json`` counts every drop by reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from selfevolve_lab.bench import Bench
from selfevolve_lab.obfuscate.leaks import Detector
from selfevolve_lab.obfuscate.surface import introspect
from selfevolve_lab.obfuscate.translate import translate_code
from selfevolve_lab.profiles import LibraryProfile
from selfevolve_lab.sandbox.protocol import to_tagged
from selfevolve_lab.schema import Task, TestCase
from selfevolve_lab.tasks import specs as S

N_TESTS = 8
N_PROBES = 4  # probe inputs tried per task, in order, until the reference's answer reacts to the perturbation
TRAIN_PER_API = 3
TRAIN_DRAFTS = 6  # more drafts than kept, so an API keeps 3 train tasks when a draft fails validation
N_MULTI = 320

TEMPLATES = [
    "Write a function `{sig}` that takes {inputs}. {summary} {output}",
    "You are given {inputs}. {summary} {output} Implement this as `{sig}`.",
    "{summary} The input is {inputs}. {output} Name the function `{entry}`.",
    "Implement `{sig}`. It receives {inputs}. Task: {summary_lc} {output}",
    "Task: {summary_lc} Input: {inputs}. {output} Use the signature `{sig}`.",
    "Given {inputs}, {summary_lc} {output} Write it as `{sig}`.",
]


def summary_line(doc: str) -> str:
    """The first sentence of a docstring that is prose, not a signature."""
    for para in re.split(r"\n\s*\n", doc or ""):
        text = " ".join(para.split())
        if not text or re.match(r"^[\w.]+\(.*\)", text) or text.startswith(("..", ">>>")):
            continue
        sentence = re.split(r"(?<=[.!?])\s", text)[0]
        return sentence.replace("`", "").strip()
    return ""


def output_phrase(value: Any) -> str:
    if isinstance(value, bool):
        return "Return True or False."
    if isinstance(value, (int, float)):
        return "Return the result as a number."
    if isinstance(value, complex):
        return "Return the result as a complex number."
    if isinstance(value, str):
        return "Return the result as a string."
    if isinstance(value, list) and value and isinstance(value[0], list):
        return "Return the result as a nested list."
    return "Return the result as a list."


@dataclass
class Report:
    """What generation kept and dropped, and why."""

    kept: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    fixed: Counter = field(default_factory=Counter)  # what was changed to keep a task -> count
    uncovered: dict[str, str] = field(default_factory=dict)  # novel api -> reason
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"kept": dict(self.kept), "dropped": dict(self.dropped), "fixed": dict(self.fixed),
                "uncovered": self.uncovered, "seconds": round(self.seconds, 1)}


@dataclass
class Draft:
    """A task before validation: the reference in original names, inputs as plain values."""

    split: str
    kind: str
    apis: list[str]  # original dotted
    prompt: str
    args: tuple[str, ...]
    body: str
    inputs: list[dict[str, Any]]
    seed: int
    imports: str  # how the reference imports its library: its profile's import line
    probes: list[dict[str, Any]] = field(default_factory=list)  # probe inputs, none among ``inputs``

    def reference(self, entry: str = "solve") -> str:
        return f"{self.imports}\n\n\ndef {entry}({', '.join(self.args)}):\n    return {self.body}\n"


def _prompt(rng: random.Random, template: str, summary: str, inputs: str, value: Any, args: tuple[str, ...]) -> str:
    sig = f"solve({', '.join(args)})"
    summary = summary.rstrip(".") + "."
    lc = summary[0].lower() + summary[1:] if summary else summary
    return template.format(sig=sig, entry="solve", inputs=inputs, summary=summary, summary_lc=lc,
                           output=output_phrase(value)).strip()


def draft_tasks(bench: Bench, seed: int, report: Report) -> list[Draft]:
    # Specs are tried in this process; the file-writing ones must write into a scratch directory.
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        return _draft_tasks(bench, seed, report)


def _draft_tasks(bench: Bench, seed: int, report: Report) -> list[Draft]:
    surface = introspect(bench.library)
    profile = surface.profile
    mapping = bench.mapping
    detector = Detector(bench.library, set(mapping), set())
    rng = random.Random(seed)
    drafts: list[Draft] = []
    unary: list[tuple[S.Spec, str]] = []
    reducers: list[tuple[S.Spec, str]] = []
    for it in surface.items:
        if it.kind != "function" or it.original not in mapping:
            continue
        novel = mapping[it.original]
        summary = summary_line(it.doc)
        spec, why = S.find_spec(it.original, it.obj, summary, profile)
        if spec is None:
            report.uncovered[novel] = why
            continue
        text = spec.summary or summary
        if not text or detector.scan(text) or detector.scan(spec.describe):
            report.uncovered[novel] = "its summary names an API"
            continue
        value = spec.example
        templates = [TEMPLATES[i % len(TEMPLATES)] for i in rng.sample(range(1 + TRAIN_DRAFTS), 1 + TRAIN_DRAFTS)]
        test_keys: set[str] = set()
        for k, split in enumerate(["test_single"] + ["train"] * TRAIN_DRAFTS):
            task_seed = rng.randrange(1 << 30)
            r = random.Random(task_seed)
            inputs = _fresh_inputs(spec, r, test_keys if split == "train" else set())
            if inputs is None:
                report.dropped["train inputs cannot avoid the test inputs"] += 1
                continue
            if split != "train":
                test_keys |= {_key(kw) for kw in inputs}
            prompt = _prompt(rng, templates[k], text, spec.describe, value, spec.args)
            if detector.scan(prompt):  # lower-casing can turn a name into an identifier ("Cholesky")
                prompt = _prompt(rng, TEMPLATES[k % 3], text, spec.describe, value, spec.args)
                if detector.scan(prompt):
                    report.dropped["prompt names an API"] += 1
                    continue
            probes = _probe_inputs(lambda r=r, spec=spec: S.sample_inputs(spec, r, 1)[0], inputs)
            drafts.append(Draft(split, "single", [it.original], prompt, spec.args, spec.body, inputs, task_seed,
                                profile.import_line, probes))
        if spec.pattern in ("floats", "positive", "unit") and isinstance(value, list) and value and \
                isinstance(value[0], float) and not isinstance(value[0], list):
            unary.append((spec, text))
        elif spec.pattern in ("floats", "positive") and isinstance(value, (int, float)) and not isinstance(value, bool):
            reducers.append((spec, text))
    drafts += _compose(rng, unary, reducers, report, profile)
    return drafts


def _key(kw: dict) -> str:
    return json.dumps(kw, sort_keys=True)


def _fresh_inputs(spec: S.Spec, r: random.Random, avoid: set[str]) -> list[dict] | None:
    """N_TESTS distinct inputs none of which is in ``avoid`` (train never reuses a test input)."""
    out, keys = [], set()
    for _ in range(N_TESTS * 25):
        kw = S.sample_inputs(spec, r, 1)[0]
        k = _key(kw)
        if k not in avoid and k not in keys:
            out.append(kw)
            keys.add(k)
            if len(out) == N_TESTS:
                return out
    return out if not avoid and len(out) >= N_TESTS // 2 else None


def _probe_inputs(sample: Callable[[], dict], tests: list[dict]) -> list[dict]:
    """Up to N_PROBES distinct inputs from ``sample`` (the tests' own generator), none of them a test input."""
    out, keys = [], {_key(kw) for kw in tests}
    for _ in range(N_PROBES * 25):
        kw = sample()
        if (k := _key(kw)) not in keys:
            out.append(kw)
            keys.add(k)
            if len(out) == N_PROBES:
                break
    return out


def _strip_plain(body: str) -> str:
    return body[: -len(".tolist()")] if body.endswith(".tolist()") else (
        body[: -len(".item()")] if body.endswith(".item()") else body)


def _compose(rng: random.Random, unary: list, reducers: list, report: Report, profile: LibraryProfile) -> list[Draft]:
    """Chains of 2 to 4 APIs: element-wise steps, optionally ending in a reduction."""
    out: list[Draft] = []
    seen: set[tuple[str, ...]] = set()
    attempts = 0
    while len(out) < N_MULTI and attempts < N_MULTI * 20 and len(unary) >= 2:
        attempts += 1
        n = rng.randint(2, min(4, len(unary)))  # a library with few element-wise APIs
        end_with_reduction = reducers and rng.random() < 0.5
        steps = rng.sample(unary, n - (1 if end_with_reduction else 0))
        if end_with_reduction:
            steps.append(rng.choice(reducers))
        names = tuple(s.api for s, _ in steps)
        if names in seen:
            continue
        expr = x = profile.wrap.format("x")
        for spec, _ in steps:
            expr = _strip_plain(spec.body).replace(x, expr, 1)
        try:
            body = S.to_plain_expr(expr, S.evaluate(expr, {"x": [0.5, 0.25]}, profile), profile)
        except (Exception, S._Timeout):
            report.dropped["chain fails on its inputs"] += 1
            continue
        task_seed = rng.randrange(1 << 30)
        gen = S.floats(0.1, 3) if any(s.pattern == "positive" for s, _ in steps) else S.floats(-0.9, 0.9)
        r = random.Random(task_seed)
        inputs = [{"x": gen(r)} for _ in range(N_TESTS)]
        probes = _probe_inputs(lambda r=r, gen=gen: {"x": gen(r)}, inputs)
        try:
            values = [S.plain(S.evaluate(body, kw, profile), profile) for kw in inputs]
        except (Exception, S._Timeout):
            report.dropped["chain fails on its inputs"] += 1
            continue
        if len({repr(v) for v in values}) == 1:
            report.dropped["chain gives one answer for every input"] += 1
            continue
        seen.add(names)
        parts = [t.rstrip(".") for _, t in steps]
        lc = [p[0].lower() + p[1:] for p in parts]
        text = f"First, {lc[0]}. " + " ".join(f"Then, on that result, {p}." for p in lc[1:])
        prompt = (f"Write a function `solve(x)` that takes a list of numbers `x` and applies these steps in order. "
                  f"{text} {output_phrase(values[0])}")
        out.append(Draft("test_multi", "multi", list(names), prompt, ("x",), body, inputs, task_seed,
                         profile.import_line, probes))
    return out


def _numbers(v: Any) -> Iterator[float]:
    """The numbers in a tagged value (booleans are not numbers; NaN and infinities count as far from zero)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return
    if isinstance(v, (int, float)):
        yield float(v)
    elif isinstance(v, list):
        for x in v:
            yield from _numbers(x)
    elif isinstance(v, dict) and len(v) == 1:
        (tag, body), = v.items()
        if tag == "$f":
            yield math.inf
        elif tag in ("$tuple", "$set", "$complex", "$dict"):
            yield from _numbers(body)
        elif tag == "$array":
            yield from _numbers(body["data"])
        elif tag == "$scalar":
            yield from _numbers(body["value"])


def constant_answer(task: Task) -> str | None:
    """Why a constant answer would pass ``task``, or None. Pure."""
    if len({json.dumps(c.output, sort_keys=True) for c in task.tests}) <= 1:
        return "all tests share one expected output"
    nums = [x for c in task.tests for x in _numbers(c.output)]
    if nums and all(abs(x) <= task.compare.atol for x in nums):
        return "every expected number is within the task's atol of zero"
    return None


def _task_id(d: Draft, novel_apis: list[str], k: int) -> str:
    short = "-".join(a.rsplit(".", 1)[1] for a in novel_apis)
    h = hashlib.sha256(f"{d.split}{d.prompt}{d.seed}".encode()).hexdigest()[:6]
    return f"{d.split}/{short}/{k}-{h}"


def build_tasks(bench: Bench, seed: int = 0, *, limit: int | None = None, workers: int | None = None,
                progress: bool = False) -> tuple[dict[str, list[Task]], Report]:
    """Generate, run and validate every split. Returns the kept tasks per split and the report."""
    from selfevolve_lab.judge import Judge
    from selfevolve_lab.sandbox import RunRequest

    t0 = time.perf_counter()
    report = Report()
    drafts = draft_tasks(bench, seed, report)
    if limit:
        drafts = drafts[:limit]
    lib, pkg, mapping = bench.library, bench.package, bench.mapping
    out: dict[str, list[Task]] = {"train": [], "test_single": [], "test_multi": []}
    with Judge(bench, workers=workers, probe_seed=seed) as judge:  # the validity check's own perturbation
        refs = [translate_code(d.reference(), mapping, library=lib, package=pkg) for d in drafts]
        reqs = [RunRequest(r, "solve", [{k: to_tagged(v) for k, v in kw.items()} for kw in d.inputs + d.probes])
                for r, d in zip(refs, drafts, strict=True)]
        runs = judge.pool.map(reqs, progress=progress)
        candidates = []
        for k, (d, ref, run) in enumerate(zip(drafts, refs, runs, strict=True)):
            n = len(d.inputs)
            if run.status != "ok" or not all(o.ok for o in run.outcomes[:n]):
                report.dropped[f"reference fails in the sandbox ({run.status})"] += 1
                continue
            probes = [(i, o.value) for i, o in zip(reqs[k].inputs[n:], run.outcomes[n:], strict=True) if o.ok]
            novel_apis = [mapping[a] for a in d.apis]
            task = Task(id=_task_id(d, novel_apis, k), kind=d.kind, apis=novel_apis, prompt=d.prompt,
                        entry_point="solve", signature=f"def solve({', '.join(d.args)}):",
                        tests=[TestCase(input=req, output=o.value) for req, o in
                               zip(reqs[k].inputs[:n], run.outcomes[:n], strict=True)],
                        reference=ref, provenance={"generator": "programmatic", "seed": d.seed, "bench_seed": seed})
            constant = constant_answer(task)
            if constant and constant.startswith("every expected number") and any(
                    x for c in task.tests for x in _numbers(c.output)):
                # tiny but not zero (a spacing, a rounding residue): compare them relatively instead
                task.compare = task.compare.model_copy(update={"atol": 0.0})
                constant = constant_answer(task)
                report.fixed["atol set to 0: every expected number is tiny, not all zero"] += constant is None
            if constant:
                report.dropped[constant] += 1
                continue
            candidates.append((d, task, probes))
        for _, t, probes in candidates:  # the first probe input usually makes it react: run those meanwhile
            if probes:
                judge.usage_probe(t, probes[0][0])
        verdicts = list(judge.judge_many((t, t.reference, i) for i, (_, t, _) in enumerate(candidates)))
        by_idx = {v.sample_idx: v for v in verdicts}
        train_count: Counter[str] = Counter()
        test_prompts = {d.prompt for d in drafts if d.split != "train"}
        for i, (d, task, probes) in enumerate(candidates):
            v = by_idx[i]
            if not v.passed:
                report.dropped[f"reference is not deterministic or fails the judge ({v.status})"] += 1
                continue
            applies, probe = judge.usage_rule_applies(task, probes)
            if not applies:
                report.dropped["reference fails the usage rule (its answer does not move with its APIs "
                               "on any probe input)"] += 1
                continue
            task.provenance["usage_probe"] = probe
            original = judge.judge(task, d.reference(), 0)
            if original.status != "uses_original_library":
                report.dropped["the original-names reference is not rejected"] += 1
                continue
            if d.split == "train" and d.prompt in test_prompts:
                report.dropped["train prompt equal to a test prompt"] += 1
                continue
            if d.split == "train" and train_count[d.apis[0]] >= TRAIN_PER_API:
                continue
            train_count[d.apis[0]] += d.split == "train"
            out[d.split].append(task)
    # An API is in the bench only with enough train tasks to learn it from.
    thin = {novel for api, novel in ((a, mapping[a]) for a in {d.apis[0] for d in drafts if d.kind == "single"})
            if train_count[api] < TRAIN_PER_API}
    for split in ("train", "test_single"):
        before = len(out[split])
        out[split] = [t for t in out[split] if t.apis[0] not in thin]
        report.dropped[f"{split}: API with fewer than {TRAIN_PER_API} train tasks"] += before - len(out[split])
    for split, tasks in out.items():
        report.kept[split] = len(tasks)
    report.seconds = time.perf_counter() - t0
    return out, report
