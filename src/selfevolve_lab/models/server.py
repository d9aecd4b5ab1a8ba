"""An OpenAI-compatible chat server whose answers come from a function.

`selfevolve serve` puts a local transformers model behind it; tests and benchmarks put a fixed table behind
it, so the openai backend is exercised over real HTTP with no model at all.

Routes: POST /v1/chat/completions (messages, n, temperature, max_tokens, seed), GET /v1/models,
GET /metrics (request counts). With an API key every route wants ``Authorization: Bearer <key>`` (401
otherwise); ``n`` and ``max_tokens`` are capped (400 over the cap), so one request cannot ask the model
for thousands of completions. Errors have OpenAI's shape: {"error": {"message", "type", "param", "code"}}.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import ipaddress
import multiprocessing
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

from selfevolve_lab.perf import event_loop

# body of a chat request -> one completion per choice (body["n"], default 1), or the whole response (a dict):
# a stand-in for a server whose replies have more than text (reasoning fields, finish reasons, usage)
Answer = Callable[[dict[str, Any]], list[str] | dict | Awaitable[list[str] | dict]]
MAX_N = 16
MAX_TOKENS_CAP = 8192
API_KEY_ENV = "SELFEVOLVE_API_KEY"


def open_warning(host: str, api_key: str | None) -> str | None:
    """The warning for serving without a key where other machines can reach the server."""
    if api_key:
        return None
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if loopback:
        return None
    return (f"WARNING: serving on {host} without an API key: anyone who can reach this port can use the model. "
            f"Set --api-key or {API_KEY_ENV}.")


def _error(status: int, message: str, code: str | None = None, param: str | None = None):
    from aiohttp import web

    kind = "invalid_request_error" if status < 500 else "server_error"
    return web.json_response({"error": {"message": message, "type": kind, "param": param, "code": code}},
                             status=status)


def _capped(body: dict, names: tuple[str, ...], cap: int) -> str | None:
    """Why the first of ``names`` present in ``body`` is not an int in 1..cap, or None."""
    for name in names:
        v = body.get(name)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= cap:
            return f"'{name}' must be an integer from 1 to {cap} (this server's cap), got {v!r}"
    return None


def make_app(answer: Answer, name: str, *, delay: float = 0.0, log: list[dict] | None = None,
             api_key: str | None = None, max_n: int = MAX_N, max_tokens_cap: int = MAX_TOKENS_CAP):
    """The aiohttp application. ``delay``: seconds each chat request waits (a stand-in for a real model's
    latency); ``log``: a list every chat request body is appended to; ``api_key``: None serves anyone."""
    from aiohttp import web

    expected = f"Bearer {api_key}".encode() if api_key else None

    @web.middleware
    async def auth(request: web.Request, handler):
        if expected is not None:
            given = request.headers.get("Authorization", "").encode("utf-8", "replace")  # odd bytes: 401, not 500
            if not hmac.compare_digest(given, expected):
                return _error(401, "Incorrect or missing API key: send 'Authorization: Bearer <key>'.",
                              "invalid_api_key")
        return await handler(request)

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
            float(body.get("temperature") or 0.0)
        except (ValueError, TypeError, AttributeError) as e:
            return _error(400, f"bad request: {e}")
        over = _capped(body, ("n",), max_n) or _capped(body, ("max_tokens", "max_completion_tokens"), max_tokens_cap)
        if over:
            return _error(400, f"bad request: {over}", "over_cap")
        counts["chat_completions"] += 1
        if log is not None:
            log.append(body)
        if delay:
            await asyncio.sleep(delay)
        texts = await answer(body) if is_async else answer(body)
        if isinstance(texts, dict):
            return web.json_response(texts)
        return web.json_response(
            {"id": f"chatcmpl-{counts['chat_completions']}", "object": "chat.completion", "created": int(time.time()),
             "model": body.get("model") or name,
             "choices": [{"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": t}}
                         for i, t in enumerate(texts)],
             "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}})

    app = web.Application(client_max_size=64 * 2**20, middlewares=[auth])
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

    def __init__(self, answer: Answer, *, delay: float = 0.0, name: str = "stub", process: bool = False,
                 **app_kw: Any):
        self.requests: list[dict] = []
        self._app_kw = app_kw  # make_app's api_key and caps
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
                app = make_app(self._answer, self._name, delay=self._delay, log=self.requests, **self._app_kw)
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
        serve_forever(make_app(self._answer, self._name, delay=self._delay, **self._app_kw), "127.0.0.1", 0,
                      ready=conn.send)

    def __exit__(self, *exc: object) -> None:
        if self._process:
            self._proc.kill()
            self._proc.join()
        else:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
