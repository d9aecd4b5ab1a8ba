"""Reading NumPy's printed arrays (no commas) in the official records: time per element of a long print
against a short one, measured in the same run. Linear reading prints a ratio near 1; the quadratic comma
insertion this replaced took 7-44 s on one 150,000-element record (a ratio in the hundreds).

    python benchmarks/official_import.py
"""

from __future__ import annotations

import time

from selfevolve_lab.tasks.literals import read_kwargs


def per_element(n: int, repeats: int) -> float:
    text = "x=[" + " ".join(f"{i % 100}." for i in range(n)) + "]"
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        value = read_kwargs(text).value
        best = min(best, time.perf_counter() - t0)
    assert len(value["x"]) == n
    return best / n


def main() -> None:
    short, long = per_element(1_500, 20), per_element(150_000, 3)
    print(f"short print (1,500 elements): {short * 1e6:.2f} us/element (baseline)")
    print(f"long print (150,000 elements): {long * 1e6:.2f} us/element")
    print(f"ratio long/short per element: {long / short:.2f}x (1 = linear)")


if __name__ == "__main__":
    main()
