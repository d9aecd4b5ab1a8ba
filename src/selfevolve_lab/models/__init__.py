"""Generation backends behind one small interface: chat messages in, completions out.

``openai``: any OpenAI-compatible server (vLLM, SGLang, hosted APIs, `selfevolve serve`), async.
``transformers``: a local AutoModelForCausalLM from a path. ``vllm``: offline ``vllm.LLM`` (optional extra).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from selfevolve_lab.errors import UserError

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


@dataclass(frozen=True)
class Reply:
    """One completion and what the backend knows about it (None: it cannot tell)."""

    text: str  # the answer: "" when the model gave none (a reasoning model cut off while thinking)
    # the chain of thought a server's reasoning parser split off the answer (vLLM/SGLang reasoning_content)
    reasoning: str | None = None
    finish_reason: str | None = None  # "stop", or "length": cut off at max_tokens
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


class Backend(Protocol):
    name: str  # the model it serves: for a server, the id the requests named

    async def complete(self, messages: Messages, *, temperature: float, max_tokens: int, seed: int | None) -> Reply:
        """One completion for one chat."""
        ...

    async def close(self) -> None: ...


def check_model_dir(path: str | Path) -> None:
    """A local model is a Hugging Face model directory (or a LoRA adapter's): anything else is bad input, said
    before the libraries try to read it (a bench directory made the tokenizer blame sentencepiece in a 67-line
    traceback) and before a command writes its output."""
    if not Path(path).exists():
        raise UserError(f"model {str(path)!r}: no such local path (use an http(s):// URL for a server)")
    if not any((Path(path) / f).is_file() for f in ("config.json", "adapter_config.json")):
        raise UserError(f"{path}: not a model directory (no config.json, nor a LoRA adapter's adapter_config.json); "
                        "give a Hugging Face model directory, or an http(s):// URL for a server")


BACKENDS = ("auto", "openai", "transformers", "vllm")  # auto: openai for a URL, transformers for a local path


def load_backend(model: str, *, backend: str = "auto", concurrency: int = 32, served_model: str | None = None,
                 api_key: str | None = None, extra_body: dict[str, Any] | None = None):
    """URL -> openai backend; existing local path -> transformers (or vllm with backend="vllm").

    ``extra_body``: fields added to every request body (top_p, stop, a server's own options): servers only."""
    if backend not in BACKENDS:
        raise UserError(f"backend {backend!r}: not one of {', '.join(BACKENDS)}")
    if backend == "openai" or (backend == "auto" and model.startswith(("http://", "https://"))):
        from selfevolve_lab.models.openai_backend import OpenAIBackend

        return OpenAIBackend(model.split(","), concurrency=concurrency, model=served_model, api_key=api_key,
                             extra_body=extra_body)
    if extra_body:
        raise UserError(f"model {model!r} is local: {', '.join(sorted(extra_body))} go to an OpenAI-compatible "
                        "server only (use an http(s):// URL)")
    check_model_dir(model)
    if backend == "vllm":
        from selfevolve_lab.models.vllm_backend import VLLMBackend

        return VLLMBackend(model)
    from selfevolve_lab.models.hf_backend import TransformersBackend

    return TransformersBackend(model)
