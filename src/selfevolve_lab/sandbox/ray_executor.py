"""Sandbox pools on other machines: the SandboxPool API over Ray actors (the ``ray`` extra, imported lazily).

Each actor hosts a SandboxPool on its node; runs are spread across actors, least-busy first, so one
evaluation can use the sandboxes of a whole cluster. Results come back as the same RunResult objects.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from selfevolve_lab.errors import missing_extra
from selfevolve_lab.sandbox.pool import Limits, RunRequest, RunResult, SandboxPool, bench_pool_kwargs


def _ray():
    try:
        import ray
    except ImportError:
        raise missing_extra("ray", "the Ray executor") from None
    return ray


class _PoolActor:
    """Runs on a Ray node: one SandboxPool, kept warm for the actor's life."""

    def __init__(self, pool_kwargs: dict):
        self.pool = SandboxPool(**pool_kwargs)

    def run(self, req: RunRequest) -> RunResult:
        return self.pool.run(req)

    def isolation(self) -> str:
        return self.pool.isolation

    def close(self) -> None:
        self.pool.close()


class RayPool:
    """Same API as SandboxPool (run, submit, map, close, context manager), over ``actors`` Ray actors.

    The package directory must be readable at the same path on every node (a shared filesystem, or the
    bench copied there).
    """

    def __init__(self, package_dir: str | Path | None = None, *, actors: int = 2, workers_per_actor: int = 1,
                 limits: Limits | None = None, num_cpus: float = 1, **pool_kwargs: Any):
        ray = _ray()
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True)
        remote = ray.remote(num_cpus=num_cpus)(_PoolActor)
        kwargs = dict(pool_kwargs, package_dir=package_dir, workers=workers_per_actor, limits=limits)
        self._actors = [remote.remote(kwargs) for _ in range(actors)]
        self._load = [0] * actors
        self._lock = threading.Lock()
        self.isolation = ray.get(self._actors[0].isolation.remote())

    @classmethod
    def for_bench(cls, bench: Any, **kw: Any) -> RayPool:
        return cls(**bench_pool_kwargs(bench, kw))

    def submit(self, req: RunRequest) -> cf.Future[RunResult]:
        with self._lock:
            i = min(range(len(self._actors)), key=self._load.__getitem__)
            self._load[i] += 1
        ref = self._actors[i].run.remote(req)
        fut: cf.Future[RunResult] = ref.future()

        def done(_: cf.Future) -> None:
            with self._lock:
                self._load[i] -= 1

        fut.add_done_callback(done)
        return fut

    def run(self, req: RunRequest) -> RunResult:
        return self.submit(req).result()

    def map(self, reqs: Iterable[RunRequest], *, progress: bool = False) -> list[RunResult]:
        return [f.result() for f in [self.submit(r) for r in reqs]]

    def close(self) -> None:
        ray = _ray()
        for a in self._actors:
            try:
                ray.get(a.close.remote())
                ray.kill(a)
            except Exception:  # an actor that already died has nothing to close
                pass
        self._actors = []

    def __enter__(self) -> RayPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
