"""LLM task generator (the paper's pipeline): a model writes a problem + test inputs + reference in the
original library; N models solve it; the tests whose outputs all solvers and the reference agree on (run in
the sandbox, translated to the novel package) are kept; the task is stored in novel names.

Talks to any OpenAI-compatible ``base_url`` through the openai backend (retries included).
"""

from __future__ import annotations

import json
import re
from typing import Any

from selfevolve_lab.schema import Task, TestCase
from selfevolve_lab.tasks.formats import parse_kwargs

SIG = re.compile(r"\s*def\s+(\w+)\s*\(")

ASK = """Write a short programming problem that is naturally solved with the Python function `{api}`
(import numpy as np). Do not name the function or the library in the problem text.
Reply with one JSON object with keys: "query" (the problem text), "function_name" (a line like
"def solve(x):"), "test_inputs" (a list of 5 strings like "x=[1, 2, 3]"), "reference" (a complete solution
that imports numpy as np and returns plain Python values)."""
SOLVE = "Solve this problem in Python; reply with one ```python code block defining `{entry}`.\n\n{query}"


def _json_object(text: str) -> dict[str, Any]:
    m = re.search(r"\{.*\}", text, re.S)
    if not m:
        raise ValueError("no JSON object in the reply")
    obj = json.loads(m.group(0))
    if not isinstance(obj, dict):
        raise ValueError("reply is not a JSON object")
    return obj


def _chat(client: Any, model: str, content: str) -> str:
    backend, loop = client
    return loop.run_until_complete(backend.complete([{"role": "user", "content": content}], temperature=0.0,
                                                    max_tokens=2048, model=model)).text


def generate_llm(bench: Any, url: str, model: str, solvers: list[str], apis: list[str],
                 judge: Any, seed: int = 0, min_tests: int = 2) -> tuple[list[Task], dict[str, int]]:
    import asyncio

    from selfevolve_lab.models.openai_backend import OpenAIBackend

    loop = asyncio.new_event_loop()
    client = (OpenAIBackend([url], timeout=120), loop)
    try:
        return _generate(bench, client, model, solvers, apis, judge, seed, min_tests)
    finally:
        loop.run_until_complete(client[0].close())
        loop.close()


def _generate(bench: Any, client: Any, model: str, solvers: list[str], apis: list[str], judge: Any, seed: int,
              min_tests: int) -> tuple[list[Task], dict[str, int]]:
    from selfevolve_lab.judge.extract import extract_code
    from selfevolve_lab.obfuscate.leaks import Detector
    from selfevolve_lab.obfuscate.translate import translate_code
    from selfevolve_lab.sandbox import RunRequest

    detector = Detector(bench.library, set(bench.mapping), set())
    novel_names = {n.rsplit(".", 1)[-1] for n in bench.mapping.values()}

    def leaks(text: str) -> bool:
        return bool(detector.scan(text)) or bool(set(re.findall(r"[A-Za-z_]\w*", text)) & novel_names)

    def tr(code: str) -> str:
        return translate_code(code, bench.mapping, library=bench.library, package=bench.package)

    tasks, dropped = [], {}
    for api in apis:
        try:
            spec = _json_object(_chat(client, model, ASK.format(api=api)))
            sig = str(spec["function_name"]).strip()
            entry = SIG.match(sig).group(1)  # type: ignore[union-attr]
            inputs = [parse_kwargs(str(s)) for s in spec["test_inputs"]]
            query, reference = str(spec["query"]), str(spec["reference"])
        except (ValueError, KeyError, TypeError, AttributeError, SyntaxError):
            dropped["unparseable_problem"] = dropped.get("unparseable_problem", 0) + 1
            continue
        if leaks(query):
            dropped["prompt_names_api"] = dropped.get("prompt_names_api", 0) + 1
            continue
        codes = [reference] + [extract_code(_chat(client, m, SOLVE.format(entry=entry, query=query)), entry) or ""
                               for m in solvers]
        from selfevolve_lab.sandbox.protocol import to_tagged

        tagged = [{k: to_tagged(v) for k, v in kw.items()} for kw in inputs]
        runs = judge.pool.map([RunRequest(tr(c), entry, tagged) for c in codes])
        keep = []
        for i, kw in enumerate(tagged):
            outs = [r.outcomes[i] if r.status == "ok" and i < len(r.outcomes) else None for r in runs]
            if all(o is not None and o.ok for o in outs) and len({json.dumps(o.value) for o in outs}) == 1:
                keep.append(TestCase(input=kw, output=outs[0].value))
        if len(keep) < min_tests:
            dropped["solvers_disagree"] = dropped.get("solvers_disagree", 0) + 1
            continue
        novel = bench.mapping.get(api, api)
        tasks.append(Task(id=f"llm/{novel.rsplit('.', 1)[-1]}/{len(tasks)}", kind="single", apis=[novel],
                          prompt=query, entry_point=entry, signature=sig, tests=keep, reference=tr(reference),
                          provenance={"generator": "llm", "model": model, "solvers": solvers, "seed": seed}))
    return tasks, dropped
