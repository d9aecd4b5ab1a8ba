"""The openai backend against real local HTTP servers: balancing, bounded concurrency, retries, errors."""

from __future__ import annotations

import asyncio

import pytest

from selfevolve_lab.errors import UserError
from selfevolve_lab.models.openai_backend import OpenAIBackend
from selfevolve_lab.models.server import StubServer

MSGS = [{"role": "user", "content": "hi"}]


def echo(body: dict) -> list[str]:
    return [f"{body['model']}:{body['messages'][-1]['content']}:{body.get('seed')}"]


def _run(backend: OpenAIBackend, coros):
    async def go():
        try:
            return [r.text for r in await asyncio.gather(*coros(backend))]
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


def test_greedy_requests_sent_together_are_batched_and_give_the_same_tokens():
    """The transformers backend batches pending greedy calls; each caller still gets its own answer."""
    import asyncio
    from pathlib import Path

    import torch

    from selfevolve_lab.models.hf_backend import TransformersBackend

    torch.set_num_threads(1)
    base = Path(__file__).resolve().parents[1] / "micro-base"
    backend = TransformersBackend(str(base), batch_size=4)
    chats = [[{"role": "user", "content": f"Write a function `solve(x)` that returns the {w} of a list `x`."}]
             for w in ("sum", "mean", "maximum", "cumulative sum", "sorted copy", "absolute values",
                       "square roots", "product", "minimum", "length")]
    one = [backend.generate([c], max_tokens=24)[0] for c in chats]
    calls = []
    real = backend.replies
    backend.replies = lambda cs, **kw: calls.append(len(cs)) or real(cs, **kw)

    async def together():
        return await asyncio.gather(*(backend.complete(c, max_tokens=24) for c in chats))

    replies = asyncio.run(together())
    assert [r.text for r in replies] == one
    assert {r.finish_reason for r in replies} <= {"stop", "length"} and all(r.completion_tokens <= 24 for r in replies)
    assert calls == [4, 4, 2]  # batches of at most batch_size, nobody left waiting
    assert len(set(one)) > 1  # the prompts are told apart, so a mixed-up order would show


def test_a_failing_batch_fails_each_of_its_callers():
    import asyncio
    from pathlib import Path

    import pytest

    from selfevolve_lab.models.hf_backend import TransformersBackend

    backend = TransformersBackend(str(Path(__file__).resolve().parents[1] / "micro-base"), batch_size=2)

    def broken(cs, **kw):
        raise RuntimeError("out of memory")

    backend.replies = broken

    async def together():
        return await asyncio.gather(*(backend.complete([{"role": "user", "content": "x"}]) for _ in range(3)),
                                    return_exceptions=True)

    errors = asyncio.run(together())
    assert [type(e) for e in errors] == [RuntimeError] * 3
    with pytest.raises(RuntimeError):
        asyncio.run(backend.complete([{"role": "user", "content": "x"}]))


def test_a_lora_adapter_directory_generates_as_its_merged_base_in_the_backend_and_serve(tmp_path, monkeypatch):
    """An adapter directory (a --lora run's RUN/model) loads as its base with the adapter merged: the backend's
    tokens are the PEFT model's own, not the base's; `serve` loads it too; vllm refuses it in one line."""
    from pathlib import Path

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import selfevolve_lab.models.micro  # noqa: F401  registers the micro base's model class
    from selfevolve_lab.evaluate.serve import make_app
    from selfevolve_lab.models.adapters import absolute_base
    from selfevolve_lab.models.hf_backend import TransformersBackend
    from selfevolve_lab.models.vllm_backend import VLLMBackend

    torch.set_num_threads(1)
    base = Path(__file__).resolve().parents[1] / "micro-base"
    torch.manual_seed(0)
    monkeypatch.chdir(base.parent)  # PEFT records the base as given: here a relative path, made absolute
    peft = get_peft_model(AutoModelForCausalLM.from_pretrained("micro-base"),
                          LoraConfig(r=4, lora_alpha=64, target_modules="all-linear", init_lora_weights=False))
    adapter = tmp_path / "adapter"
    peft.save_pretrained(adapter)
    AutoTokenizer.from_pretrained(base).save_pretrained(adapter)
    absolute_base(adapter)
    monkeypatch.chdir(tmp_path)
    chat = [[{"role": "user", "content": "Write a function `solve(x)` that returns the sum of a list `x`."}]]
    tok = AutoTokenizer.from_pretrained(base)
    ids = tok(tok.apply_chat_template(chat[0], tokenize=False, add_generation_prompt=True), return_tensors="pt",
              add_special_tokens=False)
    with torch.no_grad():
        want = tok.decode(peft.eval().generate(**ids, max_new_tokens=16, do_sample=False,
                                               pad_token_id=tok.pad_token_id)[0, ids["input_ids"].shape[1]:],
                          skip_special_tokens=True)
    got = TransformersBackend(str(adapter)).generate(chat, max_tokens=16)[0]
    assert got == want != TransformersBackend(str(base)).generate(chat, max_tokens=16)[0]
    make_app(str(adapter))  # serve's backend is the one above
    with pytest.raises(UserError, match="is a LoRA adapter"):
        VLLMBackend(str(adapter))
