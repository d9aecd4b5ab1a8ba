"""Test helpers: a tiny Llama-style model with a locally built tokenizer. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

from selfevolve_lab.models import build_tokenizer

DEFAULT_CORPUS = [
    "import zwc\n\ndef solve(x):\n    return zwc.array(x).tolist()\n",
    "```python\ndef solve(x):\n    return [abs(v) for v in x]\n```",
    "Write a function solve(x) that returns the absolute values of a list of numbers.",
]


def make_tiny_model(path: str | Path, *, corpus: list[str] | None = None, seed: int = 0, hidden: int = 64,
                    layers: int = 2, vocab_size: int = 512) -> Path:
    """Build and save a randomly initialised Llama model and a byte-level BPE tokenizer trained on ``corpus``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    fast = build_tokenizer(corpus or DEFAULT_CORPUS, vocab_size)
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(fast), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=2048, pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id,
                         bos_token_id=fast.eos_token_id, tie_word_embeddings=True)
    LlamaForCausalLM(config).save_pretrained(path)
    return path
