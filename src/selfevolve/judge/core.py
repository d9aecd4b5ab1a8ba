"""The judge: (task, completion text) -> Verdict. Evaluation and RL reward both call this, nothing else.

Order: extract the code -> usage check (AST) -> run every test in the sandbox -> compare each result.
`score` (run result -> verdict) is a pure function, so the rules are testable without a sandbox.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import time
from collections.abc import Iterable, Iterator
from typing import Any

from selfevolve.judge.compare import equal
from selfevolve.judge.extract import extract_code
from selfevolve.judge.usage import check_usage
from selfevolve.sandbox import Limits, RunRequest, RunResult, SandboxPool
from selfevolve.schema import Task, TestResult, Verdict

# Per library: package calls that only build or convert data (they don't count as using the package),
# and the methods that turn a package object back into Python data.
TRIVIAL = {
    "numpy": ("numpy.array", "numpy.asarray", "numpy.asanyarray", "numpy.ascontiguousarray", "numpy.asfortranarray",
              "numpy.copy", "numpy.ndarray.copy", "numpy.ndarray.astype", "numpy.ndarray.view",
              "numpy.ndarray.tolist", "numpy.ndarray.item", "numpy.generic.item", "numpy.generic.tolist"),
}
TO_PLAIN = {"numpy": ("numpy.ndarray.tolist", "numpy.ndarray.item", "numpy.generic.item", "numpy.generic.tolist")}


def _novel_attrs(mapping: dict[str, str], originals: Iterable[str]) -> frozenset[str]:
    return frozenset(mapping.get(o, o).rsplit(".", 1)[-1] for o in originals)


def score(task: Task, sample_idx: int, run: RunResult, timings: dict[str, float]) -> Verdict:
    """A sandbox run of ``task``'s tests -> the verdict. Pure."""
    base = dict(task_id=task.id, sample_idx=sample_idx, timings=timings)
    if run.status != "ok":
        return Verdict(passed=False, status=run.status, detail=run.detail[:500], **base)
    results: list[TestResult] = []
    for i, (case, out) in enumerate(zip(task.tests, run.outcomes, strict=True)):
        if not out.ok:
            results.append(TestResult(index=i, passed=False, status="runtime_error", detail=out.error[:300]))
            continue
        ok, why = equal(case.output, out.value, task.compare)
        results.append(TestResult(index=i, passed=ok, status="passed" if ok else "wrong_answer", detail=why[:300]))
    if not results:
        return Verdict(passed=False, status="sandbox_error", detail="the task has no tests", **base)
    failed = [r for r in results if not r.passed]
    status = "passed" if not failed else ("runtime_error" if any(r.status == "runtime_error" for r in failed)
                                          else "wrong_answer")
    detail = "" if not failed else f"{len(failed)}/{len(results)} tests failed; first: {failed[0].detail}"
    return Verdict(passed=not failed, status=status, tests=results, detail=detail[:500], **base)


class Judge:
    """Scores completions of a bench's tasks. A context manager owning a sandbox pool."""

    def __init__(self, bench: Any, *, workers: int | None = None, limits: Limits | None = None,
                 isolation: str = "auto", pool: SandboxPool | None = None):
        self.bench = bench
        self.package, self.library = bench.package, bench.library
        self._own_pool = pool is None
        self.pool = pool or SandboxPool.for_bench(bench, workers=workers, limits=limits, isolation_level=isolation)
        mapping = bench.mapping
        self.trivial = _novel_attrs(mapping, TRIVIAL.get(self.library, ()))
        self.to_plain = _novel_attrs(mapping, TO_PLAIN.get(self.library, ()))

    @property
    def isolation(self) -> str:
        return self.pool.isolation

    def precheck(self, task: Task, completion: str, sample_idx: int = 0) -> tuple[str | None, Verdict | None]:
        """Extraction and the usage check: the code to run, or the verdict that needs no run."""
        t0 = time.perf_counter()
        code = extract_code(completion, task.entry_point)
        if code is None:
            return None, Verdict(task_id=task.id, sample_idx=sample_idx, passed=False, status="no_code",
                                 detail="no Python code found in the completion",
                                 timings={"total": time.perf_counter() - t0})
        own = {a.rsplit(".", 1)[-1] for a in task.apis}  # a task about a converter may just call it
        usage = check_usage(code, package=self.package, library=self.library, entry_point=task.entry_point,
                            trivial_apis=self.trivial - own, to_plain_methods=self.to_plain - own)
        if not usage.ok:
            return None, Verdict(task_id=task.id, sample_idx=sample_idx, passed=False, status=usage.status,
                                 detail=usage.detail, timings={"total": time.perf_counter() - t0})
        return code, None

    def submit(self, task: Task, completion: str, sample_idx: int = 0) -> cf.Future[Verdict]:
        t0 = time.perf_counter()
        code, early = self.precheck(task, completion, sample_idx)
        out: cf.Future[Verdict] = cf.Future()
        if early is not None:
            out.set_result(early)
            return out
        t1 = time.perf_counter()
        run = self.pool.submit(RunRequest(code, task.entry_point, [c.input for c in task.tests]))

        def done(f: cf.Future[RunResult]) -> None:
            if out.cancelled():  # the caller gave up on this sample (Ctrl-C): nobody reads it
                return
            try:
                r = f.result()
                timings = {"check": t1 - t0, "run": r.wall_s, "total": time.perf_counter() - t0}
                verdict = score(task, sample_idx, r, timings)
            except BaseException as e:  # never lose a sample: report it
                verdict = Verdict(task_id=task.id, sample_idx=sample_idx, passed=False, status="sandbox_error",
                                  detail=f"{type(e).__name__}: {e}"[:500])
            with contextlib.suppress(cf.InvalidStateError):  # cancelled since the check above
                out.set_result(verdict)

        run.add_done_callback(done)
        return out

    def judge(self, task: Task, completion: str, sample_idx: int = 0) -> Verdict:
        return self.submit(task, completion, sample_idx).result()

    def judge_many(self, items: Iterable[tuple[Task, str, int]], progress: bool = False) -> Iterator[Verdict]:
        """Verdicts (with their task_id and sample_idx) in the order they finish, all running concurrently.
        ``progress``: show a progress bar (on a TTY only)."""
        from tqdm import tqdm

        futs = [self.submit(t, c, i) for t, c, i in items]
        with tqdm(total=len(futs), desc="judging", unit="sample", disable=not progress or None) as bar:
            for f in cf.as_completed(futs):
                bar.update()
                yield f.result()

    def reward(self, completions: list[str] | list[list[dict]], tasks: list[Task]) -> list[float]:
        """TRL-style reward function body: the same verdicts evaluation reports, as 0/1 floats.
        A completion is text, or TRL's conversational form (a list of messages: the last one's content)."""
        texts = [c if isinstance(c, str) else str((c[-1] if c else {}).get("content", "")) for c in completions]
        futs = [self.submit(t, c, i) for i, (t, c) in enumerate(zip(tasks, texts, strict=True))]
        return [f.result().reward for f in futs]

    def close(self) -> None:
        if self._own_pool:
            self.pool.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
