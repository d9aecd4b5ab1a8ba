"""Novel names: pronounceable, deterministic per seed, collision-free.

Names alternate consonants and vowels like the official SE-Bench ones (falekef, kocito): 5 to 7 letters
for APIs, 3 consonants for submodules (rfx), Capitalized for classes. A name is never a Python keyword
or builtin, never an identifier of the library, and never an English word (so prose stays unambiguous).
Determinism: one ``random.Random(seed)`` drawn over the *sorted* original names.
"""

from __future__ import annotations

import builtins
import gzip
import keyword
import random
from functools import cache
from importlib import resources

CONSONANTS = "bcdfghjklmnprstvwxz"
VOWELS = "aeiou"
MODULE_LETTERS = "bcdfghjklmnpqrstvwxz"


@cache
def english_words() -> frozenset[str]:
    data = resources.files("selfevolve_lab.obfuscate").joinpath("data/english_words.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split())


def reserved() -> frozenset[str]:
    return frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))


class NameGenerator:
    def __init__(self, seed: int, forbidden: set[str] | frozenset[str] = frozenset()):
        self.rng = random.Random(seed)
        self.used: set[str] = set()
        self.forbidden = {f.lower() for f in forbidden} | reserved() | english_words()

    def _ok(self, name: str) -> bool:
        return name.lower() not in self.forbidden and name.lower() not in self.used

    def _take(self, name: str) -> str:
        self.used.add(name.lower())
        return name

    def api(self) -> str:
        while True:
            n = self.rng.randint(5, 7)
            start = self.rng.random() < 0.8  # mostly consonant-first, like the official names
            letters = [self.rng.choice(CONSONANTS if (i % 2 == 0) == start else VOWELS) for i in range(n)]
            name = "".join(letters)
            if self._ok(name):
                return self._take(name)

    def cls(self) -> str:
        return self.api().capitalize()

    def module(self) -> str:
        while True:
            name = "".join(self.rng.choice(MODULE_LETTERS) for _ in range(3))
            if self._ok(name):
                return self._take(name)
