"""A pool of warm, jailed workers that run untrusted code and return plain data.

One dispatcher thread per worker pulls runs from a shared queue, sends each to its worker (under a
backlog one more waits in the worker's pipe, so the worker never idles on the parent) and waits for each
reply with a deadline. A worker that dies, hangs or sends garbage, or reports that the sandbox itself
failed on a run (not the code), is killed and replaced; its run is retried once on the fresh worker, then
reported as ``sandbox_error``: the queue is never lost.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import os
import queue
import select
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from selfevolve_lab import profiles
from selfevolve_lab.sandbox import isolation, protocol
from selfevolve_lab.sandbox.guard import rewrite_source

RunStatus = Literal["ok", "runtime_error", "timeout", "memory", "sandbox_error"]
_SIGNALS = {4: "SIGILL", 6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 11: "SIGSEGV", 24: "SIGXCPU",
            25: "SIGXFSZ"}


@dataclass(frozen=True)
class Limits:
    """Per-run resource limits. Memory is address space, so it includes the imported library."""

    cpu_s: float = 5.0
    wall_s: float = 10.0
    memory_mb: int = 1536
    fsize_mb: int = 16
    nofile: int = 64
    nproc: int = 64
    stdout_bytes: int = 64 << 10
    result_bytes: int = 8 << 20


@dataclass
class RunRequest:
    code: str
    entry_point: str
    inputs: list[dict[str, Any]]  # tagged-JSON keyword arguments, one dict per test
    limits: Limits | None = None
    # A probe run of the usage rule (see `selfevolve_lab.judge.usage`): these package functions and class
    # members (dotted novel names) are perturbed for the whole run, with constants drawn from ``seed``
    # (`sandbox.perturb.Perturbation`).
    perturb: list[str] | None = None
    seed: int | None = None
    # Closed book at run time (`selfevolve_lab.sandbox.guard`), in a pool serving a package. Off only for tests
    # of the jail itself, which must hold for code that got past the guard.
    closed_book: bool = True


# The perturbation's version, kept in a task file's usage probe: whether its probe input makes the reference
# react was checked under this one. Bump it whenever `perturb.Perturbation` changes what a perturbed call returns.
PERTURBATION_VERSION = 2


@dataclass
class TestOutcome:
    __test__ = False

    ok: bool
    value: Any = None  # tagged JSON, validated
    error: str = ""


@dataclass
class RunResult:
    status: RunStatus
    outcomes: list[TestOutcome] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    detail: str = ""
    wall_s: float = 0.0
    isolation: str = ""


# What a run may say of itself on its result pipe. `timeout` and `sandbox_error` are the parent's to decide
# (from the clock, the signals and the setup pipe the code never holds); `memory` is the code's own
# MemoryError, a failure it can only claim against itself.
CHILD_STATUSES = ("ok", "runtime_error", "memory")


def interpret(reply: dict, n_inputs: int, lim: Limits, level: str) -> RunResult:
    """Turn the worker's report of one child into a RunResult. Pure; nothing here trusts the child, and
    nothing it sends raises: whatever it is becomes a RunResult."""
    try:
        return _interpret(reply, n_inputs, lim, level)
    except Exception as e:  # noqa: BLE001  (RecursionError, MemoryError, a shape nobody foresaw)
        return RunResult("runtime_error", detail=f"malformed result ({type(e).__name__})", isolation=level)


def _interpret(reply: dict, n_inputs: int, lim: Limits, level: str) -> RunResult:
    if not isinstance(reply, dict):
        return RunResult("sandbox_error", detail="the sandbox worker sent a malformed reply", isolation=level)
    if "worker_error" in reply:
        return RunResult("sandbox_error", detail=f"the sandbox worker failed: {str(reply['worker_error'])[:300]}",
                         isolation=level)
    base = dict(stdout=str(reply.get("stdout", ""))[: lim.stdout_bytes + 64],
                stderr=str(reply.get("stderr", ""))[: lim.stdout_bytes + 64],
                wall_s=float(reply.get("wall_s", 0.0)), isolation=level)
    sig = reply.get("signal")
    setup = str(reply.get("setup", "R"))
    if reply.get("timed_out"):
        return RunResult("timeout", detail=f"wall-clock limit of {lim.wall_s:g}s exceeded", **base)
    if reply.get("too_big"):
        return RunResult("runtime_error", detail=f"result larger than {lim.result_bytes} bytes", **base)
    if sig == 24 or (sig == 9 and float(reply.get("cpu_s", 0)) >= lim.cpu_s):
        return RunResult("timeout", detail=f"CPU limit of {lim.cpu_s:g}s exceeded", **base)
    if sig == 9:
        return RunResult("memory", detail="killed (out of memory)", **base)
    if sig == 25:
        return RunResult("runtime_error", detail=f"file size limit of {lim.fsize_mb} MB exceeded", **base)
    if setup != "R":  # the child failed before the code ran (it could not have written this pipe after)
        why = setup[1:] if setup.startswith("E") else f"exited (code {reply.get('exit_code')}) during setup"
        return RunResult("sandbox_error", detail=f"the run's setup failed: {why}"[:500], **base)
    if sig is not None:
        return RunResult("runtime_error", detail=f"crashed ({_SIGNALS.get(sig, f'signal {sig}')})", **base)
    text = reply.get("result") or ""
    if not text:
        return RunResult("runtime_error", detail=f"exited (code {reply.get('exit_code')}) without a result", **base)
    try:
        data = json.loads(text)
        status = data["status"]
        outcomes = [TestOutcome(bool(o["ok"]), o.get("value"), str(o.get("error", ""))[:500])
                    for o in data["outcomes"]]
        for o in outcomes:
            if o.ok:
                protocol.validate(o.value)
        detail = str(data.get("detail", ""))[:500]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, protocol.ProtocolError) as e:
        return RunResult("runtime_error", detail=f"malformed result: {str(e)[:200]}", **base)
    if status not in CHILD_STATUSES:
        return RunResult("runtime_error", detail="the run reported a status only the sandbox decides", **base)
    if len(outcomes) > n_inputs:
        return RunResult("runtime_error", detail="malformed result", **base)
    if status == "ok" and len(outcomes) != n_inputs:
        return RunResult("runtime_error", detail="result is missing test outcomes", **base)
    return RunResult(status, outcomes, detail=detail, **base)


def bench_pool_kwargs(bench: Any, kw: dict[str, Any]) -> dict[str, Any]:
    """Pool arguments for a Bench (package dir, preloads, array types), ``kw`` taking precedence."""
    profile = profiles.get(bench.library)  # results are encoded from its value classes
    return {"package_dir": bench.package_dir, "package": bench.package, "preload": [bench.library, bench.package],
            "array_type": profile.array_class, "scalar_type": profile.scalar_class, **kw}


def _frame(obj: dict) -> bytes:
    data = json.dumps(obj, separators=(",", ":")).encode()
    return struct.pack(">I", len(data)) + data


# A run waiting in a worker's pipe while the worker runs another must fit the pipe (64 KiB on Linux),
# or writing it would block this thread while the worker blocks writing its reply.
PIPELINE_MAX = 32 << 10


@dataclass
class _Run:
    req: RunRequest
    fut: cf.Future
    lim: Limits
    payload: bytes
    sent: bool = False
    tries: int = 0


class _WorkerProcess:
    """One jailed worker and its pipes; owned by exactly one dispatcher thread."""

    def __init__(self, level: str, package_dir: Path | None, cfg: dict, start_timeout: float = 60.0):
        cmd, jail_pkg = isolation.worker_command(level, package_dir)
        # Only the jail gives runs a readable view of the interpreter once they drop to uid 65534; outside it
        # (as root) the interpreter may live in a root-only home, so fallback runs keep the worker's uid.
        cfg = dict(cfg, sys_path=[jail_pkg] if jail_pkg else [], pidns=True, drop_uid=level == "bwrap")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=isolation.worker_env(), start_new_session=True)
        try:
            self.send(_frame(cfg))  # a worker that died at once fails the hello below, with its stderr
            hello = self._recv(start_timeout)
        except BaseException:  # a start that raises must not leave the jailed worker running
            self.kill()
            raise
        if not hello or not hello.get("ready"):
            err = self.stderr_tail()
            self.kill()
            raise RuntimeError(f"sandbox worker failed to start ({level}): {err[-500:]}")
        self.pidns = bool(hello.get("pidns"))
        self.huge_pages = int(hello.get("huge_pages") or 0)

    def _read_exact(self, n: int, deadline: float) -> bytes | None:
        fd = self.proc.stdout.fileno()
        poller = select.poll()  # not select(): a host with 1024 files open gives descriptors it cannot take
        poller.register(fd, select.POLLIN)
        chunks, got = [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                return None
            chunk = os.read(fd, n - got)
            if not chunk:
                return None
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _recv(self, timeout: float) -> dict | None:
        deadline = time.monotonic() + timeout
        head = self._read_exact(4, deadline)
        if head is None:
            return None
        (n,) = struct.unpack(">I", head)
        if n > 256 << 20:
            return None
        body = self._read_exact(n, deadline)
        try:
            return json.loads(body) if body is not None else None
        except (ValueError, RecursionError):
            return None

    def send(self, payload: bytes) -> bool:
        try:
            self.proc.stdin.write(payload)
            self.proc.stdin.flush()
            return True
        except (BrokenPipeError, OSError, ValueError):
            return False

    def recv(self, lim: Limits) -> dict | None:
        # The worker enforces wall_s itself; this margin only catches a hung or dead worker.
        return self._recv(lim.wall_s + 15.0)

    def stderr_tail(self) -> str:
        try:
            if self.proc.poll() is None:
                return ""
            return self.proc.stderr.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.SubprocessError):
            pass
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


def default_workers() -> int:
    """One worker more than the cores this process may use. With one per core, a core idles whenever its
    worker waits (on its run's exit, on its dispatcher thread) and nothing else is runnable there; during
    an eval the harness's own threads wake hundreds of times a second and leave such gaps throughout.
    The spare worker fills them (`benchmarks/harness_overhead.py`). Each of a node's training processes
    (torchrun and `accelerate launch` set LOCAL_WORLD_SIZE) starts its own pool on its share of the cores."""
    try:
        cores = len(os.sched_getaffinity(0))  # a CPU set or container may allow fewer than cpu_count
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, cores // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))) + 1


class SandboxPool:
    """Warm jailed workers; usable directly or as a context manager.

    ``preload`` names modules the workers import once (the bench package and its library), so each
    run costs a fork, not an interpreter start. ``array_type``/``scalar_type`` are dotted names of the
    library's array and scalar classes, which results are encoded from. ``huge_pages``: workers move
    their warm heap onto 2 MB pages where the kernel can, which makes each run's fork cheaper.
    """

    def __init__(self, package_dir: str | Path | None = None, *, package: str | None = None,
                 preload: Iterable[str] = (), workers: int | None = None, limits: Limits | None = None,
                 isolation_level: str = "auto", array_type: str | None = None, scalar_type: str | None = None,
                 huge_pages: bool = True):
        self.limits = limits or Limits()
        self.isolation = isolation.choose(isolation_level)
        if self.isolation == "none":
            warnings.warn(isolation.WARNING_NONE, RuntimeWarning, stacklevel=2)
            print(isolation.WARNING_NONE, file=sys.stderr)
        self.package_dir = Path(package_dir) if package_dir is not None else None
        self._cfg = {"preload": list(preload), "package": package, "array_type": array_type,
                     "scalar_type": scalar_type, "huge_pages": huge_pages}
        self.n_workers = max(1, workers or default_workers())
        self._queue: queue.Queue = queue.Queue()
        self._closed = False
        self._closing = threading.Lock()
        self.restarts = 0
        self.pidns: bool | None = None  # whether runs get their own PID namespace, from the first worker
        self._pidns_lock = threading.Lock()
        self._threads = [threading.Thread(target=self._dispatch, name=f"sandbox-{i}", daemon=True)
                         for i in range(self.n_workers)]
        self._ready = threading.Barrier(self.n_workers + 1)
        self._start_error: BaseException | None = None
        for t in self._threads:
            t.start()
        self._ready.wait()
        if self._start_error is not None:
            self.close()
            raise self._start_error

    @classmethod
    def for_bench(cls, bench: Any, **kw: Any) -> SandboxPool:
        """A pool serving a Bench: its package preloaded, its library's array types encoded."""
        return cls(**bench_pool_kwargs(bench, kw))

    # -------------------------------------------------------------- public API

    def submit(self, req: RunRequest) -> cf.Future[RunResult]:
        if req.perturb and not isinstance(req.seed, int):
            raise ValueError("a run that perturbs the package needs an int seed")
        fut: cf.Future[RunResult] = cf.Future()
        with self._closing:  # a run put after close()'s stop signals would wait forever
            if self._closed:
                raise RuntimeError("the sandbox pool is closed")
            self._queue.put((req, fut))
        return fut

    def run(self, req: RunRequest) -> RunResult:
        return self.submit(req).result()

    def map(self, reqs: Iterable[RunRequest], *, progress: bool = False) -> list[RunResult]:
        futs = [self.submit(r) for r in reqs]
        if progress:
            from tqdm import tqdm

            for _ in tqdm(cf.as_completed(futs), total=len(futs), desc="sandbox", unit="run", leave=False):
                pass
        return [f.result() for f in futs]

    def close(self) -> None:
        """Stop the workers. Runs still waiting in the queue are cancelled (Ctrl-C must not wait for a
        whole evaluation's backlog); runs already handed to a worker finish first."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                item[1].cancel()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join(timeout=30)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -------------------------------------------------------------- dispatcher

    def _spawn(self) -> _WorkerProcess:
        worker = _WorkerProcess(self.isolation, self.package_dir, self._cfg)
        with self._pidns_lock:
            if self.pidns is None:
                self.pidns = worker.pidns  # what this machine gives: runs in their own PID namespace or not
        if self.pidns and not worker.pidns:  # the kernel refused it this time (under load): never a silent downgrade
            worker.kill()
            raise RuntimeError("the sandbox worker could not give runs their own PID namespace, as this pool's "
                               "first workers did")
        return worker

    def _dispatch(self) -> None:
        worker: _WorkerProcess | None = None
        try:
            worker = self._spawn()
        except BaseException as e:  # reported by the constructor
            self._start_error = e
        self._ready.wait()
        if worker is None:
            return
        runs: deque[_Run] = deque()  # taken from the queue; the worker answers them in this order
        state = {"closing": False, "worker": worker}
        try:
            while runs or not state["closing"]:
                try:
                    self._step(runs, state)
                except BaseException as e:  # noqa: BLE001  a dispatcher never dies with runs in its hands
                    if state["worker"] is not None:
                        state["worker"].kill()
                        state["worker"] = None
                    while runs:
                        r = runs.popleft()
                        _resolve(r.fut, RunResult("sandbox_error", detail=f"the sandbox failed on this run: "
                                                  f"{type(e).__name__}: {e}"[:500], isolation=self.isolation))
        finally:
            if state["worker"] is not None:
                state["worker"].kill()

    def _step(self, runs: deque[_Run], state: dict) -> None:
        """Take runs, send them, wait for the head's reply: one turn of a dispatcher's loop."""
        # Keep a second run waiting in the worker's pipe, so the worker starts it the moment it answers the
        # first instead of waiting for this thread to get the GIL back. Only while the backlog keeps every
        # other worker busy too: a run queued behind a slow one must not wait while another worker idles
        # (an RL step waits for its slowest reward).
        while not state["closing"] and len(runs) < 2:
            if runs and self._queue.qsize() < len(self._threads):
                break
            try:
                item = self._queue.get(block=not runs)
            except queue.Empty:
                break
            if item is None:
                state["closing"] = True
            elif item[1].set_running_or_notify_cancel():
                req, fut = item
                try:  # a run that cannot be framed fails alone; it is in no one's hands yet, so it is resolved here
                    lim = req.limits or self.limits
                    msg = {"code": req.code, "entry_point": req.entry_point, "inputs": req.inputs,
                           "limits": asdict(lim), "closed_book": bool(req.closed_book)}
                    if req.perturb:
                        msg["perturb"], msg["seed"] = list(req.perturb), req.seed
                    if req.closed_book and self._cfg["package"] and (src := rewrite_source(req.code)) is not None:
                        msg["code"], msg["rewritten"] = src, True
                    runs.append(_Run(req, fut, lim, _frame(msg)))
                except Exception as e:  # noqa: BLE001
                    _resolve(fut, RunResult("sandbox_error", detail=f"the run could not be sent to the sandbox: "
                                            f"{type(e).__name__}: {e}"[:500], isolation=self.isolation))
        if not runs:
            return
        worker = state["worker"]
        if worker is None:
            try:
                worker = state["worker"] = self._spawn()
                self.restarts += 1
            except BaseException as e:
                for r in runs:
                    _resolve(r.fut, RunResult("sandbox_error", detail=f"cannot restart worker: {e}"[:500],
                                              isolation=self.isolation))
                runs.clear()
                return
        for i, r in enumerate(runs):
            if not r.sent and (i == 0 or len(r.payload) <= PIPELINE_MAX):
                r.sent = worker.send(r.payload)
        head = runs[0]
        reply = worker.recv(head.lim) if head.sent else None
        if reply is not None:
            try:
                result = interpret(reply, len(head.req.inputs), head.lim, self.isolation)
            except BaseException as e:  # noqa: BLE001  (interpret never raises; this is the belt to its braces)
                result = RunResult("sandbox_error", detail=f"reading the run failed: {type(e).__name__}: {e}"[:500],
                                   isolation=self.isolation)
            # The sandbox's own failure before the code started (the worker broke before forking the run, the
            # run's setup failed) is no verdict on the code: one more try on a fresh worker, as when a worker
            # dies (a fork refused under load must not fail a correct answer). Never once the code may have run:
            # a run must not be able to throw its real result away for a second draw.
            retry = result.status == "sandbox_error" and head.tries == 0 and isinstance(reply, dict) and (
                reply.get("ran") is False if "worker_error" in reply else str(reply.get("setup", "R")) != "R")
            if retry:
                head.tries += 1
                head.sent = False
            else:
                runs.popleft()
                _resolve(head.fut, result)
            if retry or (isinstance(reply, dict) and (reply.get("dirty") or "worker_error" in reply)):
                worker.kill()  # it ends itself after such a reply: the run waiting in its pipe goes to a fresh one
                state["worker"] = None
                for r in runs:
                    r.sent = False
            return
        worker.kill()  # dead, hung or garbled: replace it; the head is retried once, the rest resent
        state["worker"] = None
        for r in runs:
            r.sent = False
        head.tries += 1
        if head.tries >= 2:
            runs.popleft()
            _resolve(head.fut, RunResult("sandbox_error", detail="the sandbox failed twice on this run; the last "
                                         "time its worker died, hung or sent garbage", isolation=self.isolation))


def _resolve(fut: cf.Future, result: RunResult) -> None:
    with contextlib.suppress(cf.InvalidStateError):
        fut.set_result(result)


def with_limits(req: RunRequest, **changes: Any) -> RunRequest:
    """A copy of ``req`` with some limits changed."""
    return replace(req, limits=replace(req.limits or Limits(), **changes))
