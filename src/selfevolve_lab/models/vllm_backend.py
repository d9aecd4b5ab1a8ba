"""Offline vLLM (optional extra, GPU): imported only when asked for.

A ``vllm.LLM`` is not thread-safe and batches best when given many prompts at once, so requests that arrive
while a call runs wait for the next *wave*: one ``LLM.chat`` over every pending chat, each with its own
sampling settings, and never two calls on the engine at the same time. Untested against a real vLLM here
(no GPU in CI); `tests/test_vllm_backend.py` checks the waves against a stand-in with ``LLM.chat``'s signature.
"""

from __future__ import annotations

import asyncio
from typing import Any

from selfevolve_lab.errors import UserError, missing_extra
from selfevolve_lab.models import Messages, Reply


def _vllm_params(**kw: Any) -> Any:
    from vllm import SamplingParams

    return SamplingParams(**kw)


class VLLMBackend:
    def __init__(self, path: str, *, llm: Any = None, sampling_params=_vllm_params):
        if llm is None:
            from selfevolve_lab.models.adapters import adapter_config

            if adapter_config(path) is not None:
                raise UserError(f"{path} is a LoRA adapter: the vllm backend takes full models; use the "
                                f"transformers backend (it merges the adapter) or serve the base with vLLM's --lora-modules")
            try:
                from vllm import LLM
            except ImportError:
                raise missing_extra("vllm", "the vllm backend") from None
            llm = LLM(model=path)
        self.llm = llm
        self.name = path
        self._params = sampling_params
        self._pending: list[tuple[Messages, dict, asyncio.Future]] = []
        self._drainer: asyncio.Task | None = None
        self.waves = 0

    async def complete(self, messages: Messages, *, temperature: float = 0.0, max_tokens: int = 512,
                       seed: int | None = None) -> Reply:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((messages, {"temperature": temperature, "max_tokens": max_tokens, "seed": seed}, fut))
        if self._drainer is None or self._drainer.done():  # one drainer at a time: one call on the engine
            self._drainer = asyncio.create_task(self._drain())
        return await fut

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let the calls scheduled in the same turn join the first wave
        while self._pending:
            wave, self._pending = self._pending, []
            self.waves += 1
            try:
                outs = await asyncio.to_thread(self.llm.chat, [m for m, _, _ in wave],
                                               [self._params(**kw) for _, kw, _ in wave], use_tqdm=False)
                replies = [_reply(o) for o in outs]
                if len(replies) != len(wave):
                    raise RuntimeError(f"vLLM returned {len(replies)} outputs for {len(wave)} chats")
            except Exception as e:  # every waiter of the wave gets the error
                for _, _, fut in wave:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for (_, _, fut), reply in zip(wave, replies, strict=True):
                if not fut.done():
                    fut.set_result(reply)

    async def close(self) -> None:
        pass


def _reply(out: Any) -> Reply:
    """A ``RequestOutput``'s first completion, with what vLLM says of it when it says it."""
    first = out.outputs[0]
    prompt, tokens = getattr(out, "prompt_token_ids", None), getattr(first, "token_ids", None)
    return Reply(text=first.text, finish_reason=getattr(first, "finish_reason", None),
                 prompt_tokens=None if prompt is None else len(prompt),
                 completion_tokens=None if tokens is None else len(tokens))
