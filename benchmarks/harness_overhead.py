"""Harness overhead: samples generated and judged per second end to end, and the harness's share of wall time.

A stub OpenAI-compatible server (`LeanServer`), in its own process, answers each prompt with that task's
reference solution, so every sample is really run in the sandbox and passes. A real model server runs on
another machine; this one shares the 2 cores, so it is written to spend as little CPU as it can, and it
runs at normal priority, so what it does spend counts against the harness: a server niced out of the way
answers late on a machine the sandbox keeps busy, and its stalls would be charged to the harness instead.
Measured in the same run, interleaved, so a slow spell of the machine hits every kind alike:

  judge alone   the same completions straight through `Judge.judge_many`: no prompts, no HTTP, no files.
                The baseline: the work a zero-overhead harness would still have to do
  references    `selfevolve eval --references`: the harness without HTTP
  instant       the server answers at once: samples per second end to end (target >= 200/s)
  50 ms         the server takes 50 ms per request, concurrency 32 (target: harness < 5% of wall time).
                Two measures of the harness's share:
                - by wall time: generation alone would take n x 50 ms / 32 and judging alone the baseline
                  (+ the 50 ms before the first answer); they overlap, so the slower bounds the run and
                  all wall time above it is the harness's. Honest but noisy on a shared 2-core machine.
                - by CPU: the harness's CPU (the eval process's CPU minus the baseline process's CPU) as a
                  share of all CPU the machine spent during the run. The machine is saturated (the
                  sandbox is the bottleneck), so wall time is shared out in proportion to CPU. No
                  target: the old one (< 5%) was met only by a hand-written HTTP client, which a
                  server 100 ms or more away makes pointless.
  client        CPU per request of our openai backend (aiohttp's ClientSession with retries, round-robin and
                the concurrency bound), of a bare aiohttp session (the floor under it), and of the openai SDK
                when it is installed
Each figure is the median of --repeat runs. The two shares are computed within each round, the 50 ms run
against the mean of the judge-alone runs just before and just after it, and then the median taken, so a
slow spell of the machine between rounds does not enter them; their range over the rounds is printed too.

Usage: python benchmarks/harness_overhead.py BENCH_DIR [--n 1200] [--repeat 5]   (BENCH_DIR with tasks)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

from selfevolve_lab.bench import Bench
from selfevolve_lab.evaluate.prompts import Prompter
from selfevolve_lab.evaluate.run import EvalConfig, run_eval
from selfevolve_lab.judge import Judge
from selfevolve_lab.models.openai_backend import OpenAIBackend
from selfevolve_lab.perf import event_loop, frozen_heap

SPLIT = "train"


def answers(bench_dir: str, n: int) -> dict[str, str]:
    bench = Bench.open(bench_dir)
    prompter = Prompter(bench, "closed", "task", "default")
    return {prompter.messages(t)[-1]["content"]: f"```python\n{t.reference}```" for t in bench.tasks(SPLIT)[:n]}


class LeanServer:
    """The stub OpenAI-compatible server: chat completions from a table, and /models. HTTP/1.1 keep-alive on
    a bare asyncio protocol in its own process: it spends less than half the CPU per request of our
    aiohttp server (`selfevolve_lab.models.server`), and on 2 cores every millisecond the stub spends is
    charged to the harness. A context manager."""

    def __init__(self, table: dict[str, str], delay: float = 0.0):
        self.table, self.delay = table, delay

    def __enter__(self) -> LeanServer:
        ctx = multiprocessing.get_context("fork")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=self._serve, args=(child,), daemon=True)
        self._proc.start()
        self.pid = self._proc.pid
        self.url = f"http://127.0.0.1:{parent.recv()}/v1"
        return self

    def __exit__(self, *exc: object) -> None:
        self._proc.kill()
        self._proc.join()

    def _reply(self, head: bytes, body: bytes) -> bytes:
        if head.startswith(b"get "):  # the head arrives lower-cased
            data = {"object": "list", "data": [{"id": "stub", "object": "model"}]}
        else:
            text = self.table.get(json.loads(body)["messages"][-1]["content"], "no such prompt")
            data = {"object": "chat.completion", "model": "stub",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}]}
        out = json.dumps(data).encode()
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(out), out)

    def _serve(self, conn) -> None:
        server = self

        class Http(asyncio.Protocol):
            def connection_made(self, transport) -> None:
                self.transport, self.buf = transport, b""

            def data_received(self, data: bytes) -> None:
                self.buf += data
                while (end := self.buf.find(b"\r\n\r\n")) >= 0:
                    head = self.buf[:end].lower()
                    i = head.find(b"content-length:")
                    size = int(head[i + 15:].split(b"\r\n", 1)[0]) if i >= 0 else 0
                    if len(self.buf) < end + 4 + size:
                        return
                    body, self.buf = self.buf[end + 4:end + 4 + size], self.buf[end + 4 + size:]
                    reply = server._reply(head, body)
                    if server.delay:
                        asyncio.get_running_loop().call_later(server.delay, self.transport.write, reply)
                    else:
                        self.transport.write(reply)

        async def main() -> None:
            srv = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", 0, backlog=1024)
            conn.send(srv.sockets[0].getsockname()[1])
            await asyncio.Event().wait()

        with event_loop() as loop:
            loop.run(main())


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, every process), from /proc/stat."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


@dataclass
class Run:
    wall: float  # seconds
    cpu: float  # CPU seconds of this process (all its threads)
    busy: float  # CPU seconds of the whole machine


def combine(runs: list[Run], stat) -> Run:
    """One Run from several, each field reduced by ``stat`` (statistics.median, statistics.mean)."""
    return Run(*(stat([getattr(r, f.name) for r in runs]) for f in fields(Run)))


def measured(fn, *args, **kw) -> Run:
    b0, c0, t0 = machine_busy(), time.process_time(), time.perf_counter()
    fn(*args, **kw)
    return Run(time.perf_counter() - t0, time.process_time() - c0, machine_busy() - b0)


def evaluate(bench: str, model: str, n: int, source: str = "model") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = EvalConfig(bench=bench, model=model, limit=n, split=SPLIT, max_tokens=64, source=source)
        r = run_eval(cfg, Path(tmp) / "run", progress=False, concurrency=32)
    assert r["metrics"]["status"] == {"passed": n}, r["metrics"]["status"]


def judge_alone(bench_dir: str, n: int) -> None:
    bench = Bench.open(bench_dir)
    tasks = bench.tasks(SPLIT)[:n]
    with Judge(bench) as judge, frozen_heap():  # as the harness does
        verdicts = list(judge.judge_many((t, f"```python\n{t.reference}```", 0) for t in tasks))
    assert all(v.passed for v in verdicts)


def client_cpu_ms(url: str, n: int = 2000) -> dict[str, float]:
    msgs = [{"role": "user", "content": "x" * 1500}]
    body = {"model": "stub", "messages": msgs, "max_tokens": 64}

    async def ours() -> None:
        backend = OpenAIBackend([url], model="stub")
        await asyncio.gather(*(backend.complete(msgs, max_tokens=64) for _ in range(n)))
        await backend.close()

    async def aio() -> None:  # the same transport with nothing of ours around it
        import aiohttp

        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:
            async def one() -> None:
                async with session.post(url + "/chat/completions", json=body) as r:
                    await r.json()

            await asyncio.gather(*(one() for _ in range(n)))

    async def sdk() -> None:
        import openai

        client = openai.AsyncOpenAI(base_url=url, api_key="x", max_retries=0)
        sem = asyncio.Semaphore(32)

        async def one() -> None:
            async with sem:
                await client.chat.completions.create(model="stub", messages=msgs, max_tokens=64)

        await asyncio.gather(*(one() for _ in range(n)))
        await client.close()

    out = {}
    for name, f in (("selfevolve openai backend", ours), ("bare aiohttp session", aio), ("openai SDK (httpx)", sdk)):
        try:
            asyncio.run(f())  # warm-up
        except ImportError:
            continue
        c0 = time.process_time()
        asyncio.run(f())
        out[name] = 1000 * (time.process_time() - c0) / n
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bench")
    ap.add_argument("--n", type=int, default=1200)
    ap.add_argument("--repeat", type=int, default=5, help="runs of each kind; the median counts")
    args = ap.parse_args()
    table = answers(args.bench, args.n)
    n = len(table)

    with LeanServer(table) as fast, LeanServer(table, delay=0.05) as slow_srv:
        evaluate(args.bench, fast.url, 20)  # warm-up: imports (the HTTP client's too), page cache
        runs: dict[str, list[Run]] = {"judge": [], "references": [], "instant": [], "slow": [], "bracket": []}
        for _ in range(args.repeat):
            before = measured(judge_alone, args.bench, n)
            runs["slow"].append(measured(evaluate, args.bench, slow_srv.url, n))
            after = measured(judge_alone, args.bench, n)
            runs["judge"] += [before, after]
            # The 50 ms run's baseline: the mean of the judge-alone runs on either side of it, which cancels
            # the machine's speed drifting steadily across the three.
            runs["bracket"].append(combine([before, after], statistics.mean))
            runs["references"].append(measured(evaluate, args.bench, "references", n, source="references"))
            runs["instant"].append(measured(evaluate, args.bench, fast.url, n))
        clients = client_cpu_ms(fast.url)
    med = {k: combine(v, statistics.median) for k, v in runs.items()}
    judge, refs, instant, slow = med["judge"], med["references"], med["instant"], med["slow"]
    ideal = n * 0.05 / 32

    def wall_share(j: Run, sl: Run) -> float:
        return 100 * max(0.0, sl.wall - max(ideal, j.wall + 0.05)) / sl.wall

    def cpu_share(j: Run, sl: Run) -> float:
        return 100 * (sl.cpu - j.cpu) / sl.busy

    rounds = list(zip(runs["bracket"], runs["slow"], strict=True))
    wall_shares = [wall_share(j, sl) for j, sl in rounds]
    cpu_shares = [cpu_share(j, sl) for j, sl in rounds]
    wall_pct, cpu_pct = statistics.median(wall_shares), statistics.median(cpu_shares)
    harness_cpu = statistics.median(sl.cpu - j.cpu for j, sl in rounds)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(f"{n} samples, median of {args.repeat} runs each, on {os.cpu_count()} cores")
    print(f"judge alone (baseline): {judge.wall:.2f} s = {n / judge.wall:.0f} samples/s; "
          f"{judge.cpu:.2f} s CPU in the judging process")
    print(f"eval --references (no HTTP): {refs.wall:.2f} s = {n / refs.wall:.0f} samples/s, "
          f"{refs.wall / judge.wall:.2f}x the baseline; harness CPU {refs.cpu - judge.cpu:.2f} s "
          f"({1000 * (refs.cpu - judge.cpu) / n:.2f} ms per sample)")
    print(f"instant server: {instant.wall:.2f} s = {n / instant.wall:.0f} samples/s end to end, "
          f"{instant.wall / judge.wall:.2f}x the baseline (target >= 200/s: {verdict(n / instant.wall >= 200)})")
    print(f"50 ms server, concurrency 32: wall {slow.wall:.2f} s; generation alone {ideal:.2f} s, judging alone "
          f"{judge.wall:.2f} + 0.05 s")
    print(f"  harness share by wall time: {wall_pct:.1f}% (rounds: {min(wall_shares):.1f}-{max(wall_shares):.1f}%; "
          f"target < 5%: {verdict(wall_pct < 5)})")
    print(f"  harness share by CPU: {cpu_pct:.1f}% of all CPU the machine spent (rounds: {min(cpu_shares):.1f}-"
          f"{max(cpu_shares):.1f}%; {1000 * harness_cpu / n:.2f} ms per sample)")
    ours = "selfevolve openai backend"
    for name, ms in clients.items():
        ratio = f" ({ms / clients[ours]:.1f}x ours)" if name != ours else ""
        print(f"client CPU per request, {name}: {ms:.3f} ms{ratio}")


if __name__ == "__main__":
    main()
