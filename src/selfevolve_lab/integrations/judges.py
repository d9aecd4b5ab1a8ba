"""The judges other harnesses' scoring hooks share: one per (bench, workers), started on first use and
closed at exit (their hooks score one completion at a time and have no teardown of their own)."""

from __future__ import annotations

import atexit
import threading
from typing import Any

_JUDGES: dict[tuple[str, int | None], Any] = {}
_LOCK = threading.Lock()


def shared_judge(bench_root: str, workers: int | None = None) -> Any:
    """The judge of the bench at ``bench_root``; the first call starts its sandbox pool."""
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.judge import Judge, start_judge

    key = (str(Bench.open(bench_root).root), workers)
    with _LOCK:
        if key not in _JUDGES:
            _JUDGES[key] = start_judge(Judge, Bench.open(key[0]), workers)
        return _JUDGES[key]


@atexit.register
def close_judges() -> None:
    """Close every shared judge and its sandbox pool."""
    with _LOCK:
        while _JUDGES:
            _JUDGES.popitem()[1].close()
