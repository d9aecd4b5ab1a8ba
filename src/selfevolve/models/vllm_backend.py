"""Offline vLLM (optional extra, GPU): imported only when asked for."""

from __future__ import annotations

import asyncio

from selfevolve.errors import UserError
from selfevolve.models import Messages


class VLLMBackend:
    def __init__(self, path: str):
        try:
            from vllm import LLM
        except ImportError:
            raise UserError("the vllm backend needs the 'vllm' extra: pip install 'selfevolve[vllm]'") from None
        self.llm = LLM(model=path)
        self.name = path

    async def complete(self, messages: Messages, *, temperature: float = 0.0, max_tokens: int = 512,
                       seed: int | None = None) -> str:
        from vllm import SamplingParams

        params = SamplingParams(temperature=temperature, max_tokens=max_tokens, seed=seed)
        out = await asyncio.to_thread(self.llm.chat, [messages], params)
        return out[0].outputs[0].text

    async def close(self) -> None:
        pass
