"""SE-Bench: the bench's tasks, closed or open book, with execution feedback from the judge.

Feedback is the judge's status, and for a wrong answer the first failing input with its expected and
actual output, or the error. The score is the fraction of tests passed (continuous, the default) or the
pass itself (``verifiable=True``). The judge's own pieces are used (precheck, the sandbox run, `score`),
so a response is judged exactly as an evaluation judges it; the run's outcomes give the actual output.
"""

from __future__ import annotations

from selfevolve.exit.domain import BaseTask, Instance
from selfevolve.judge.core import Judge
from selfevolve.judge.core import score as judge_score
from selfevolve.sandbox import RunRequest
from selfevolve.sandbox.protocol import from_tagged

SPLITS = {"train": "train", "test": "test_single"}
SHOW = 300  # characters of any value shown in feedback


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= SHOW else text[:SHOW] + "..."


class SEBenchDomain:
    name = "sebench"

    def __init__(self, bench, *, mode: str = "closed", verifiable: bool = False, workers: int | None = None,
                 judge: Judge | None = None, doc_style: str = "full", test_split: str = "test_single"):
        """``doc_style``: the open-book docs in full or as summaries (what the micro model reads);
        ``test_split``: the bench split behind the domain's held-out "test" tasks."""
        from selfevolve.evaluate.prompts import Prompter

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
        judge = self.judge
        pending = []
        for idx, (inst, response) in enumerate(items):
            task = self._tasks[inst.task.data["task_id"]]
            code, early = judge.precheck(task, response or "", idx)
            fut = None if early is not None else judge.pool.submit(
                RunRequest(code, task.entry_point, [c.input for c in task.tests]))
            pending.append((task, early, fut))
        results = []
        for idx, (task, early, fut) in enumerate(pending):
            if early is not None:
                results.append((0.0, f"{early.status}: {early.detail}"))
                continue
            run = fut.result()
            verdict = judge_score(task, idx, run, {"run": run.wall_s})
            frac = sum(r.passed for r in verdict.tests) / len(task.tests) if task.tests else 0.0
            value = (1.0 if verdict.passed else 0.0) if self.verifiable else frac
            results.append((value, self._feedback(task, verdict, run)))
        return results

    def close(self) -> None:
        if self._judge is not None:
            self._judge.close()
