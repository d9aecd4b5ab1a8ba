"""`selfevolve serve`: an OpenAI-compatible server over a local transformers model.

A laptop user gets the same workflow as a GPU user with vLLM, and the tests exercise the openai backend end
to end. Generation is serialized: the model runs one batch at a time (in a thread, so the server keeps
answering /v1/models and /metrics meanwhile).
"""

from __future__ import annotations

import asyncio
from typing import Any


def make_app(model_path: str, **caps: Any):
    """``caps``: the chat app's api_key, max_n and max_tokens_cap."""
    from selfevolve_lab.models.hf_backend import TransformersBackend
    from selfevolve_lab.models.server import make_app as chat_app

    backend = TransformersBackend(model_path)

    async def answer(body: dict[str, Any]) -> list[str]:
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        return await asyncio.to_thread(backend.generate, [body["messages"]] * int(body.get("n") or 1),
                                       temperature=float(body.get("temperature") or 0.0), max_tokens=max_tokens,
                                       seed=body.get("seed"))

    return chat_app(answer, model_path.rstrip("/").rsplit("/", 1)[-1], **caps)
