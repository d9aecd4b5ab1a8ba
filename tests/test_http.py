"""The lean HTTP client against raw socket servers that answer the ways real servers and proxies do."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable

import pytest

from selfevolve.models.http import HttpClient, HttpError

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\": \"ok\"}"


class RawServer:
    """Answers request i on connection c with ``script(c, i, body)``: the bytes to send and whether to close
    afterwards. Records every request as (connection, index, body)."""

    def __init__(self, script: Callable[[int, int, bytes], tuple[bytes, bool]], tls: ssl.SSLContext | None = None):
        self.script, self.tls = script, tls
        self.requests: list[tuple[int, int, bytes]] = []
        self.heads: list[bytes] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http{'s' if tls else ''}://127.0.0.1:{self.sock.getsockname()[1]}/v1/x"
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


def _requests(url: str, n: int, *, timeout: float = 10.0, body: bytes = b'{"q": 1}') -> list:
    """n requests one after another through one client; each result or the exception it raised."""

    async def go():
        client = HttpClient(headers={"Authorization": "Bearer k"}, timeout=timeout)
        out = []
        for _ in range(n):
            try:
                out.append(await client.request("POST", url, body))
            except (HttpError, TimeoutError) as e:
                out.append(e)
        await client.close()
        return out

    return asyncio.run(go())


def test_connections_are_kept_alive_and_reused():
    srv = RawServer(lambda c, i, body: (OK, False))
    big = b'{"q": "%s"}' % (b"x" * 500_000)  # an open-book prompt with every doc
    assert _requests(srv.url, 5) + _requests(srv.url, 1, body=big) == [(200, b'{"a": "ok"}')] * 6
    assert srv.connections == 2 and [b for _, _, b in srv.requests] == [b'{"q": 1}'] * 5 + [big]
    port = srv.sock.getsockname()[1]
    assert srv.heads[0].split(b"\r\n") == [b"POST /v1/x HTTP/1.1", b"Host: 127.0.0.1:%d" % port, b"Authorization: Bearer k",
                                            b"Accept: application/json", b"Content-Type: application/json",
                                            b"Content-Length: 8"]
    srv.close()


def test_chunked_split_and_close_delimited_bodies():
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n7\r\n: \"ok\"}\r\n0\r\n\r\n"
    big = b"x" * 300_000  # many packets
    sized = b"HTTP/1.1 503 Busy\r\nContent-Length: %d\r\n\r\n%s" % (len(big), big)
    until_close = b"HTTP/1.0 200 OK\r\n\r\n{\"a\": \"ok\"}"  # no length: the body ends when the server closes
    replies = [(chunked, False), (sized, False), (until_close, True), (OK, True)]
    srv = RawServer(lambda c, i, body: replies.pop(0))
    assert _requests(srv.url, 4) == [(200, b'{"a": "ok"}'), (503, big), (200, b'{"a": "ok"}'), (200, b'{"a": "ok"}')]
    assert srv.connections == 2  # the close-delimited answer ended its connection
    srv.close()


def test_a_connection_the_server_dropped_while_idle_is_replaced_without_losing_the_request():
    # The second request on each connection races the server closing it as idle: it is dropped unanswered.
    srv = RawServer(lambda c, i, body: (OK, False) if i == 0 else (b"", True))
    assert _requests(srv.url, 3) == [(200, b'{"a": "ok"}')] * 3
    assert srv.connections == 3 and [(c, i) for c, i, _ in srv.requests] == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]
    srv.close()


def test_connection_close_is_honoured():
    srv = RawServer(lambda c, i, body: (OK.replace(b"OK\r\n", b"OK\r\nConnection: close\r\n", 1), False))
    assert _requests(srv.url, 3) == [(200, b'{"a": "ok"}')] * 3
    assert srv.connections == 3
    srv.close()


@pytest.mark.parametrize("reply", [b"", b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"a\""],
                         ids=["closed_unanswered", "malformed", "truncated"])
def test_broken_answers_are_http_errors(reply):
    srv = RawServer(lambda c, i, body: (reply, True))
    out = _requests(srv.url, 2)
    assert all(isinstance(e, HttpError) for e in out), out
    assert len(srv.requests) == 2  # a fresh connection that fails is not retried here: the caller decides
    srv.close()


def test_a_slow_answer_times_out_and_its_connection_is_not_reused():
    def script(c, i, body):
        if c == 0:
            time.sleep(1.0)
        return OK, False

    srv = RawServer(script)
    out = _requests(srv.url, 2, timeout=0.3)
    assert isinstance(out[0], TimeoutError) and out[1] == (200, b'{"a": "ok"}')
    assert srv.connections == 2
    srv.close()


def test_urls_are_split_into_server_host_header_and_target():
    from selfevolve.models.http import _split

    assert _split("http://h:8000/v1/chat?x=1") == (("http", "h", 8000), "h:8000", "/v1/chat?x=1")
    assert _split("https://api.example.com") == (("https", "api.example.com", 443), "api.example.com", "/")
    assert _split("http://[::1]:9/v1") == (("http", "::1", 9), "[::1]:9", "/v1")


def test_refused_and_bad_urls_are_http_errors():
    out = _requests("http://127.0.0.1:9/v1", 1) + _requests("ftp://example/", 1)
    assert all(isinstance(e, HttpError) for e in out) and "cannot connect" in str(out[0])


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command to make a certificate")
def test_https_speaks_tls_and_verifies_the_certificate(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "1", "-subj", "/CN=127.0.0.1"], check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    srv = RawServer(lambda c, i, body: (OK, False), tls=tls)
    (err,) = _requests(srv.url, 1)
    assert isinstance(err, HttpError) and "CERTIFICATE_VERIFY_FAILED" in str(err)  # a self-signed server
    srv.close()
