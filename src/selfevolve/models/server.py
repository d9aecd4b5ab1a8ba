"""An OpenAI-compatible chat server whose answers come from a function.

`selfevolve serve` puts a local transformers model behind it; tests and benchmarks put a fixed table behind
it, so the openai backend is exercised over real HTTP with no model at all.

Routes: POST /v1/chat/completions (messages, n, temperature, max_tokens, seed), GET /v1/models,
GET /metrics (request counts).
"""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from selfevolve.perf import event_loop

# body of a chat request -> one completion per choice (body["n"], default 1)
Answer = Callable[[dict[str, Any]], list[str] | Awaitable[list[str]]]


def make_app(answer: Answer, name: str, *, delay: float = 0.0, log: list[dict] | None = None):
    """The aiohttp application. ``delay``: seconds each chat request waits (a stand-in for a real model's
    latency); ``log``: a list every chat request body is appended to."""
    from aiohttp import web

    counts = {"chat_completions": 0, "models": 0}
    is_async = inspect.iscoroutinefunction(answer)

    async def models(_: web.Request) -> web.Response:
        counts["models"] += 1
        return web.json_response({"object": "list", "data": [{"id": name, "object": "model", "owned_by": "local"}]})

    async def metrics(_: web.Request) -> web.Response:
        return web.json_response(counts)

    async def chat(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            if not isinstance(body.get("messages"), list):
                raise ValueError("'messages' must be a list")
            int(body.get("n") or 1), float(body.get("temperature") or 0.0)
        except (ValueError, TypeError, AttributeError) as e:
            return web.json_response({"error": {"message": f"bad request: {e}"}}, status=400)
        counts["chat_completions"] += 1
        if log is not None:
            log.append(body)
        if delay:
            await asyncio.sleep(delay)
        texts = await answer(body) if is_async else answer(body)
        return web.json_response(
            {"id": f"chatcmpl-{counts['chat_completions']}", "object": "chat.completion", "created": int(time.time()),
             "model": body.get("model") or name,
             "choices": [{"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": t}}
                         for i, t in enumerate(texts)],
             "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

    app = web.Application(client_max_size=64 * 2**20)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/metrics", metrics)
    app.router.add_post("/v1/chat/completions", chat)
    return app


async def _start(app, host: str, port: int):
    from aiohttp import web

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    return runner, runner.addresses[0][1]


def serve_forever(app, host: str = "127.0.0.1", port: int = 8000, *, ready: Callable[[int], None] | None = None) -> None:
    """Run the server in this thread until interrupted; ``ready(port)`` is called once it listens."""

    async def main() -> None:
        runner, bound = await _start(app, host, port)
        if ready:
            ready(bound)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with event_loop() as loop:
        loop.run(main())


class StubServer:
    """A fixed-answer server on 127.0.0.1, in a background thread or (``process=True``) its own process,
    so that its CPU does not share a GIL with the client under test. A context manager; ``url`` ends in /v1.
    ``requests`` holds every chat request body (thread mode only)."""

    def __init__(self, answer: Answer, *, delay: float = 0.0, name: str = "stub", process: bool = False):
        self.requests: list[dict] = []
        self._answer, self._delay, self._name, self._process = answer, delay, name, process
        self.url = ""
        self.pid: int | None = None  # the server's own process, with process=True

    def __enter__(self) -> StubServer:
        if self._process:
            parent, child = multiprocessing.get_context("fork").Pipe()
            self._proc = multiprocessing.get_context("fork").Process(target=self._run, args=(child,), daemon=True)
            self._proc.start()
            self.pid = self._proc.pid
            port = parent.recv()
        else:
            got: list[int] = []
            started = threading.Event()
            self._loop = asyncio.new_event_loop()

            def run() -> None:
                asyncio.set_event_loop(self._loop)
                app = make_app(self._answer, self._name, delay=self._delay, log=self.requests)
                self._runner, port = self._loop.run_until_complete(_start(app, "127.0.0.1", 0))
                got.append(port)
                started.set()
                self._loop.run_forever()

            self._thread = threading.Thread(target=run, daemon=True)
            self._thread.start()
            started.wait()
            port = got[0]
        self.url = f"http://127.0.0.1:{port}/v1"
        return self

    def _run(self, conn) -> None:
        serve_forever(make_app(self._answer, self._name, delay=self._delay), "127.0.0.1", 0, ready=conn.send)

    def __exit__(self, *exc: object) -> None:
        if self._process:
            self._proc.kill()
            self._proc.join()
        else:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
