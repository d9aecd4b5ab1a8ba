"""A local transformers model (or a LoRA adapter directory, merged into its base: `adapters`): chat template,
batched generation, CPU or GPU.

Greedy requests that are pending together (the eval harness sends many at once) are generated as one
left-padded batch: the same tokens as one by one, several times faster (``benchmarks/hf_batching.py``).
Sampled requests stay one per call, so each keeps its own seed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from selfevolve_lab.models import Messages, Reply, check_model_dir


class TransformersBackend:
    def __init__(self, path: str, *, device: str | None = None, batch_size: int = 16):
        check_model_dir(path)
        import torch
        from transformers import AutoTokenizer

        from selfevolve_lab.models.adapters import load_causal_lm

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tok = AutoTokenizer.from_pretrained(path)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = load_causal_lm(path).to(self.device).eval()  # a LoRA run's adapter: merged into its base
        self.name = path
        self.lock = threading.Lock()
        self.batch_size = max(1, batch_size)
        self._pending: dict[int, list[tuple[Messages, asyncio.Future]]] = {}  # max_tokens -> waiting greedy calls

    def generate(self, chats: list[Messages], *, temperature: float = 0.0, max_tokens: int = 256,
                 seed: int | None = None) -> list[str]:
        return [r.text for r in self.replies(chats, temperature=temperature, max_tokens=max_tokens, seed=seed)]

    def _run_generate(self, enc, temperature: float, max_tokens: int, seed: int | None, **extra):
        """One `generate` call under the backend's lock: greedy at temperature 0, seeded when a seed is given."""
        kw = {"do_sample": temperature > 0, "max_new_tokens": max_tokens, "pad_token_id": self.tok.pad_token_id,
              **extra}
        if temperature > 0:
            kw["temperature"] = temperature
        with self.lock, self.torch.no_grad():
            if seed is not None:
                self.torch.manual_seed(seed)
            return self.model.generate(**enc, **kw)

    def replies(self, chats: list[Messages], *, temperature: float = 0.0, max_tokens: int = 256,
                seed: int | None = None) -> list[Reply]:
        prompts = [self.tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        out = self._run_generate(enc, temperature, max_tokens, seed)
        new = out[:, enc["input_ids"].shape[1]:]
        texts = self.tok.batch_decode(new, skip_special_tokens=True)
        # A row that stopped early ends in an end token, then padding; one cut off fills max_tokens with text.
        ends = {self.tok.pad_token_id, self.tok.eos_token_id, *_ids(self.model.generation_config.eos_token_id)}
        return [Reply(text=t, finish_reason="length" if len(row) == max_tokens and int(row[-1]) not in ends else "stop",
                      prompt_tokens=int(mask.sum()), completion_tokens=sum(int(x) not in ends for x in row))
                for t, row, mask in zip(texts, new, enc["attention_mask"], strict=True)]

    def extend(self, chat: Messages, prefix: str, *, stop: Callable[[str], int | None], temperature: float,
               max_tokens: int, seed: int | None = None) -> tuple[str, int, bool]:
        """Sample one continuation of ``chat``'s reply after ``prefix`` (the text the reply starts with) until
        ``stop(new_text)`` returns a cut index, or ``max_tokens``. -> (the new text, cut there when stopped;
        tokens generated; whether ``stop`` fired). Without ``seed`` the sampler continues torch's RNG, so a
        writer that calls this once per field stays reproducible from its first call's seed."""
        torch = self.torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        text = self.tok.apply_chat_template(chat, tokenize=False, add_generation_prompt=True) + prefix
        enc = self.tok([text], return_tensors="pt", add_special_tokens=False).to(self.device)
        start, tok, cut = enc["input_ids"].shape[1], self.tok, []

        class _Stop(StoppingCriteria):
            def __call__(self, input_ids, scores, **kwargs):
                at = stop(tok.decode(input_ids[0, start:], skip_special_tokens=True))
                if at is not None:
                    cut.append(at)
                return torch.tensor([at is not None], device=input_ids.device)

        out = self._run_generate(enc, temperature, max(1, max_tokens), seed,
                             stopping_criteria=StoppingCriteriaList([_Stop()]))
        new = out[0, start:]
        decoded = self.tok.decode(new, skip_special_tokens=True)
        return (decoded[: cut[0]] if cut else decoded), int(new.numel()), bool(cut)

    async def complete(self, messages: Messages, *, temperature: float = 0.0, max_tokens: int = 256,
                       seed: int | None = None) -> Reply:
        if temperature > 0 or self.batch_size == 1:
            return (await asyncio.to_thread(self.replies, [messages], temperature=temperature,
                                            max_tokens=max_tokens, seed=seed))[0]
        fut = asyncio.get_running_loop().create_future()
        queue = self._pending.setdefault(max_tokens, [])
        queue.append((messages, fut))
        if len(queue) == 1:  # the first waiter drains the queue; the others only wait for their result
            asyncio.create_task(self._drain(max_tokens))
        return await fut

    async def _drain(self, max_tokens: int) -> None:
        await asyncio.sleep(0)  # let the calls scheduled in the same turn join the batch
        queue = self._pending[max_tokens]
        while queue:
            batch, queue[:] = queue[: self.batch_size], queue[self.batch_size:]
            try:
                replies = await asyncio.to_thread(self.replies, [m for m, _ in batch], max_tokens=max_tokens)
            except Exception as e:  # every waiter of the batch gets the error
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(e)
                continue
            for (_, fut), reply in zip(batch, replies, strict=True):
                if not fut.done():
                    fut.set_result(reply)
        del self._pending[max_tokens]

    async def close(self) -> None:
        pass


def _ids(eos: int | list[int] | None) -> list[int]:
    """A generation config's end tokens: one id, a list of them, or none."""
    return [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
