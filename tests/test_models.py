"""The openai backend against real local HTTP servers: balancing, bounded concurrency, retries, errors."""

from __future__ import annotations

import asyncio

import pytest

from selfevolve.errors import UserError
from selfevolve.models.openai_backend import OpenAIBackend
from selfevolve.models.server import StubServer

MSGS = [{"role": "user", "content": "hi"}]


def echo(body: dict) -> list[str]:
    return [f"{body['model']}:{body['messages'][-1]['content']}:{body.get('seed')}"]


def _run(backend: OpenAIBackend, coros):
    async def go():
        try:
            return await asyncio.gather(*coros(backend))
        finally:
            await backend.close()

    return asyncio.run(go())


def test_requests_are_balanced_across_servers_and_the_model_name_is_asked_once():
    with StubServer(echo, name="m1") as a, StubServer(echo, name="m1") as b:
        backend = OpenAIBackend([a.url, b.url.removesuffix("/v1")])  # with or without /v1
        out = _run(backend, lambda m: [m.complete(MSGS, seed=i) for i in range(20)])
        assert out == [f"m1:hi:{i}" for i in range(20)]
        assert len(a.requests) == len(b.requests) == 10
        assert backend.name == "m1"


def test_concurrency_is_bounded():
    live, peak = [0], [0]

    async def slow(body: dict) -> list[str]:
        live[0] += 1
        peak[0] = max(peak[0], live[0])
        await asyncio.sleep(0.05)
        live[0] -= 1
        return ["ok"]

    with StubServer(slow) as srv:
        out = _run(OpenAIBackend([srv.url], concurrency=4, model="x"), lambda m: [m.complete(MSGS) for _ in range(24)])
    assert out == ["ok"] * 24 and peak[0] == 4


def test_server_errors_are_retried_with_backoff():
    calls = [0]

    def flaky(body: dict) -> list[str]:
        calls[0] += 1
        if calls[0] <= 2:
            raise RuntimeError("overloaded")  # the server answers 500
        return ["fine"]

    with StubServer(flaky) as srv:
        out = _run(OpenAIBackend([srv.url], model="x", backoff=0.01), lambda m: [m.complete(MSGS)])
    assert out == ["fine"] and calls[0] == 3


def test_a_client_error_is_not_retried():
    with StubServer(echo) as srv:
        backend = OpenAIBackend([srv.url.removesuffix("/v1") + "/wrong"], model="x", backoff=0.01)
        with pytest.raises(UserError, match="HTTP 404"):
            _run(backend, lambda m: [m.complete(MSGS)])
        assert srv.requests == []


def test_unreachable_server_is_a_user_error_after_the_retries():
    backend = OpenAIBackend(["http://127.0.0.1:9/v1"], model="x", retries=2, backoff=0.01)
    with pytest.raises(UserError, match="unreachable after 3 tries"):
        _run(backend, lambda m: [m.complete(MSGS)])


def test_a_reply_that_is_not_a_chat_completion_is_a_user_error():
    with StubServer(lambda body: []) as srv:  # no choices
        with pytest.raises(UserError, match="not a chat completion"):
            _run(OpenAIBackend([srv.url], model="x"), lambda m: [m.complete(MSGS)])
