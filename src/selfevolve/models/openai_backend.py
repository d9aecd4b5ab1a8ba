"""The OpenAI-compatible backend: async, several base URLs, bounded concurrency, retries with backoff."""

from __future__ import annotations

import asyncio
import itertools

from selfevolve.errors import UserError
from selfevolve.models import Messages


class OpenAIBackend:
    def __init__(self, base_urls: list[str], *, concurrency: int = 32, model: str | None = None, retries: int = 4,
                 timeout: float = 600.0, api_key: str = "EMPTY"):
        import openai

        self.urls = [u.rstrip("/") for u in base_urls]
        self.clients = [openai.AsyncOpenAI(base_url=u if u.endswith("/v1") else u + "/v1", api_key=api_key,
                                           max_retries=0, timeout=timeout) for u in self.urls]
        self._next = itertools.cycle(range(len(self.clients)))  # round-robin across servers
        self.sem = asyncio.Semaphore(concurrency)
        self.retries = retries
        self._model = model
        self.name = model or self.urls[0]

    async def _model_name(self, client) -> str:
        if self._model is None:
            models = await client.models.list()
            self._model = models.data[0].id
            self.name = self._model
        return self._model

    async def complete(self, messages: Messages, *, temperature: float = 0.0, max_tokens: int = 512,
                       seed: int | None = None) -> str:
        import openai

        delay = 0.5
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            client = self.clients[next(self._next)]
            try:
                async with self.sem:
                    model = await self._model_name(client)
                    r = await client.chat.completions.create(model=model, messages=messages, temperature=temperature,
                                                             max_tokens=max_tokens, seed=seed)
                return r.choices[0].message.content or ""
            except (openai.APIConnectionError, openai.APITimeoutError, openai.RateLimitError,
                    openai.InternalServerError) as e:
                last = e
                if attempt < self.retries:
                    await asyncio.sleep(delay)
                    delay *= 2
            except openai.APIStatusError as e:
                raise UserError(f"model server {self.urls}: HTTP {e.status_code}: {str(e)[:200]}") from None
        raise UserError(f"model server unreachable after {self.retries + 1} tries: {', '.join(self.urls)} ({last})")

    async def close(self) -> None:
        for c in self.clients:
            await c.close()
