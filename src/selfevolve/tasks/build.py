"""Generate + validate all programmatic sets of a bench and write them atomically."""

from __future__ import annotations

import json
from typing import Any

from selfevolve.jsonl import atomic_write_text
from selfevolve.schema import Task
from selfevolve.tasks.generate import TRAIN_PER_API, find_specs, multi_tasks, single_tasks
from selfevolve.tasks.validate import Report, validate


def write_split(bench: Any, split: str, tasks: list[Task]) -> None:
    path = bench.tasks_path(split)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, "".join(t.model_dump_json() + "\n" for t in tasks))


def generate_all(bench: Any, seed: int = 0, limit: int | None = None, progress: bool = False) -> Report:
    from selfevolve.judge import Judge

    specs = find_specs(bench, limit=limit, progress=progress)
    test, train = single_tasks(bench, specs, seed)
    multi = multi_tasks(bench, specs, seed, target=min(340, 10 * len(specs)))
    report = Report()
    with Judge(bench) as judge:
        test = validate(bench, test, report, judge, progress=progress)
        kept_apis = {a for t in test for a in t.apis}
        train = validate(bench, [t for t in train if t.apis[0] in kept_apis], report, judge, progress=progress)
        multi = validate(bench, multi, report, judge, progress=progress)
    # train never shares a prompt or a test input with the test splits
    test_prompts = {t.prompt for t in test + multi}
    test_inputs = {json.dumps(c.input, sort_keys=True) for t in test + multi for c in t.tests}
    train = [t for t in train if t.prompt not in test_prompts]
    for t in train:  # drop single colliding cases (small input domains), keep the rest
        t.tests = [c for c in t.tests if json.dumps(c.input, sort_keys=True) not in test_inputs]
    per_api: dict[str, list[Task]] = {}
    for t in train:
        if t.tests:
            per_api.setdefault(t.apis[0], []).append(t)
    train = [t for ts in per_api.values() for t in ts[:TRAIN_PER_API]]
    for t in test:  # every tested API has enough training tasks
        if len(per_api.get(t.apis[0], [])) < TRAIN_PER_API:
            report.drop("too_few_train_tasks", t.id)
            report.kept[t.kind] -= 1
    test = [t for t in test if len(per_api.get(t.apis[0], [])) >= TRAIN_PER_API]
    report.kept.clear()  # final counts per split (validation counted candidates)
    for split, tasks in (("test_single", test), ("train", train), ("test_multi", multi)):
        write_split(bench, split, tasks)
        report.kept[split] = len(tasks)
    atomic_write_text(bench.root / "tasks" / "report.json", json.dumps(report.as_dict(), indent=2))
    return report
