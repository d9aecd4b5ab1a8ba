"""Keep a task only if it is sound: the translated reference runs in the sandbox, deterministically (run
twice, identical outputs, which become the expected outputs), the original-names reference is rejected by
the judge as ``uses_original_library``, and the prompt names no API. Reports drops per reason."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from selfevolve.schema import Task, TestCase
from selfevolve.tasks.describe import forbidden_tokens, leaks


@dataclass
class Report:
    kept: Counter = field(default_factory=Counter)
    dropped: Counter = field(default_factory=Counter)  # reason -> count
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one task id

    def drop(self, reason: str, task_id: str) -> None:
        self.dropped[reason] += 1
        self.examples.setdefault(reason, task_id)

    def as_dict(self) -> dict[str, Any]:
        return {"kept": dict(self.kept), "dropped": dict(self.dropped), "examples": self.examples}


def validate(bench: Any, tasks: list[Task], report: Report, judge: Any, progress: bool = False) -> list[Task]:
    from selfevolve.sandbox import RunRequest

    forbidden = forbidden_tokens(bench.mapping, bench.library, bench.package)
    reqs = [RunRequest(t.reference, t.entry_point, [c.input for c in t.tests]) for t in tasks]
    first = judge.pool.map(reqs, progress=progress)
    second = judge.pool.map(reqs, progress=progress)
    sound: list[Task] = []
    for t, a, b in zip(tasks, first, second, strict=True):
        if leaks(t.prompt, forbidden):
            report.drop("prompt_names_api", t.id)
        elif a.status != "ok" or not all(o.ok for o in a.outcomes):
            report.drop("reference_fails_in_sandbox", t.id)
        elif json.dumps([o.value for o in a.outcomes]) != json.dumps([o.value for o in b.outcomes]):
            report.drop("nondeterministic", t.id)
        else:
            t.tests = [TestCase(input=c.input, output=o.value) for c, o in zip(t.tests, a.outcomes, strict=True)]
            sound.append(t)
    kept = []
    orig = [(t, t.provenance["original_reference"], 0) for t in sound]
    ref = [(t, t.reference, 1) for t in sound]
    verdicts = {(v.task_id, v.sample_idx): v for v in judge.judge_many(orig + ref)}
    for t in sound:
        vo, vr = verdicts[(t.id, 0)], verdicts[(t.id, 1)]
        if vo.status != "uses_original_library":
            report.drop("original_names_not_rejected", t.id)
        elif not vr.passed:
            report.drop(f"reference_not_passing_judge:{vr.status}", t.id)
        else:
            kept.append(t)
            report.kept[t.kind] += 1
    return kept
