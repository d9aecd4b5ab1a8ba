"""A local transformers model: chat template, batched generation, CPU or GPU."""

from __future__ import annotations

import asyncio
import threading

from selfevolve.models import Messages


class TransformersBackend:
    def __init__(self, path: str, *, device: str | None = None, batch_size: int = 8):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        import selfevolve.micro.model  # noqa: F401  (registers the micro-world's model class with the Auto classes)

        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tok = AutoTokenizer.from_pretrained(path)
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(path).to(self.device).eval()
        self.name = path
        self.lock = threading.Lock()

    def generate(self, chats: list[Messages], *, temperature: float = 0.0, max_tokens: int = 256,
                 seed: int | None = None) -> list[str]:
        torch = self.torch
        prompts = [self.tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in chats]
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        kw = {"do_sample": temperature > 0, "max_new_tokens": max_tokens, "pad_token_id": self.tok.pad_token_id}
        if temperature > 0:
            kw["temperature"] = temperature
        with self.lock, torch.no_grad():
            if seed is not None:
                torch.manual_seed(seed)
            out = self.model.generate(**enc, **kw)
        return self.tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    async def complete(self, messages: Messages, *, temperature: float = 0.0, max_tokens: int = 256,
                       seed: int | None = None) -> str:
        return (await asyncio.to_thread(self.generate, [messages], temperature=temperature, max_tokens=max_tokens,
                                        seed=seed))[0]

    async def close(self) -> None:
        pass
