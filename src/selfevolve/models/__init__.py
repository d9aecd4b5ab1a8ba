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


def build_tokenizer(texts: list[str], vocab: int):
    """A byte-level BPE tokenizer trained on ``texts``, with SPECIALS and CHAT_TEMPLATE."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|eos|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


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
