"""The OpenAI-compatible backend: async, several base URLs, bounded concurrency, retries with backoff.

It speaks the chat-completions protocol that vLLM, SGLang and hosted APIs serve, over aiohttp's client:
connections kept alive and reused by its connector, the environment's proxy settings (HTTP(S)_PROXY,
NO_PROXY) honoured, redirects followed, compressed replies decoded. Its CPU per request
(`benchmarks/harness_overhead.py` prints it) is a fraction of a millisecond, invisible beside the 100 ms to
seconds a real inference server takes. The API key comes from OPENAI_API_KEY when set.

A reasoning model behind vLLM's or SGLang's reasoning parser answers with its chain of thought in
``message.reasoning_content`` (``reasoning`` on some servers) and ``content`` null when it was cut off
while thinking: the reply keeps both, with the finish reason and the token usage.

The proxy is looked up once per server, with the standard library's rules, rather than by aiohttp's
``trust_env``: that does it per request in two worker-thread hops (the proxy, and a read of ~/.netrc),
which cost 0.3-0.6 ms of CPU per request here, and .netrc credentials would clash with our Authorization
header.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from selfevolve_lab.errors import UserError
from selfevolve_lab.models import Messages, Reply

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_JSON = {"Content-Type": "application/json", "Accept": "application/json"}


def env_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url`` (HTTP_PROXY / HTTPS_PROXY, unless NO_PROXY covers it)."""
    u = urlsplit(url)
    if u.hostname and urllib.request.proxy_bypass(u.hostname):
        return None
    return urllib.request.getproxies().get(u.scheme)


class OpenAIBackend:
    def __init__(self, base_urls: list[str], *, concurrency: int = 32, model: str | None = None, retries: int = 4,
                 timeout: float = 600.0, api_key: str | None = None, backoff: float = 0.5,
                 extra_body: dict[str, Any] | None = None):
        self.urls = [u.rstrip("/") if u.rstrip("/").endswith("/v1") else u.rstrip("/") + "/v1" for u in base_urls]
        self._next = itertools.cycle(range(len(self.urls)))  # round-robin across servers
        self.concurrency = concurrency
        self.retries = retries
        self.timeout = timeout
        self.backoff = backoff
        self.headers = {"Authorization": f"Bearer {api_key or os.environ.get('OPENAI_API_KEY') or 'EMPTY'}"}
        self.extra_body = extra_body or {}  # added to every request body, over the fields set here
        self._model = model
        self.name = model or self.urls[0]
        self._http: aiohttp.ClientSession | None = None
        self._sem: asyncio.Semaphore | None = None
        self._naming: asyncio.Lock | None = None
        self._proxies: dict[str, str | None] = {}

    def _open(self) -> aiohttp.ClientSession:
        if self._http is None:  # created inside the running event loop its connections belong to
            # The semaphore bounds the requests in flight; the connector keeps as many connections alive.
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=30)
            self._http = aiohttp.ClientSession(connector=connector, headers=self.headers,
                                               timeout=aiohttp.ClientTimeout(total=self.timeout),
                                               cookie_jar=aiohttp.DummyCookieJar())
            self._proxies = {u: env_proxy(u) for u in self.urls}
            self._sem = asyncio.Semaphore(self.concurrency)
            self._naming = asyncio.Lock()
        return self._http

    async def _call(self, method: str, path: str, body: dict | None = None) -> Any:
        """One request with retries: connection errors, timeouts, 429 and 5xx are retried with backoff;
        any other HTTP error is the caller's mistake and raised at once."""
        http = self._open()
        data = None if body is None else json.dumps(body).encode()
        delay, last = self.backoff, ""
        for attempt in range(self.retries + 1):
            url = self.urls[next(self._next)]
            try:
                async with self._sem, http.request(method, url + path, data=data, headers=_JSON,
                                                   proxy=self._proxies[url]) as r:
                    status, reply = r.status, await r.read()
                if status == 200:
                    return json.loads(reply)
                text = reply[:300].decode("utf-8", "replace")
                if status not in RETRY_STATUS:
                    raise UserError(f"model server {url}: HTTP {status}: {text}")
                last = f"HTTP {status}: {text}"
            except (TimeoutError, aiohttp.ClientError, ValueError) as e:  # ValueError: a reply that is not JSON
                last = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay *= 2
        raise UserError(f"model server unreachable after {self.retries + 1} tries: {', '.join(self.urls)} ({last})")

    async def _model_name(self) -> str:
        if self._model is not None:
            return self._model
        self._open()
        async with self._naming:  # the first requests arrive together: ask the server once
            if self._model is None:
                data = (await self._call("GET", "/models")).get("data") or []
                if not data:
                    raise UserError(f"model server {self.urls[0]}: /models lists no model; pass one explicitly")
                self._model = self.name = data[0]["id"]
        return self._model

    async def complete(self, messages: Messages, *, temperature: float = 0.0, max_tokens: int = 512,
                       seed: int | None = None, model: str | None = None) -> Reply:
        """``model`` overrides the served model name for this request (one server, several models)."""
        # max_tokens is deprecated in OpenAI's API for max_completion_tokens, which some servers alone honour
        body = {"model": model or await self._model_name(), "messages": messages, "temperature": temperature,
                "max_tokens": max_tokens, "max_completion_tokens": max_tokens}
        if seed is not None:
            body["seed"] = seed
        reply = await self._call("POST", "/chat/completions", {**body, **self.extra_body})
        try:
            choice = reply["choices"][0]
            msg = choice["message"]
            usage = reply.get("usage") or {}
            return Reply(text=msg.get("content") or "", reasoning=msg.get("reasoning_content") or msg.get("reasoning"),
                         finish_reason=choice.get("finish_reason"), prompt_tokens=usage.get("prompt_tokens"),
                         completion_tokens=usage.get("completion_tokens"))
        except (KeyError, IndexError, TypeError, AttributeError):
            raise UserError(f"model server {self.urls}: not a chat completion: {str(reply)[:200]}") from None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
