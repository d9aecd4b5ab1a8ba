"""The openai backend's HTTP (aiohttp's kept client) against raw socket servers that answer the ways real
servers and proxies do: keep-alive, dropped connections, broken and slow answers, proxies, TLS."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from selfevolve_lab.errors import UserError
from selfevolve_lab.models.openai_backend import OpenAIBackend

ANSWER = b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}}]}'
OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
MSGS = [{"role": "user", "content": "hi"}]


class RawServer:
    """Answers request i on connection c with ``script(c, i, body)``: the bytes to send and whether to close
    afterwards. Records every request as (connection, index, body)."""

    def __init__(self, script: Callable[[int, int, bytes], tuple[bytes, bool]], tls: ssl.SSLContext | None = None):
        self.script, self.tls = script, tls
        self.requests: list[tuple[int, int, bytes]] = []
        self.heads: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http{'s' if tls else ''}://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections - 1), daemon=True).start()

    def _serve(self, conn: socket.socket, c: int) -> None:
        if self.tls is not None:
            try:
                conn = self.tls.wrap_socket(conn, server_side=True)
            except (ssl.SSLError, OSError):
                return
        buf, i = b"", 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, buf = buf.split(b"\r\n\r\n", 1)
                size = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                             if line.startswith(b"content-length:")), 0)
                while len(buf) < size:
                    buf += conn.recv(65536)
                body, buf = buf[:size], buf[size:]
                self.heads.append(head)
                self.requests.append((c, i, body))
                reply, close = self.script(c, i, body)
                try:
                    for k in range(0, len(reply), 4096):
                        conn.sendall(reply[k:k + 4096])
                except OSError:  # the client gave up on this connection
                    return
                i += 1
                if close:
                    return

    def close(self) -> None:
        self.sock.close()


def _complete(url: str, n: int, *, timeout: float = 10.0, retries: int = 0, content: str = "hi") -> list:
    """n completions one after another through one backend; each answer or the exception it raised."""

    async def go():
        backend = OpenAIBackend([url], model="m", timeout=timeout, retries=retries, backoff=0.01, api_key="k")
        out = []
        for _ in range(n):
            try:
                out.append((await backend.complete([{"role": "user", "content": content}], max_tokens=8)).text)
            except UserError as e:
                out.append(e)
        await backend.close()
        return out

    return asyncio.run(go())


def test_connections_are_kept_alive_and_reused():
    srv = RawServer(lambda c, i, body: (OK, False))
    big = "x" * 500_000  # an open-book prompt with every doc
    assert _complete(srv.url, 5) + _complete(srv.url, 1, content=big) == ["ok"] * 6
    assert srv.connections == 2  # one per backend
    bodies = [json.loads(b) for _, _, b in srv.requests]
    assert [b["messages"][0]["content"] for b in bodies] == ["hi"] * 5 + [big]
    head = srv.heads[0].decode().split("\r\n")
    assert head[0] == "POST /v1/chat/completions HTTP/1.1"
    fields = {k.lower(): v for k, v in (line.split(": ", 1) for line in head[1:])}
    assert fields["authorization"] == "Bearer k" and fields["content-type"] == "application/json"
    assert fields["host"] == f"127.0.0.1:{srv.sock.getsockname()[1]}"
    srv.close()


def test_chunked_and_close_delimited_bodies_and_retried_statuses():
    half = len(ANSWER) // 2
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n"
               % (half, ANSWER[:half], len(ANSWER) - half, ANSWER[half:]))
    busy = b"HTTP/1.1 503 Busy\r\nContent-Length: 300000\r\n\r\n" + b"x" * 300_000  # many packets, then retried
    until_close = b"HTTP/1.0 200 OK\r\n\r\n" + ANSWER  # no length: the body ends when the server closes
    replies = [(chunked, False), (busy, False), (until_close, True), (OK, True)]
    srv = RawServer(lambda c, i, body: replies.pop(0))
    assert _complete(srv.url, 3, retries=1) == ["ok"] * 3
    assert srv.connections == 2 and replies == []  # the close-delimited answer ended its connection
    srv.close()


def test_a_connection_the_server_dropped_while_idle_does_not_lose_the_request():
    # The second request on each connection races the server closing it as idle: it is dropped unanswered.
    srv = RawServer(lambda c, i, body: (OK, False) if i == 0 else (b"", True))
    assert _complete(srv.url, 3, retries=1) == ["ok"] * 3
    assert srv.connections == 3
    srv.close()


def test_connection_close_is_honoured():
    srv = RawServer(lambda c, i, body: (OK.replace(b"OK\r\n", b"OK\r\nConnection: close\r\n", 1), False))
    assert _complete(srv.url, 3) == ["ok"] * 3
    assert srv.connections == 3
    srv.close()


@pytest.mark.parametrize("reply", [b"", b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"a\""],
                         ids=["closed_unanswered", "malformed", "truncated"])
def test_broken_answers_are_retried_then_a_user_error(reply):
    srv = RawServer(lambda c, i, body: (reply, True))
    (err,) = _complete(srv.url, 1, retries=2)
    assert isinstance(err, UserError) and "unreachable after 3 tries" in str(err), err
    assert len(srv.requests) == 3
    srv.close()


def test_a_slow_answer_times_out_and_its_connection_is_not_reused():
    def script(c, i, body):
        if c == 0:
            time.sleep(1.0)
        return OK, False

    srv = RawServer(script)
    out = _complete(srv.url, 2, timeout=0.3)
    assert isinstance(out[0], UserError) and "TimeoutError" in str(out[0]) and out[1] == "ok"
    assert srv.connections == 2
    srv.close()


def test_the_environment_proxy_is_used(monkeypatch):
    proxy = RawServer(lambda c, i, body: (OK, False))
    monkeypatch.setenv("HTTP_PROXY", proxy.url.removesuffix("/v1"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert _complete("http://model.invalid:8000/v1", 1) == ["ok"]
    assert proxy.heads[0].split(b"\r\n")[0] == b"POST http://model.invalid:8000/v1/chat/completions HTTP/1.1"
    proxy.close()


def test_refused_is_a_user_error():
    (err,) = _complete("http://127.0.0.1:9/v1", 1)
    assert isinstance(err, UserError) and "unreachable" in str(err) and "127.0.0.1:9" in str(err)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_speaks_tls_and_verifies_the_certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    srv = RawServer(lambda c, i, body: (OK, False), tls=tls)
    (err,) = _complete(srv.url, 1)
    assert isinstance(err, UserError) and "CERTIFICATE_VERIFY_FAILED" in str(err)  # a self-signed server
    srv.close()


def test_no_proxy_is_honoured(monkeypatch):
    from selfevolve_lab.models.openai_backend import env_proxy

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal")
    assert env_proxy("https://api.example.com/v1") == "http://proxy.invalid:3128"
    assert env_proxy("https://gpu1.internal/v1") is None and env_proxy("http://api.example.com/v1") is None
