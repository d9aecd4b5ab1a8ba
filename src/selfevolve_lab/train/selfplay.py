"""Self-play (`selfevolve train selfplay`): the model writes its own tasks from the docs, solves them with the
docs, and trains closed-book on what the sandbox confirms. One round:

1. **Write.** For each API doc the model writes a task: a problem text, a signature and test inputs, as one
   JSON object (`WRITE_PROMPT`). Everything it writes is untrusted data: the object is parsed as JSON,
   the signature must be a plain `def solve(a, b):` line, the inputs JSON values that name exactly its
   parameters (tagged JSON, validated). Nothing is evaluated.
2. **Solve.** Each parsed task is answered `n_solutions` times with the API's docs in the prompt.
3. **Filter.** The judge's extraction and usage check (must use the package, never the original library),
   then a sandbox run on the written inputs. Solutions that run on every input vote; an output that strictly
   more than half of *all* samples gave (not just of those that ran) becomes the expected output. Then the
   task generator's own checks (`validate_task`): no constant answer passes it (`generate.constant_answer`),
   its reference (the first majority solution) passes the judge again, the usage rule can apply to it
   (`Judge.usage_rule_applies`: the reference's answer moves when its API is perturbed; otherwise a
   pure-Python answer would pass it), and the reference written with the original names is rejected.
   Any failure drops the task, counted by reason.
4. **Learn.** Closed-SFT (`--learner sft`) on the majority solutions, or Closed-RL (`--learner rl`) on the
   kept tasks, from the current model; the next round starts from the result.

RUN/round-K/ holds `written.jsonl` (every raw task text), `tasks.jsonl` (the kept tasks, our Task format),
`stats.json` (written, parsed, solved, kept, and a count per drop reason) and `train/` (the learner's run).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from selfevolve_lab.errors import UserError
from selfevolve_lab.train.run import CommonOptions

LEARNERS = ("sft", "rl")
DROP_REASONS = ("garbage", "bad_signature", "bad_inputs", "no_code", "not_using_package", "uses_original_library",
                "no_running_solution", "no_majority", "constant_outputs", "reference_fails_judge",
                "usage_rule_cannot_apply", "original_not_rejected", "validation_error")
# drops of tasks whose solutions ran and voted (the round's "solved" count)
_AFTER_VOTE = frozenset(DROP_REASONS[DROP_REASONS.index("no_majority"):])

WRITE_PROMPT = (
    "Here is the documentation of `{api}` from the `{pkg}` library:\n\n{doc}\n\n"
    "Write a programming task that needs `{api}`. Reply with one JSON object with the keys "
    '"prompt" (the problem, without naming the function), "signature" (e.g. "def solve(x):") and '
    '"inputs" (a list of at least 3 test inputs, each an object from parameter name to a JSON value).'
)
SOLVE_PROMPT = ("{prompt}\n\nWrite the function with this signature:\n{signature}\n\nYou must use the `{pkg}` "
                "library (import {pkg}).\n\nDocumentation of the `{pkg}` library:\n\n{docs}\n\n"
                "Reply with the complete solution in a single ```python code block.")
_SIG = re.compile(r"^def (solve)\(((?:[A-Za-z_]\w*)(?:, ?[A-Za-z_]\w*)*)?\):$")
_OBJ = re.compile(r"\{.*\}", re.S)


@dataclass
class SelfPlayHyper:
    rounds: int = 1
    apis: int = 32  # docs (API entries) to write tasks from, per round
    tasks_per_api: int = 1
    n_solutions: int = 4
    temperature: float = 0.6
    max_tokens: int = 256
    doc_style: str = "full"  # the docs shown when writing and solving: full, or summary (signature + first paragraph)
    min_inputs: int = 3
    structured: bool = False  # write_structured: the JSON's keys and punctuation are ours, each value the model's


def parse_task(text: str, api: str, task_id: str) -> tuple[Any, str | None]:
    """Raw model text -> (Task with unknown outputs, None) or (None, drop reason). Pure; never evaluates,
    never raises: whatever the text does to the parser (deep nesting, huge numbers) is a drop."""
    try:
        return _parse_task(text, api, task_id)
    except Exception:  # noqa: BLE001  RecursionError, MemoryError, a schema refusal: the text's fault
        return None, "garbage"


def _parse_task(text: str, api: str, task_id: str) -> tuple[Any, str | None]:
    from selfevolve_lab.sandbox.protocol import validate
    from selfevolve_lab.schema import Task, TestCase

    m = _OBJ.search(text or "")
    try:
        obj = json.loads(m.group(0)) if m else None
    except (ValueError, RecursionError, MemoryError):
        obj = None
    if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str) or not obj["prompt"].strip():
        return None, "garbage"
    sig = obj.get("signature")
    sm = _SIG.match(sig.strip()) if isinstance(sig, str) else None
    if sm is None:
        return None, "bad_signature"
    params = [p.strip() for p in (sm.group(2) or "").split(",") if p.strip()]
    inputs = obj.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        return None, "bad_inputs"
    cases = []
    for case in inputs:
        if not isinstance(case, dict) or sorted(case) != sorted(params):
            return None, "bad_inputs"
        try:
            for v in case.values():
                validate(v)
        except Exception:  # noqa: BLE001
            return None, "bad_inputs"
        cases.append(TestCase(input=case, output=None))
    return Task(id=task_id, kind="single", apis=[api], prompt=obj["prompt"].strip(), entry_point="solve",
                signature=sig.strip(), tests=cases, reference="", provenance={"generator": "selfplay"}), None


def _string_end(text: str) -> int | None:
    """Where a JSON string's body ends: the first quote no backslash escapes."""
    escaped = False
    for i, ch in enumerate(text):
        if ch == '"' and not escaped:
            return i
        escaped = ch == "\\" and not escaped
    return None


def _value_end(text: str) -> int | None:
    """Where the first complete JSON value in ``text`` ends. A number is complete only once a character
    that cannot continue it follows (``-2`` may become ``-2.5e1``)."""
    lead = len(text) - len(text.lstrip())
    try:
        _, end = json.JSONDecoder().raw_decode(text[lead:])
    except (ValueError, RecursionError):
        return None
    end += lead
    if text[end - 1] in ']}"el':  # closed: a list, object, string, true, false or null
        return end
    return end if end < len(text) and text[end] not in "0123456789.eE+-" else None


def write_structured(backend: Any, chat: list[dict[str, str]], *, inputs: int, temperature: float, max_tokens: int,
                     seed: int | None) -> str:
    """The writer's reply with its JSON structure fixed (``--structured``): we write the object's keys and
    punctuation, the model writes the problem text, the signature, and each parameter's value of ``inputs``
    test inputs, each field sampled on from the text so far until that field is complete. What comes back is
    parsed by `parse_task` like a free reply (a value that is not JSON, a bad signature: still a drop), so this
    constrains the form, never the content. ``max_tokens`` bounds the model's tokens over all fields."""
    text, left = '{"prompt": "', max_tokens

    def field(stop: Any) -> bool:
        nonlocal text, left
        if left <= 0:
            return False
        part, used, done = backend.extend(chat, text, stop=stop, temperature=temperature, max_tokens=left,
                                          seed=seed if left == max_tokens else None)
        text, left = text + part, left - used
        return done

    if not field(_string_end):
        return text
    text += '", "signature": "'
    sig_at = len(text)
    if not field(_string_end):
        return text
    sm = _SIG.match(text[sig_at:].strip())
    text += '"'
    if sm is None:
        return text + "}"
    params = [p.strip() for p in (sm.group(2) or "").split(",") if p.strip()]
    text += ', "inputs": ['
    for i in range(inputs):
        text += ", {" if i else "{"
        for j, name in enumerate(params):
            text += (", " if j else "") + json.dumps(name) + ":"  # no space: ' [' is one token, as the model writes it
            if not field(_value_end):
                return text
        text += "}"
    return text + "]}"


def majority(outputs: list[list[Any]], samples: int) -> tuple[list[Any] | None, str | None]:
    """The expected outputs from the running solutions' outputs (one list per solution): the one that
    strictly more than half of all ``samples`` gave, so that one solution that ran out of four is no
    majority. Pure."""
    if not outputs:
        return None, "no_running_solution"
    keys = [json.dumps(o, sort_keys=True) for o in outputs]
    best, count = Counter(keys).most_common(1)[0]
    if count * 2 <= max(samples, len(keys)):
        return None, "no_majority"
    return outputs[keys.index(best)], None


def validate_task(task: Any, judge: Any) -> tuple[Any, str | None]:
    """The task generator's checks (as `generate.build_tasks` applies them) on a task whose expected
    outputs came from a vote and whose reference is the first majority solution: -> (the task with its
    usage probe recorded, None) or (None, drop reason)."""
    from selfevolve_lab.obfuscate.translate import translate_code
    from selfevolve_lab.tasks.generate import constant_answer

    try:
        if constant_answer(task):
            return None, "constant_outputs"
        if not judge.judge(task, task.reference).passed:  # a second run: outputs are deterministic
            return None, "reference_fails_judge"
        applies, probe = judge.usage_rule_applies(task)
        if not applies:  # the judge would switch the rule off: a pure-Python answer would pass
            return None, "usage_rule_cannot_apply"
        task = task.model_copy(update={"provenance": {**task.provenance, "usage_probe": probe}})
        bench = judge.bench
        original = translate_code(task.reference, bench.mapping, library=bench.library, package=bench.package,
                                  reverse=True)
        if judge.judge(task, original).status != "uses_original_library":
            return None, "original_not_rejected"
    except Exception:  # noqa: BLE001  a reference that breaks a check is not a task to learn from
        return None, "validation_error"
    return task, None


def filter_task(task: Any, solutions: list[str], judge: Any) -> tuple[Any, list[str], str | None]:
    """Run the solutions on the written inputs; -> (task with expected outputs, majority solutions, None)
    or (None, [], drop reason)."""
    from selfevolve_lab.sandbox import RunRequest

    checked, reasons = [], Counter()
    for text in solutions:
        code, early = judge.precheck(task, text)
        if early is not None:
            reasons[early.status] += 1
        else:
            checked.append((text, code))
    runs = [judge.pool.submit(RunRequest(code, task.entry_point, [c.input for c in task.tests])) for _, code in checked]
    voters = []
    for (text, _), fut in zip(checked, runs, strict=True):
        r = fut.result()
        if r.status == "ok" and all(o.ok for o in r.outcomes):
            voters.append((text, [o.value for o in r.outcomes]))
    if not voters:
        return None, [], (reasons.most_common(1)[0][0] if reasons and not checked else "no_running_solution")
    expected, why = majority([v for _, v in voters], len(solutions))
    if why:
        return None, [], why
    winners = [t for t, v in voters if v == expected]
    from selfevolve_lab.judge.extract import extract_code
    from selfevolve_lab.schema import TestCase

    kept = task.model_copy(update={"tests": [TestCase(input=c.input, output=o) for c, o in zip(task.tests, expected,
                                                                                                strict=True)],
                                   "reference": extract_code(winners[0], task.entry_point) or ""})
    kept, why = validate_task(kept, judge)
    if why:
        return None, [], why
    return kept, winners, None


def scope(bench: Any) -> list[Any]:
    """The function docs to write tasks from: those of the APIs the train split covers, in the docs' order;
    every function doc when there is no train split. Never the test splits: what a held-out split
    holds must not steer training."""
    covered = {a for t in bench.tasks("train") for a in t.apis} if bench.tasks_path("train").is_file() else set()
    functions = [d for d in bench.docs if d.kind == "function"]
    return [d for d in functions if d.novel in covered] or functions


def write_prompt(bench: Any, entry: Any, doc_style: str = "full") -> list[dict[str, str]]:
    """The doc is rendered as open-book prompts render it (``doc_style`` full or summary)."""
    from selfevolve_lab.evaluate.prompts import _doc_block

    doc = _doc_block(entry, doc_style).strip()
    return [{"role": "user", "content": WRITE_PROMPT.format(api=entry.novel, pkg=bench.package, doc=doc[:4000])}]


def solve_prompt(bench: Any, task: Any, doc_style: str = "full") -> list[dict[str, str]]:
    from selfevolve_lab.evaluate.prompts import Prompter

    docs = Prompter(bench, "open", doc_style=doc_style).documentation(task)
    return [{"role": "user", "content": SOLVE_PROMPT.format(prompt=task.prompt, signature=task.signature,
                                                           pkg=bench.package, docs=docs)}]


def run_round(bench: Any, model: str, k: int, out: Path, hp: SelfPlayHyper, judge: Any, seed: int,
              progress: bool = True) -> tuple[list, list, dict]:
    """Write, solve and filter one round. Returns (kept tasks, (task, winner texts) pairs, stats)."""
    from tqdm import tqdm

    from selfevolve_lab.jsonl import write_jsonl
    from selfevolve_lab.models.hf_backend import TransformersBackend

    backend = TransformersBackend(model)
    entries = scope(bench)[: hp.apis]
    if not entries:
        raise UserError(f"{bench.root}: no function docs to write tasks from")
    stats: dict[str, Any] = {"round": k, "written": 0, "parsed": 0, "solved": 0, "kept": 0,
                             "dropped": dict.fromkeys(DROP_REASONS, 0)}
    written, kept, pairs = [], [], []
    for i, entry in enumerate(tqdm(entries, desc=f"round {k}: write, solve, filter", disable=not progress)):
        chat, draw = write_prompt(bench, entry, hp.doc_style), seed * 1_000_003 + k * 10_007 + i
        if hp.structured:
            texts = [write_structured(backend, chat, inputs=hp.min_inputs, temperature=hp.temperature,
                                      max_tokens=hp.max_tokens, seed=draw * 31 + j) for j in range(hp.tasks_per_api)]
        else:
            texts = backend.generate([chat] * hp.tasks_per_api, temperature=hp.temperature, max_tokens=hp.max_tokens,
                                     seed=draw)
        for j, text in enumerate(texts):
            tid = f"selfplay/r{k}/{entry.novel.rsplit('.', 1)[-1]}/{j}"
            stats["written"] += 1
            task, why = parse_task(text, entry.novel, tid)
            written.append({"task_id": tid, "api": entry.novel, "text": text, "parsed": why is None, "drop": why})
            if why is None and len(task.tests) < hp.min_inputs:
                task, why = None, "bad_inputs"
                written[-1].update(parsed=False, drop=why)
            if why:
                stats["dropped"][why] += 1
                continue
            stats["parsed"] += 1
            sols = backend.generate([solve_prompt(bench, task, hp.doc_style)] * hp.n_solutions, temperature=hp.temperature,
                                    max_tokens=hp.max_tokens, seed=seed * 1_000_003 + k * 10_007 + i * 101 + j + 1)
            final, winners, why = filter_task(task, sols, judge)
            if why in _AFTER_VOTE or final is not None:
                stats["solved"] += 1
            if why:
                stats["dropped"][why] += 1
                written[-1]["drop"] = why
                continue
            kept.append(final)
            pairs.append((final, winners))
    stats["kept"] = len(kept)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "written.jsonl", written)
    write_jsonl(out / "tasks.jsonl", kept)
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    return kept, pairs, stats


class TooFewTasks(UserError):
    """A round kept too few tasks for its learner to take one optimizer step."""


def train_selfplay(bench_dir: Path, model: str, learner: str, out: Path, opts: CommonOptions,
                   hp: SelfPlayHyper | None = None, sft_hyper: Any = None, rl_hyper: Any = None) -> dict:
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.judge import Judge
    from selfevolve_lab.train.run import world_size
    from selfevolve_lab.train.sft import load_tokenizer

    if learner not in LEARNERS:
        raise UserError(f"--learner {learner!r}: choose sft or rl")
    if world_size() > 1:  # its rounds write and solve tasks in one process; its learners alone would spread
        raise UserError("self-play runs on one process (its learners' `train sft|rl` take several)")
    hp = hp or SelfPlayHyper()
    bench = Bench.open(bench_dir)
    load_tokenizer(model)
    from selfevolve_lab.train.run import open_run

    config = {"recipe": f"selfplay-{learner}", "bench": str(bench.root), "model": str(model), "hyper": asdict(hp),
              **asdict(opts)}
    run, _ = open_run(out, config, opts)
    current, history = str(model), []
    with Judge(bench) as judge:
        for k in range(1, hp.rounds + 1):
            rdir = run.root / f"round-{k}"
            kept, pairs, stats = run_round(bench, current, k, rdir, hp, judge, opts.seed, opts.progress)
            history.append(stats)
            sub = CommonOptions(**{**asdict(opts), "resume": False, "force": True, "limit": None, "cli": {}})
            try:  # too few kept tasks to train one step: the round says so in its stats, and the run fails
                if not kept:
                    raise UserError("no written task survived the filter")
                if learner == "rl":
                    from selfevolve_lab.train.rl import RLHyper, check_trainable

                    check_trainable(len(kept), rl_hyper or RLHyper(),
                                    "lower the RL learner's prompts per step or write more tasks (--apis)")
            except UserError as e:
                stats.update(trained=False, steps=0, error=str(e))
                (rdir / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
                (run.root / "stats.json").write_text(json.dumps(history, indent=1) + "\n")
                raise TooFewTasks(f"self-play round {k}: {e}") from None
            if learner == "sft":
                from selfevolve_lab.train.sft import train_sft

                data = rdir / "sft-data.jsonl"
                _write_sft_data(bench, pairs, data, hp.doc_style)
                res = train_sft(bench.root, current, data, "closed", rdir / "train", sub, sft_hyper)
            else:
                from selfevolve_lab.train.recipes import CLOSED_RL
                from selfevolve_lab.train.rl import train_rl

                res = train_rl(bench.root, current, CLOSED_RL, rdir / "train", sub, rl_hyper, tasks=kept,
                               doc_style=hp.doc_style)
            current = str(rdir / "train" / "model")
            stats.update(trained=res["steps"] > 0, steps=res["steps"])  # the learner refuses a run of 0 steps
            (rdir / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    (run.root / "stats.json").write_text(json.dumps(history, indent=1) + "\n")
    return {"run": str(run.root), "rounds": history, "model": current}


def _write_sft_data(bench: Any, pairs: list, path: Path, doc_style: str = "full") -> None:
    from selfevolve_lab.jsonl import write_jsonl
    from selfevolve_lab.schema import Verdict
    from selfevolve_lab.train.data import SFTRecord, TaskPrompts

    prompts = TaskPrompts(bench, doc_style=doc_style)
    recs = [SFTRecord(task_id=t.id, sample_idx=i, prompt_open=solve_prompt(bench, t, doc_style),
                      prompt_closed=prompts.messages(t, "closed"), completion=w,
                      verdict=Verdict(task_id=t.id, sample_idx=i, passed=True, status="passed"))
            for t, winners in pairs for i, w in enumerate(winners)]
    write_jsonl(path, recs)
