"""The offline vLLM backend against a stand-in with ``LLM.chat``'s signature: batched waves, one call at a time."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from selfevolve_lab.models.vllm_backend import VLLMBackend


class StandIn:
    """Answers each chat with its last message and its sampling settings; fails if called concurrently."""

    def __init__(self, delay: float = 0.05, fail: bool = False):
        self.calls: list[int] = []
        self.busy = threading.Lock()
        self.delay, self.fail = delay, fail

    def chat(self, messages, sampling_params, use_tqdm=True):
        assert isinstance(messages, list) and len(messages) == len(sampling_params)
        if not self.busy.acquire(blocking=False):
            raise AssertionError("two calls on one LLM at the same time")
        try:
            self.calls.append(len(messages))
            time.sleep(self.delay)  # a wave in flight: new requests arrive meanwhile
            if self.fail:
                raise RuntimeError("CUDA out of memory")
            return [SimpleNamespace(outputs=[SimpleNamespace(text=f"{m[-1]['content']}|{p['temperature']}|{p['seed']}")])
                    for m, p in zip(messages, sampling_params, strict=True)]
        finally:
            self.busy.release()


def _chat(i: int) -> list[dict]:
    return [{"role": "user", "content": f"q{i}"}]


def test_pending_requests_go_in_waves_each_with_its_own_settings_and_never_concurrently():
    llm = StandIn()
    backend = VLLMBackend("stand-in", llm=llm, sampling_params=dict)

    async def run():
        first = [backend.complete(_chat(i), temperature=0.6, seed=i) for i in range(20)]
        later = []

        async def arrive_late():
            await asyncio.sleep(0.02)  # while the first wave runs
            later.extend(await asyncio.gather(*[backend.complete(_chat(100 + i), seed=None) for i in range(7)]))

        results = await asyncio.gather(*first, arrive_late())
        return [r.text for r in results[:-1]], [r.text for r in later]

    first, later = asyncio.run(run())
    assert first == [f"q{i}|0.6|{i}" for i in range(20)]
    assert later == [f"q{100 + i}|0.0|None" for i in range(7)]
    assert llm.calls == [20, 7] and backend.waves == 2  # two batched calls, not 27


def test_a_failing_wave_fails_each_of_its_callers_and_the_next_wave_runs():
    llm = StandIn(fail=True)
    backend = VLLMBackend("stand-in", llm=llm, sampling_params=dict)

    async def run():
        got = await asyncio.gather(*[backend.complete(_chat(i)) for i in range(3)], return_exceptions=True)
        llm.fail = False
        return got, (await backend.complete(_chat(9))).text

    got, after = asyncio.run(run())
    assert all(isinstance(g, RuntimeError) and "out of memory" in str(g) for g in got)
    assert after == "q9|0.0|None" and llm.calls == [3, 1]


def test_without_the_extra_the_backend_says_how_to_install_it():
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed")
    except ImportError:
        pass
    from selfevolve_lab.errors import UserError

    with pytest.raises(UserError, match=r"needs the 'vllm' extra"):
        VLLMBackend("some/path")
