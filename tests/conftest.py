"""Shared fixtures. Areas may append fixtures here; keep each one documented and session-scoped if costly."""

from __future__ import annotations

import fcntl
import hashlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".pytest-bench-cache"  # git-ignored; a fresh clone builds once per session


def _source_hash(*dirs: str) -> str:
    h = hashlib.sha256()
    for d in dirs:
        for p in sorted((ROOT / "src" / "selfevolve" / d).rglob("*.py")):
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def numpy_bench():
    """The NumPy bench (seed 42, package ``zwc``), rebuilt only when the obfuscate sources change."""
    from selfevolve.bench import Bench
    from selfevolve.obfuscate.build import build_bench

    CACHE.mkdir(exist_ok=True)
    out = CACHE / f"numpy-42-{_source_hash('obfuscate')}"
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent pytest runs share one build
        if not (out / "manifest.json").exists():
            build_bench("numpy", out, seed=42, name="zwc")
    return Bench.open(out)
