"""`selfevolve serve`: an OpenAI-compatible server over a local transformers model.

A laptop user gets the same workflow as a GPU user with vLLM, and the tests exercise the openai backend end
to end. Generation is serialized: the model runs one batch at a time (in a thread, so the server keeps
answering /v1/models and /metrics meanwhile).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any


def make_app(model_path: str, **caps: Any):
    """``caps``: the chat app's api_key, max_n and max_tokens_cap."""
    from selfevolve_lab.models.hf_backend import TransformersBackend
    from selfevolve_lab.models.server import make_app as chat_app

    backend = TransformersBackend(model_path)
    name = model_path.rstrip("/").rsplit("/", 1)[-1]

    async def answer(body: dict[str, Any]) -> dict:
        max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens") or 256)
        replies = await asyncio.to_thread(backend.replies, [body["messages"]] * int(body.get("n") or 1),
                                          temperature=float(body.get("temperature") or 0.0), max_tokens=max_tokens,
                                          seed=body.get("seed"))
        # Each choice's finish reason ("length": cut off at max_tokens) and the tokens counted, as vLLM gives
        # them: eval's truncation count and per-sample usage read these.
        prompt = replies[0].prompt_tokens or 0
        completion = sum(r.completion_tokens or 0 for r in replies)
        return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
                "model": body.get("model") or name,
                "choices": [{"index": i, "finish_reason": r.finish_reason or "stop",
                             "message": {"role": "assistant", "content": r.text}} for i, r in enumerate(replies)],
                "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                          "total_tokens": prompt + completion}}

    return chat_app(answer, name, **caps)
