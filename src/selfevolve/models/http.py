"""A lean async HTTP/1.1 client for the JSON calls of the OpenAI API: keep-alive connections, httptools parsing.

The harness shares the machine with the sandbox that judges the answers, so each millisecond of CPU the client
spends is taken from judging. aiohttp's client spends about 0.1 ms per request (cookies, tracing, redirects,
multidict headers); this one does only what a chat-completions call needs, with the parser uvicorn uses
(httptools, on llhttp), and spends about a third of that. In a 50 ms eval beside a busy sandbox the
harness's CPU per sample fell from about 0.42 to 0.24 ms (`benchmarks/harness_overhead.py` measures
both, and prints the CPU per request of this client, of aiohttp's and of the openai SDK).

Does: GET and POST with a JSON body; http:// and https:// (TLS against the system's CA store); connections
kept alive and reused per server; bodies delimited by Content-Length, chunked or by the server closing.
Does not: redirects, proxies, cookies, compression (it asks for none).
"""

from __future__ import annotations

import asyncio
import ssl
from functools import lru_cache
from urllib.parse import urlsplit

import httptools


class HttpError(Exception):
    """The exchange failed below HTTP: refused, reset or closed connection, or a malformed response."""


@lru_cache(maxsize=64)
def _split(url: str) -> tuple[tuple[str, str, int], str, str]:
    """url -> ((scheme, host, port), Host header, request target)."""
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise HttpError(f"not an http(s) URL: {url!r}")
    port = u.port or (443 if u.scheme == "https" else 80)
    host = f"[{u.hostname}]" if ":" in u.hostname else u.hostname  # an IPv6 address
    host = host if u.port is None else f"{host}:{u.port}"
    return (u.scheme, u.hostname, port), host, (u.path or "/") + (f"?{u.query}" if u.query else "")


class _Connection(asyncio.Protocol):
    """One connection to a server: one exchange at a time, reusable while the server keeps it alive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future | None = None
        self.chunks: list[bytes] = []
        self.answered = False  # a byte of the current response has arrived
        self.headers_done = False
        self.sized = False  # Content-Length or chunked: the body does not end with the connection
        self.open = True

    def exchange(self, payload: bytes) -> asyncio.Future:
        self.chunks, self.answered, self.headers_done, self.sized = [], False, False, False
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(payload)
        return self.waiter

    def close(self) -> None:
        self.open = False
        if self.transport is not None:
            self.transport.close()

    def _settle(self, result: tuple[int, bytes] | None = None, error: Exception | None = None) -> None:
        waiter, self.waiter = self.waiter, None
        if waiter is None or waiter.done():
            return
        if error is None:
            waiter.set_result(result)
        else:
            waiter.set_exception(error)

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.answered = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._settle(error=HttpError(f"malformed HTTP response: {e}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.open = False
        if self.headers_done and not self.sized:  # a body delimited by the connection closing
            self._settle((self.parser.get_status_code(), b"".join(self.chunks)))
        self._settle(error=HttpError("the server closed the connection" + (f": {exc}" if exc else "")))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"content-length" or (name == b"transfer-encoding" and b"chunked" in value.lower()):
            self.sized = True

    def on_headers_complete(self) -> None:
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if not self.parser.should_keep_alive():
            self.close()
        self._settle((self.parser.get_status_code(), b"".join(self.chunks)))


class HttpClient:
    """Requests to any number of servers, with a pool of kept-alive connections per server. Use it from one
    event loop; ``timeout`` bounds each request, connecting included."""

    def __init__(self, *, headers: dict[str, str] | None = None, timeout: float = 600.0):
        self.timeout = timeout
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._tls: ssl.SSLContext | None = None

    async def request(self, method: str, url: str, body: bytes | None = None) -> tuple[int, bytes]:
        """(status, body) of one request; ``body`` is sent as JSON. Raises HttpError or TimeoutError."""
        server, host, target = _split(url)
        head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{self._headers}Accept: application/json\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        payload = (head + "\r\n").encode() + (body or b"")
        idle = self._idle.setdefault(server, [])
        async with asyncio.timeout(self.timeout):
            while True:
                conn = idle.pop() if idle else None
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(server)
                elif not conn.open:  # closed while idle
                    continue
                try:
                    status, data = await conn.exchange(payload)
                except HttpError:
                    conn.close()
                    if reused and not conn.answered:
                        # No byte of an answer came on a connection that sat idle: the server had dropped it
                        # (keep-alive timeout) as the request went out. Send it again on a fresh one.
                        continue
                    raise
                except BaseException:  # a timeout or a cancel mid-exchange leaves the connection in an unknown state
                    conn.close()
                    raise
                idle.append(conn)  # if the server closes it meanwhile, the next request skips it
                return status, data

    async def _connect(self, server: tuple[str, str, int]) -> _Connection:
        scheme, host, port = server
        tls = None
        if scheme == "https":
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = self._tls
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                _Connection, host, port, ssl=tls, server_hostname=host if tls else None)
        except OSError as e:
            raise HttpError(f"cannot connect to {host}:{port}: {e}") from e
        return conn

    async def close(self) -> None:
        for conns in self._idle.values():
            for c in conns:
                c.close()
        self._idle.clear()
