"""The judge: (task, completion text) -> Verdict. Evaluation and RL reward both call this, nothing else.

Order: extract the code -> static usage check (AST, a fast first filter) -> run every test in the sandbox,
closed book (`selfevolve_lab.sandbox.guard`: what the code may import and reach, enforced at run time) ->
compare each result -> if every test passed, the behavioural **usage rule** (`selfevolve_lab.judge.usage`)
on a probe run of the code: one more sandbox run per passing sample.

``target="library"`` judges the other way round (the micro-world's ``--library-original``): the solution
must use the original library and must not use the package. The statuses keep their shape, with the
roles swapped: ``not_using_package`` means it does not use the *library*, ``uses_original_library``
means it uses the *package* (or reaches interpreter internals). There is no probe then.

`score` (run result -> verdict) is a pure function, testable without a sandbox, as is the rule.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import hashlib
import json
import queue
import secrets
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from selfevolve_lab import profiles
from selfevolve_lab.bench import Bench
from selfevolve_lab.judge.compare import equal
from selfevolve_lab.judge.extract import extract
from selfevolve_lab.judge.usage import (
    REFERENCE_UNRUN,
    PerturbTargets,
    apply_usage_rule,
    check_usage,
    probe_point,
)
from selfevolve_lab.sandbox import Limits, RunRequest, RunResult, SandboxPool
from selfevolve_lab.sandbox.pool import PERTURBATION_VERSION, TestOutcome
from selfevolve_lab.schema import Task, TestResult, Verdict

Target = Literal["package", "library"]
PROBE_CACHE = 65536  # probe outcomes a judge keeps, by (task, code, input)
REDRAWS = 4  # perturbation draws a judge tries on a task until its reference gives an answer on the probe

def _novel_attrs(mapping: dict[str, str], originals: Iterable[str]) -> frozenset[str]:
    return frozenset(mapping.get(o, o).rsplit(".", 1)[-1] for o in originals)


def _clean(text: str, limit: int) -> str:
    """Verdict text: bounded and always serializable (a lone surrogate from an exception message becomes '?')."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8")


def score(task: Task, sample_idx: int, run: RunResult, timings: dict[str, float]) -> Verdict:
    """A sandbox run of ``task``'s tests -> the verdict. Pure."""
    base = dict(task_id=task.id, sample_idx=sample_idx, timings=timings)
    if run.status != "ok":
        return Verdict(passed=False, status=run.status, detail=_clean(run.detail, 500), **base)
    results: list[TestResult] = []
    for i, (case, out) in enumerate(zip(task.tests, run.outcomes, strict=True)):
        if not out.ok:
            results.append(TestResult(index=i, passed=False, status="runtime_error", detail=_clean(out.error, 300)))
            continue
        ok, why = equal(case.output, out.value, task.compare)
        results.append(TestResult(index=i, passed=ok, status="passed" if ok else "wrong_answer",
                                  detail=_clean(why, 300)))
    if not results:
        return Verdict(passed=False, status="sandbox_error", detail="the task has no tests", **base)
    failed = [r for r in results if not r.passed]
    status = "passed" if not failed else ("runtime_error" if any(r.status == "runtime_error" for r in failed)
                                          else "wrong_answer")
    detail = "" if not failed else f"{len(failed)}/{len(results)} tests failed; first: {failed[0].detail}"
    return Verdict(passed=not failed, status=status, tests=results, detail=_clean(detail, 500), **base)


class Judge:
    """Scores completions of a bench's tasks. A context manager owning a sandbox pool.

    ``target``: "package" (the default: the solution must use the novel package, by the usage rule) or
    "library" (it must use the original library and not the package; see the module docstring).
    ``usage_rule``: apply the behavioural usage rule (package target only; off only to measure its cost).
    ``probe_seed``: the seed of the rule's perturbation (default: a secret one drawn per judge).
    ``stall_s``: how long `judge_many`/`reward` wait with no verdict arriving (default: from the limits).
    """

    def __init__(self, bench: Any, *, workers: int | None = None, limits: Limits | None = None,
                 isolation: str = "auto", pool: SandboxPool | None = None, target: Target = "package",
                 usage_rule: bool = True, stall_s: float | None = None, probe_seed: int | None = None):
        if target not in ("package", "library"):
            raise ValueError(f"unknown target {target!r}: choose 'package' or 'library'")
        if isinstance(bench, (str, Path)):
            bench = Bench.open(bench)
        self.bench = bench
        self.target = target
        self.usage_rule = usage_rule and target == "package"
        self.probe_seed = secrets.randbits(62) if probe_seed is None else int(probe_seed)
        self._stall_s = stall_s
        self.package, self.library = bench.package, bench.library
        self._own_pool = pool is None
        self.pool = pool or SandboxPool.for_bench(bench, workers=workers, limits=limits, isolation_level=isolation)
        mapping, profile = bench.mapping, profiles.get(self.library)
        if target == "package":
            self.trivial = _novel_attrs(mapping, profile.trivial)
            self.to_plain = _novel_attrs(mapping, profile.to_plain)
        else:
            self.trivial = frozenset(o.rsplit(".", 1)[-1] for o in profile.trivial)
            self.to_plain = frozenset(o.rsplit(".", 1)[-1] for o in profile.to_plain)
        self._original = {v: k for k, v in mapping.items()}
        self._perturb = PerturbTargets(profile, mapping)
        self._probes: dict[tuple[str, str, str], cf.Future[TestOutcome | None]] = {}
        self._probe_runs: dict[tuple[str, str, str, int], cf.Future[TestOutcome | None]] = {}
        self._probe_seeds: dict[tuple[str, str, str], int] = {}  # the draw under which each reference answered

    @property
    def isolation(self) -> str:
        return self.pool.isolation

    @property
    def stall_s(self) -> float:
        """How long judge_many and reward wait without any verdict arriving before they give up on the rest:
        the sample's test run and then its probe run, each retried once on a fresh worker, with the pool's margin."""
        if self._stall_s is not None:
            return self._stall_s
        lim = getattr(self.pool, "limits", None) or Limits()
        return 4 * (lim.wall_s + 15.0) + 30.0

    # -------------------------------------------------------------- the usage rule's runs

    def perturb_targets(self, task: Task) -> list[str]:
        """The dotted novel names a probe run perturbs for ``task`` (`PerturbTargets`)."""
        return self._perturb(task.apis)

    def probe_run(self, code: str, task: Task, inp: dict[str, Any], seed: int | None = None
                  ) -> cf.Future[TestOutcome | None]:
        """``code``'s answer on ``inp`` in a fresh child with ``task``'s APIs perturbed under this judge's
        seed: its one outcome (a run that failed gives one that is not ok), None when the sandbox failed.
        One run per distinct (task, code, input) per judge: an RL group repeats its answers, and a sample
        that is the reference shares the reference's run (the last `PROBE_CACHE` are kept)."""
        seed = self.probe_seed if seed is None else seed
        key = (task.id, hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest(),
               json.dumps(inp, sort_keys=True), seed)
        cached = self._probe_runs.get(key)
        if cached is not None:
            return cached
        fut: cf.Future[TestOutcome | None] = cf.Future()
        self._probe_runs[key] = fut
        while len(self._probe_runs) > PROBE_CACHE:
            self._probe_runs.pop(next(iter(self._probe_runs)), None)
        req = RunRequest(code, task.entry_point, [inp], perturb=self.perturb_targets(task), seed=seed)

        def done(f: cf.Future[RunResult]) -> None:
            try:
                r = f.result()
            except BaseException:  # noqa: BLE001  the pool failed: no outcome, and none kept
                self._probe_runs.pop(key, None)
                fut.set_result(None)
                return
            if r.status == "sandbox_error":
                self._probe_runs.pop(key, None)
            if r.status == "ok" and len(r.outcomes) == 1:
                fut.set_result(r.outcomes[0])
            else:
                fut.set_result(None if r.status == "sandbox_error" else
                               TestOutcome(False, error=_clean(f"{r.status}: {r.detail}", 500)))

        self.pool.submit(req).add_done_callback(done)
        return fut

    def usage_probe(self, task: Task, inp: dict[str, Any] | None = None) -> cf.Future[TestOutcome | None]:
        """The reference's answer on ``inp`` (default: `probe_point`'s input) with the task's APIs perturbed
        under this judge's seed: one run of the reference per task and input, cached; a failed outcome when
        the reference gives no answer so (a solution must then give none either). None when the task has
        nothing to perturb (then the rule cannot tell)."""
        inp = probe_point(task)[0] if inp is None else inp
        key = (task.id, task.reference, json.dumps(inp, sort_keys=True))
        fut = self._probes.get(key)
        if fut is not None:
            return fut
        fut = self._probes[key] = cf.Future()
        if not self.perturb_targets(task):
            fut.set_result(None)
            return fut

        def attempt(k: int) -> None:
            seed = self.probe_seed + k  # derived from the secret seed: as secret
            try:
                self.probe_run(task.reference, task, inp, seed).add_done_callback(lambda f: done(f, k, seed))
            except Exception:  # noqa: BLE001
                fut.set_result(TestOutcome(False, error=REFERENCE_UNRUN))

        def done(f: cf.Future[TestOutcome | None], k: int, seed: int) -> None:
            try:
                r = f.result()
            except Exception:  # noqa: BLE001
                r = None
            if r is None:
                fut.set_result(TestOutcome(False, error=REFERENCE_UNRUN))
            elif r.ok or k + 1 >= REDRAWS:
                self._probe_seeds[key] = seed
                fut.set_result(r)
            else:  # the reference gives no answer under this draw: a probe that tells nothing; draw again
                attempt(k + 1)

        attempt(0)
        return fut

    def probe_seed_for(self, task: Task, inp: dict[str, Any] | None = None) -> int:
        """The perturbation draw `usage_probe` settled on for ``task`` (its result must be there)."""
        inp = probe_point(task)[0] if inp is None else inp
        return self._probe_seeds.get((task.id, task.reference, json.dumps(inp, sort_keys=True)), self.probe_seed)

    def usage_rule_applies(self, task: Task, candidates: list[tuple[dict[str, Any], Any]] | None = None,
                           timeout: float | None = None) -> tuple[bool, dict[str, Any] | None]:
        """Whether the rule can tell for ``task``: on some candidate (input, the reference's answer on it;
        default: the task's tests) the reference's answer moves with its APIs under this judge's seed. Also
        the record the generator keeps in ``provenance["usage_probe"]``: that input and that answer."""
        if candidates is None:
            candidates = [(c.input, c.output) for c in task.tests]
        for inp, plain in candidates:
            expected = self.usage_probe(task, inp).result(timeout=timeout or self.stall_s)
            if expected is not None and expected.ok and not equal(plain, expected.value, task.compare)[0]:
                return True, {"version": PERTURBATION_VERSION, "input": inp, "output": plain}
        return False, None

    # -------------------------------------------------------------- judging

    def precheck(self, task: Task, completion: str, sample_idx: int = 0) -> tuple[str | None, Verdict | None]:
        """Extraction and the static usage check: the code to run, or the verdict that needs no run.
        Never raises: whatever a completion does to the checks becomes a verdict."""
        t0 = time.perf_counter()

        def verdict(status: str, detail: str) -> Verdict:
            return Verdict(task_id=task.id, sample_idx=sample_idx, passed=False, status=status,
                           detail=_clean(detail, 500), timings={"total": time.perf_counter() - t0})

        try:
            code, why = extract(completion, task.entry_point)
        except (RecursionError, MemoryError) as e:
            return None, verdict("no_code", f"the completion could not be read ({type(e).__name__})")
        except Exception as e:  # noqa: BLE001  a defect of the judge: one verdict, not a lost batch
            return None, verdict("sandbox_error", f"extraction failed: {type(e).__name__}: {e}")
        if code is None:
            return None, verdict("no_code", why)
        try:
            if self.target == "package":
                own = {a.rsplit(".", 1)[-1] for a in task.apis}  # a task about a converter may just call it
                usage = check_usage(code, package=self.package, library=self.library, entry_point=task.entry_point,
                                    trivial_apis=self.trivial - own, to_plain_methods=self.to_plain - own)
            else:
                own = {self._original.get(a, a).rsplit(".", 1)[-1] for a in task.apis}
                usage = check_usage(code, package=self.library, library=self.package, entry_point=task.entry_point,
                                    trivial_apis=self.trivial - own, to_plain_methods=self.to_plain - own)
        except Exception as e:  # noqa: BLE001
            return None, verdict("sandbox_error", f"the usage check failed: {type(e).__name__}: {e}")
        if not usage.ok:
            return None, verdict(usage.status or "not_using_package", usage.detail)
        return code, None

    def submit(self, task: Task, completion: str, sample_idx: int = 0) -> cf.Future[Verdict]:
        t0 = time.perf_counter()
        out: cf.Future[Verdict] = cf.Future()

        def give(v: Verdict) -> None:
            with contextlib.suppress(cf.InvalidStateError):  # cancelled: the caller gave up on it (Ctrl-C)
                out.set_result(v)

        def failed(e: BaseException) -> Verdict:  # never lose a sample: report it
            return Verdict(task_id=task.id, sample_idx=sample_idx, passed=False, status="sandbox_error",
                           detail=_clean(f"{type(e).__name__}: {e}", 500))

        code, early = self.precheck(task, completion, sample_idx)
        if early is not None:
            give(early)
            return out
        try:
            targets = self.perturb_targets(task) if self.usage_rule and task.tests else []
            expected = self.usage_probe(task) if targets else None  # cached; runs alongside the tests
        except Exception as e:  # noqa: BLE001
            give(failed(e))
            return out
        t1 = time.perf_counter()
        try:
            run = self.pool.submit(RunRequest(code, task.entry_point, [c.input for c in task.tests],
                                              closed_book=self.target == "package"))
        except Exception as e:  # noqa: BLE001  a closed pool
            give(failed(e))
            return out

        def done(f: cf.Future[RunResult]) -> None:
            if out.cancelled():
                return
            try:
                r = f.result()
                timings = {"check": t1 - t0, "run": r.wall_s, "total": time.perf_counter() - t0}
                verdict = score(task, sample_idx, r, timings)
                if expected is None or not verdict.passed:
                    give(verdict)
                    return
                t2 = time.perf_counter()

                def probe(e: cf.Future[TestOutcome | None]) -> None:  # under the draw the reference answered in
                    try:
                        self.probe_run(code, task, probe_point(task)[0], self.probe_seed_for(task)).add_done_callback(
                            lambda p: last(verdict, p, e, t2))
                    except BaseException as exc:  # noqa: BLE001
                        give(failed(exc))

                expected.add_done_callback(probe)
            except BaseException as e:  # noqa: BLE001
                give(failed(e))

        def last(verdict: Verdict, p: cf.Future[TestOutcome | None], e: cf.Future[TestOutcome | None],
                 t2: float) -> None:
            try:
                got = p.result()
                if got is None:
                    give(verdict.model_copy(update={"passed": False, "status": "sandbox_error",
                                                    "detail": "the usage rule's probe run failed in the sandbox"}))
                    return
                timings = {**verdict.timings, "probe": time.perf_counter() - t2, "total": time.perf_counter() - t0}
                give(apply_usage_rule(verdict.model_copy(update={"timings": timings}), task, got, e.result()))
            except BaseException as e:  # noqa: BLE001
                give(failed(e))

        run.add_done_callback(done)
        return out

    def judge(self, task: Task, completion: str, sample_idx: int = 0) -> Verdict:
        return next(self._gather([(task, completion, sample_idx)]))[1]

    def judge_many(self, items: Iterable[tuple[Task, str, int]], progress: bool = False) -> Iterator[Verdict]:
        """Verdicts (with their task_id and sample_idx) in the order they finish, all running concurrently.
        ``progress``: show a progress bar (on a TTY only). Ends within `stall_s` of the last verdict that
        arrived: samples still without one then get ``sandbox_error``."""
        from tqdm import tqdm

        items = list(items)
        with tqdm(total=len(items), desc="judging", unit="sample", disable=not progress or None) as bar:
            for _, v in self._gather(items):
                bar.update()
                yield v

    def reward(self, completions: list[str] | list[list[dict]], tasks: list[Task]) -> list[float]:
        """TRL-style reward function body: the same verdicts evaluation reports, as 0/1 floats.
        A completion is text, or TRL's conversational form (a list of messages: the last one's content).
        Returns within `stall_s` of the last verdict that arrived (a sample without one scores 0)."""
        texts = [c if isinstance(c, str) else str((c[-1] if c else {}).get("content", "")) for c in completions]
        items = [(t, c, i) for i, (t, c) in enumerate(zip(tasks, texts, strict=True))]
        rewards = [0.0] * len(items)
        for i, v in self._gather(items):
            rewards[i] = v.reward
        return rewards

    def _gather(self, items: list[tuple[Task, str, int]]) -> Iterator[tuple[int, Verdict]]:
        """(position, verdict) as verdicts finish. If none arrives for `stall_s`, the rest are cancelled and
        reported as ``sandbox_error``: a hang anywhere below costs one deadline, never the batch."""
        arrived: queue.Queue[int] = queue.Queue()
        futs = []
        for i, (t, c, k) in enumerate(items):
            f = self.submit(t, c, k)
            f.add_done_callback(lambda _, i=i: arrived.put(i))
            futs.append(f)
        pending = set(range(len(futs)))
        while pending:
            try:
                i = arrived.get(timeout=self.stall_s)
            except queue.Empty:
                for i in sorted(pending):
                    futs[i].cancel()
                    t, _, k = items[i]
                    yield i, Verdict(task_id=t.id, sample_idx=k, passed=False, status="sandbox_error",
                                     detail=f"no verdict within {self.stall_s:g}s of the last one")
                return
            if i in pending:
                pending.discard(i)
                f = futs[i]
                if f.cancelled():
                    t, _, k = items[i]
                    yield i, Verdict(task_id=t.id, sample_idx=k, passed=False, status="sandbox_error",
                                     detail="cancelled")
                else:
                    yield i, f.result()

    def close(self) -> None:
        if self._own_pool:
            self.pool.close()

    def __enter__(self) -> Judge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
