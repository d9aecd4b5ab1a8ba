"""Argument generators: seeded, JSON-safe values (lists, numbers) shaped to fit an API's domain."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    param: str  # parameter name used in task signatures
    array: bool  # converted to an array by the reference
    words: str  # how descriptions talk about it


KINDS: dict[str, Kind] = {
    "real": Kind("x", True, "a list of real numbers"),
    "pos": Kind("x", True, "a list of positive real numbers"),
    "unit": Kind("x", True, "a list of numbers strictly between -1 and 1"),
    "int": Kind("x", True, "a list of non-negative integers"),
    "mat": Kind("a", True, "a square matrix given as a list of rows"),
    "vecmat": Kind("b", True, "a list of numbers with one entry per matrix row"),
    "real2d": Kind("x", True, "a two-dimensional table of real numbers (a list of rows)"),
    "vec3": Kind("v", True, "a list of three real numbers"),
    "small": Kind("n", False, "a small positive integer"),
    "axis": Kind("axis", False, "an axis index (0 or 1)"),
    "seed": Kind("seed", False, "an integer seed for the pseudo-random generator"),
    "size": Kind("size", False, "how many values to draw"),
    "prob": Kind("p", False, "a probability strictly between 0 and 1"),
    "sorted": Kind("bins", True, "an increasing list of real numbers"),
}


def make_value(kind: str, seed: int, slot: int, train: bool = False) -> Any:
    # Arguments of one call share a length (seeded by the call), values are seeded per slot.
    shape_rng = random.Random(seed)
    length = shape_rng.randint(3, 6)
    dim = shape_rng.randint(2, 4)
    rng = random.Random(seed * 31 + slot)
    if kind == "real":
        return [round(rng.uniform(-5, 5), 3) for _ in range(length)]
    if kind == "pos":
        return [round(rng.uniform(0.5, 5), 3) for _ in range(length)]
    if kind == "unit":
        return [round(rng.uniform(-0.9, 0.9), 3) for _ in range(length)]
    if kind == "int":
        return [rng.randint(0, 255) for _ in range(length)]
    if kind == "mat":  # diagonally dominant: well-conditioned and invertible
        m = [[round(rng.uniform(-1, 1), 2) for _ in range(dim)] for _ in range(dim)]
        for i in range(dim):
            m[i][i] = round(m[i][i] + dim + 1, 2)
        return m
    if kind == "vecmat":
        return [round(rng.uniform(-5, 5), 2) for _ in range(dim)]
    if kind == "real2d":
        return [[round(rng.uniform(-5, 5), 2) for _ in range(dim)] for _ in range(length)]
    if kind == "vec3":
        return [round(rng.uniform(-5, 5), 2) for _ in range(3)]
    if kind == "small":  # tiny domain: train and test draw from disjoint ranges so inputs never repeat
        return rng.randint(7, 11) if train else rng.randint(2, 6)
    if kind == "axis":
        return rng.randint(0, 1)
    if kind == "seed":
        return rng.randint(0, 10_000)
    if kind == "prob":
        return round(rng.uniform(0.1, 0.9), 2)
    if kind == "sorted":
        return sorted(round(rng.uniform(-5, 5), 2) for _ in range(4))
    if kind == "size":
        return rng.randint(3, 6)
    raise ValueError(f"unknown input kind {kind!r}")
