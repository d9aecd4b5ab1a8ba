"""Programmatic task sets: single-function (test_single, train) and composition (test_multi) candidates.

Candidates carry the original-library reference in ``provenance["original_reference"]``; ``validate``
decides which are kept and fills the expected outputs from the sandbox.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Iterable
from typing import Any

from selfevolve.schema import Task, TestCase
from selfevolve.tasks.describe import clean, describe, forbidden_tokens, summary_of
from selfevolve.tasks.specs import Spec, find_spec, reference_code, test_inputs, works

TRAIN_PER_API = 3
TRAIN_CANDIDATES = 5  # spares: validation may drop some
MULTI_TARGET = 340


def _stable(s: str) -> int:
    return int(hashlib.sha256(s.encode()).hexdigest()[:8], 16)


def _translate(code: str, bench: Any) -> str:
    from selfevolve.obfuscate.translate import translate_code

    return translate_code(code, bench.mapping, library=bench.library, package=bench.package)


def _task(bench: Any, tid: str, kind: str, apis: list[str], prompt: str, params: list[str], code: str,
          inputs: list[dict], seed: int, template: int) -> Task:
    return Task(id=tid, kind=kind, apis=[bench.mapping.get(a, a) for a in apis], prompt=prompt,
                entry_point="solve", signature=f"def solve({', '.join(params)}):",
                tests=[TestCase(input=kw) for kw in inputs], reference=_translate(code, bench),
                provenance={"generator": "programmatic", "seed": seed, "template": template,
                            "original_apis": apis, "original_reference": code})


def function_apis(bench: Any) -> list[str]:
    return sorted(d.original for d in bench.docs if d.kind == "function")


def find_specs(bench: Any, limit: int | None = None, progress: bool = False) -> list[Spec]:
    apis = function_apis(bench)[:limit] if limit else function_apis(bench)
    it: Iterable[str] = apis
    if progress:
        from tqdm import tqdm

        it = tqdm(apis, desc="specs", unit="api")
    return [s for a in it if (s := find_spec(a)) is not None]


def single_tasks(bench: Any, specs: list[Spec], seed: int) -> tuple[list[Task], list[Task]]:
    """(test_single, train): per API one test task and TRAIN_PER_API train tasks, disjoint seeds/templates."""
    forbidden = forbidden_tokens(bench.mapping, bench.library, bench.package)
    test, train = [], []
    for spec in specs:
        base = seed * 1_000_003 + _stable(spec.api)
        rng = random.Random(base)
        summary = clean(summary_of(spec.api), forbidden) or "Compute the result described by the inputs."
        code = reference_code(spec.api, spec.profile)
        novel = bench.mapping.get(spec.api, spec.api).rsplit(".", 1)[-1]
        t0 = rng.randrange(6)
        test.append(_task(bench, f"single/{novel}", "single", [spec.api], describe([summary], spec.profile,
                          spec.params, t0), spec.params, code, test_inputs(spec.profile, base % 100_000), base, t0))
        others = [t for t in range(6) if t != t0]
        rng.shuffle(others)
        for k in range(TRAIN_CANDIDATES):
            s = base % 100_000 + 100_000 * (k + 1)  # disjoint from the test seed
            train.append(_task(bench, f"train/{novel}/{k}", "single", [spec.api],
                               describe([summary], spec.profile, spec.params, others[k]), spec.params, code,
                               test_inputs(spec.profile, s, train=True), s, others[k]))
    return test, train


def _chain_code(apis: list[str]) -> str:
    steps = "\n".join(f"    y = np{a[len('numpy'):]}(y)" for a in apis)
    return f"import numpy as np\n\n\ndef solve(x):\n    y = np.array(x)\n{steps}\n    return np.asarray(y).tolist()\n"


def multi_tasks(bench: Any, specs: list[Spec], seed: int, target: int = MULTI_TARGET) -> list[Task]:
    """Chains of 2-4 unary APIs: elementwise steps, optionally ending in a reduction."""
    forbidden = forbidden_tokens(bench.mapping, bench.library, bench.package)
    probe = [1.5, 2.5, 0.75, 3.25]
    elementwise, reductions = [], []
    for s in specs:
        if s.profile not in (("real",), ("pos",)) or s.api.startswith("numpy.random."):
            continue
        out = works(reference_code(s.api, s.profile), [{"x": probe}, {"x": probe[::-1]}])
        if out is None:
            continue
        if out[0] == probe:
            continue  # identity-like (conversions): a step that does nothing
        if isinstance(out[0], list) and len(out[0]) == len(probe) and not isinstance(out[0][0], list):
            elementwise.append(s.api)
        elif not isinstance(out[0], list):
            reductions.append(s.api)
    rng = random.Random(seed * 7919 + 1)
    tasks: list[Task] = []
    seen: set[tuple[str, ...]] = set()
    attempts = 0
    while len(tasks) < target and attempts < target * 30 and len(elementwise) >= 2:
        attempts += 1
        n = rng.randint(2, min(4, len(elementwise) + 1))  # small benches have few elementwise APIs
        chain = rng.sample(elementwise, n - 1) + [rng.choice(reductions if rng.random() < 0.5 and reductions
                                                             else elementwise)]
        if len(set(chain)) < len(chain) or tuple(chain) in seen:
            continue
        seen.add(tuple(chain))
        code = _chain_code(chain)
        s = rng.randrange(10**6)
        for prof in (("pos",), ("unit",), ("real",)):
            inputs = test_inputs(prof, s)
            if works(code, inputs) is not None:
                break
        else:
            continue
        summaries = [clean(summary_of(a), forbidden) for a in chain]
        if not all(summaries):
            continue
        t = rng.randrange(6)
        tid = "multi/" + hashlib.sha256(json.dumps(chain).encode()).hexdigest()[:10]
        tasks.append(_task(bench, tid, "multi", chain, describe(summaries, prof, ["x"], t), ["x"], code,
                           inputs, s, t))
    return tasks
