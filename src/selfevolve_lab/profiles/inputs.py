"""Seeded input generators and the override type, the vocabulary of a library profile's task-spec data."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Gen = Callable[[random.Random], Any]


def floats(lo: float = -10, hi: float = 10, n: tuple[int, int] = (3, 8)) -> Gen:
    return lambda r: [round(r.uniform(lo, hi), 2) for _ in range(r.randint(*n))]


def ints(lo: int = -20, hi: int = 20, n: tuple[int, int] = (3, 8)) -> Gen:
    return lambda r: [r.randint(lo, hi) for _ in range(r.randint(*n))]


def bools(n: tuple[int, int] = (3, 8)) -> Gen:
    return lambda r: [r.random() < 0.5 for _ in range(r.randint(*n))]


def matrix(square: bool = True, lo: float = -5, hi: float = 5) -> Gen:
    def g(r: random.Random) -> list[list[float]]:
        k = r.randint(2, 4)
        c = k if square else r.randint(2, 4) + (1 if k == 4 else 0)
        m = [[round(r.uniform(lo, hi), 1) for _ in range(c)] for _ in range(k)]
        if square:
            for i in range(k):
                m[i][i] = round(m[i][i] + (k * hi if m[i][i] >= 0 else -k * hi), 1)  # well conditioned
        return m

    return g


def spd(r: random.Random) -> list[list[float]]:
    k = r.randint(2, 4)
    a = [[round(r.uniform(-2, 2), 1) for _ in range(k)] for _ in range(k)]
    return [[round(sum(a[i][t] * a[j][t] for t in range(k)) + (k if i == j else 0), 2) for j in range(k)]
            for i in range(k)]


def small_int(lo: int = 1, hi: int = 6) -> Gen:
    return lambda r: r.randint(lo, hi)


CODES = ["i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8", "c8", "c16", "b1", "<i2", ">i4", "<f8",
         ">f4", "=i8", "=u2", "<u4", ">c8", "<c16", "=f2"]


@dataclass(frozen=True)
class Override:
    args: tuple[str, ...]
    gens: tuple[Gen, ...]
    body: str  # the return expression, in original names; inputs are plain lists
    describe: str
    summary: str = ""  # behaviour, when the doc's summary line does not say it


def dates(r: random.Random) -> list[str]:
    return [f"2024-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}" for _ in range(r.randint(3, 6))]

