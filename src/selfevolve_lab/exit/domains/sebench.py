"""SE-Bench: the bench's tasks, closed or open book, with execution feedback from the judge.

Feedback is the judge's status, and for a wrong answer the first failing input with its expected and
actual output, or the error. The score is the fraction of tests passed (continuous, the default) or the
pass itself (``verifiable=True``). The judge's own pieces are used (precheck, the sandbox run, `score`),
so a response is judged exactly as an evaluation judges it; the run's outcomes give the actual output.

Training (`score_many`) scores and gives feedback on all of a task's tests. K-step inference on held-out
tasks (`score_held_out`) splits them by index (`split_tests`): the feedback comes from the shown tests,
run on their own, and the score from the scored tests, so the curve never scores an expected output the
feedback printed.
"""

from __future__ import annotations

from selfevolve_lab.exit.domain import BaseTask, Instance
from selfevolve_lab.judge.core import Judge
from selfevolve_lab.judge.core import score as judge_score
from selfevolve_lab.sandbox import RunRequest
from selfevolve_lab.sandbox.protocol import from_tagged

SPLITS = {"train": "train", "test": "test_single"}
SHOW = 300  # characters of any value shown in feedback


def split_tests(n: int) -> tuple[list[int], list[int]]:
    """(shown, scored) indices of a task's n tests: odd ones shown, even ones scored. A task with two or more
    tests has at least one of each and never fewer scored than shown; a single test is scored and none is
    shown (the feedback then says only what needs no test: no code, a syntax or usage error)."""
    return list(range(1, n, 2)), list(range(0, n, 2))


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= SHOW else text[:SHOW] + "..."


class SEBenchDomain:
    name = "sebench"

    def __init__(self, bench, *, mode: str = "closed", verifiable: bool = False, workers: int | None = None,
                 judge: Judge | None = None, doc_style: str = "full", test_split: str = "test_single"):
        """``doc_style``: the open-book docs in full or as summaries (what the micro model reads);
        ``test_split``: the bench split behind the domain's held-out "test" tasks."""
        from selfevolve_lab.evaluate.prompts import Prompter

        if test_split not in ("test_single", "test_multi"):
            raise ValueError(f"test_split is test_single or test_multi, not {test_split!r}")
        self.bench, self.mode, self.verifiable = bench, mode, verifiable
        self.prompter = Prompter(bench, mode, doc_style=doc_style)
        self.splits = {**SPLITS, "test": test_split}
        self._judge, self._workers = judge, workers
        self._tasks: dict[str, object] = {}

    @property
    def judge(self) -> Judge:
        if self._judge is None:  # the sandbox starts only when something is scored
            self._judge = Judge(self.bench, workers=self._workers)
        return self._judge

    def tasks(self, split: str) -> list[BaseTask]:
        out = []
        for t in self.bench.tasks(self.splits[split]):
            self._tasks[t.id] = t
            out.append(BaseTask(t.id, self.prompter.messages(t)[0]["content"], {"task_id": t.id}))
        return out

    def _feedback(self, task, verdict, run) -> str:
        if verdict.status == "passed":
            return f"passed: all {len(task.tests)} tests pass"
        if not verdict.tests:
            return f"{verdict.status}: {verdict.detail}".strip()
        n_ok = sum(r.passed for r in verdict.tests)
        first = next(r for r in verdict.tests if not r.passed)
        case = task.tests[first.index]
        args = ", ".join(f"{k}={_short(from_tagged(v))}" for k, v in case.input.items())
        head = f"{verdict.status}: {n_ok}/{len(task.tests)} tests pass. First failing input: {args}."
        out = run.outcomes[first.index]
        if not out.ok:
            return f"{head} Error: {out.error[:SHOW]}"
        return f"{head} Expected {_short(from_tagged(case.output))}, got {_short(from_tagged(out.value))}."

    def score_many(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        return self._judged(items, held_out=False)

    def score_held_out(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        """The score on the scored tests, the feedback from the shown ones (`split_tests`)."""
        return self._judged(items, held_out=True)

    def _judged(self, items: list[tuple[Instance, str]], *, held_out: bool) -> list[tuple[float, str]]:
        judge = self.judge
        pending = []
        for idx, (inst, response) in enumerate(items):
            task = self._tasks[inst.task.data["task_id"]]
            code, early = judge.precheck(task, response or "", idx)
            if early is not None:
                pending.append((early, task, task, {}))
                continue
            # held out: the shown tests run on their own, so nothing the feedback says depends on the others
            shown, scored = ([_subset(task, ix) for ix in split_tests(len(task.tests))] if held_out
                             else (task, task))
            runs = {id(t): judge.pool.submit(RunRequest(code, t.entry_point, [c.input for c in t.tests]))
                    for t in (shown, scored) if t.tests}
            pending.append((None, shown, scored, runs))
        results = []
        for idx, (early, shown, scored, runs) in enumerate(pending):
            if early is not None:
                results.append((0.0, f"{early.status}: {early.detail}"))
                continue
            value, feedback = 0.0, "sandbox_error: the task has no tests"
            if scored.tests:
                run = runs[id(scored)].result()
                verdict = judge_score(scored, idx, run, {"run": run.wall_s})
                passed = sum(r.passed for r in verdict.tests)
                value = float(verdict.passed) if self.verifiable else passed / len(scored.tests)
                feedback = "no visible tests: this task's only test is held out, and its result is not shown"
            if shown.tests:
                run = runs[id(shown)].result()
                feedback = self._feedback(shown, judge_score(shown, idx, run, {"run": run.wall_s}), run)
            results.append((value, feedback))
        return results

    def close(self) -> None:
        if self._judge is not None:
            self._judge.close()


def _subset(task, indices: list[int]):
    return task.model_copy(update={"tests": [task.tests[i] for i in indices]})
