"""The CPU micro-world: a tiny model and tokenizer a laptop trains in minutes."""
