"""Generation backends behind one small interface: chat messages in, completions out.

``openai``: any OpenAI-compatible server (vLLM, SGLang, hosted APIs, `selfevolve serve`), async.
``transformers``: a local AutoModelForCausalLM from a path. ``vllm``: offline ``vllm.LLM`` (optional extra).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from selfevolve.errors import UserError

Messages = list[dict[str, str]]
# The chat template and special tokens of the models this project builds (the micro base, the tests' tiny models)
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIALS = ["<|pad|>", "<|eos|>", "<|user|>", "<|assistant|>", "<|system|>"]


class Backend(Protocol):
    name: str

    async def complete(self, messages: Messages, *, temperature: float, max_tokens: int, seed: int | None) -> str:
        """One completion for one chat."""
        ...

    async def close(self) -> None: ...


def load_backend(model: str, *, backend: str = "auto", concurrency: int = 32, served_model: str | None = None):
    """URL -> openai backend; existing local path -> transformers (or vllm with backend="vllm")."""
    if backend == "openai" or (backend == "auto" and model.startswith(("http://", "https://"))):
        from selfevolve.models.openai_backend import OpenAIBackend

        return OpenAIBackend(model.split(","), concurrency=concurrency, model=served_model)
    if not Path(model).exists():
        raise UserError(f"model {model!r}: no such local path (use an http(s):// URL for a server)")
    if backend == "vllm":
        from selfevolve.models.vllm_backend import VLLMBackend

        return VLLMBackend(model)
    from selfevolve.models.hf_backend import TransformersBackend

    return TransformersBackend(model)
