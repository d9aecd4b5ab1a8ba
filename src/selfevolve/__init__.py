"""selfevolve: measure how language models internalize new knowledge and improve themselves."""

__version__ = "0.1.0"
