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
        for p in sorted((ROOT / "src" / "selfevolve_lab" / d).rglob("*.py")):
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


@pytest.fixture(scope="session")
def numpy_bench():
    """The NumPy bench (seed 42, package ``zwc``), rebuilt only when the obfuscate sources change."""
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.obfuscate.build import build_bench

    CACHE.mkdir(exist_ok=True)
    out = CACHE / f"numpy-42-{_source_hash('obfuscate', 'profiles')}"
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # concurrent pytest runs share one build
        if not (out / "manifest.json").exists():
            build_bench("numpy", out, seed=42, name="zwc")
    return Bench.open(out)


MINI_PACKAGE = '''
"""A hand-written stand-in for a built package (tests only): a few renamed numpy functions."""
import importlib as _il

from zwc._core import unwrap as _unwrap, wrap as _wrap

_lib = _il.import_module("num" + "py")


def _f(fn):
    def call(*args, **kw):
        return _wrap(fn(*[_unwrap(a) for a in args], **{k: _unwrap(v) for k, v in kw.items()}))
    return call


yitaf = _f(_lib.array)        # array
falekef = _f(_lib.abs)        # abs
kocito = _f(_lib.mean)        # mean
bafuro = _f(_lib.bitwise_and)  # bitwise_and
jegedi = _f(_lib.zeros)       # zeros
from zwc._core import Kobafe  # noqa: E402  the array type
'''

MINI_CORE = '''
import importlib as _il

_lib = _il.import_module("num" + "py")


class Kobafe:
    __slots__ = ("_v",)

    def __init__(self, v):
        self._v = v

    def gifune(self):  # tolist
        return self._v.tolist()

    def sosuba(self, axis=None):  # sum
        return wrap(self._v.sum(axis=axis))

    def __add__(self, o):
        return wrap(self._v + unwrap(o))

    def __mul__(self, o):
        return wrap(self._v * unwrap(o))

    __rmul__ = __mul__

    def __len__(self):
        return len(self._v)

    def __iter__(self):
        return (wrap(x) for x in self._v)

    def __getitem__(self, i):
        return wrap(self._v[i])

    def __repr__(self):
        return "Kobafe(" + repr(self._v.tolist()) + ")"


def wrap(v):
    return Kobafe(v) if isinstance(v, _lib.ndarray) else v


def unwrap(v):
    if isinstance(v, Kobafe):
        return v._v
    if isinstance(v, (list, tuple)):
        return type(v)(unwrap(x) for x in v)
    return v


def is_proxy(v):
    return isinstance(v, Kobafe)
'''

MINI_MAPPING = {
    "numpy.array": "zwc.yitaf", "numpy.abs": "zwc.falekef", "numpy.mean": "zwc.kocito",
    "numpy.bitwise_and": "zwc.bafuro", "numpy.zeros": "zwc.jegedi", "numpy.ndarray": "zwc.Kobafe",
    "numpy.ndarray.tolist": "zwc.Kobafe.gifune", "numpy.ndarray.sum": "zwc.Kobafe.sosuba",
}


@pytest.fixture(scope="session")
def mini_bench(tmp_path_factory):
    """A tiny hand-made bench (package zwc wrapping 5 numpy functions); independent of the builder."""
    import json

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.schema import BenchManifest

    root = tmp_path_factory.mktemp("mini") / "bench"
    pkg = root / "package" / "zwc"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text(MINI_PACKAGE)
    (pkg / "_core.py").write_text(MINI_CORE)
    (root / "mapping.json").write_text(json.dumps({"library": "numpy", "package": "zwc", "names": MINI_MAPPING}))
    manifest = BenchManifest(library="numpy", library_version="test", package="zwc", seed=0)
    (root / "manifest.json").write_text(manifest.model_dump_json())
    (root / "docs.jsonl").write_text("")
    return Bench.open(root)


# The official layout (main, linalg and their _reverse sections) with NumPy 1 names: trapz and round_ have
# a NumPy 2 successor, asfarray has none (the build skips it with allow_missing).
OFFICIAL_MAPPING = ROOT / "tests" / "data" / "official_mappings.json"


@pytest.fixture(scope="session")
def official_bench(tmp_path_factory):
    """A NumPy bench built with a small official-layout mapping (as the official SE-Bench data needs)."""
    from selfevolve_lab.obfuscate.build import build_bench

    root = tmp_path_factory.mktemp("official")
    return build_bench("numpy", root / "bench", seed=42, name="zwc", mapping_file=OFFICIAL_MAPPING, allow_missing=True)


@pytest.fixture(scope="session")
def numpy_tasks(numpy_bench):
    """The NumPy bench with its generated task sets, regenerated only when the pipeline's sources change."""
    from selfevolve_lab.jsonl import atomic_dir
    from selfevolve_lab.tasks.generate import build_tasks

    stamp = numpy_bench.root / "tasks" / f".source-{_source_hash('tasks', 'judge', 'sandbox', 'obfuscate', 'profiles')}"
    with open(CACHE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            splits, report = build_tasks(numpy_bench, 0)
            with atomic_dir(numpy_bench.root / "tasks") as tmp:
                for split, tasks in splits.items():
                    (tmp / f"{split}.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in tasks))
                (tmp / stamp.name).write_text("")
    return numpy_bench
