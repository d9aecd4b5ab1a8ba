"""lm-evaluation-harness hooks for the tasks in ``lm_eval_tasks/`` (``selfevolve_closed_book``,
``selfevolve_open_book``): the dataset is the bench's split with `selfevolve eval`'s prompts, and the metric
is our judge's verdict (the completion's code runs only in the judge's sandbox).

    lm_eval --include_path src/selfevolve_lab/integrations/lm_eval_tasks --tasks selfevolve_closed_book \\
        --metadata '{"bench": "demo-out/bench"}' --model local-chat-completions --apply_chat_template \\
        --model_args base_url=http://localhost:8000/v1/chat/completions,model=M

``--metadata`` names the bench (a task's YAML is static) and may set ``split``, ``docs``, ``prompt_style``,
``doc_style`` and ``workers``; the defaults are `selfevolve eval`'s.
"""

from __future__ import annotations

import functools
from typing import Any

from selfevolve_lab.evaluate.run import EvalConfig
from selfevolve_lab.integrations.judges import shared_judge

_DEFAULTS = EvalConfig(bench="", model="")


@functools.lru_cache(maxsize=8)
def _tasks(bench_root: str, split: str) -> dict[str, Any]:
    from selfevolve_lab.bench import Bench

    return {t.id: t for t in Bench.open(bench_root).tasks(split)}


def load(bench: str | None = None, mode: str = "closed", split: str = _DEFAULTS.split, docs: str = _DEFAULTS.docs,
         prompt_style: str = _DEFAULTS.prompt_style, doc_style: str = _DEFAULTS.doc_style,
         workers: int | None = None, **_: Any):
    """lm-eval's ``custom_dataset``: one row per task, its prompt built by `Prompter` (``--metadata`` and the
    YAML's ``dataset_kwargs`` come in as keyword arguments; lm-eval's own, such as ``version``, are ignored)."""
    import datasets

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.evaluate.prompts import Prompter

    if not bench:
        raise UserError("the selfevolve lm-eval tasks need the bench: --metadata '{\"bench\": \"BENCH_DIR\"}'")
    b = Bench.open(bench)
    prompter = Prompter(b, mode, docs, prompt_style, doc_style=doc_style)
    rows = [{"id": t.id, "bench": str(b.root), "split": split, "workers": workers or 0,
             "prompt": prompter.messages(t)[0]["content"]} for t in _tasks(str(b.root), split).values()]
    return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """The judge's verdict on each generation for the doc's task: ``passed`` is their mean (pass@1)."""
    task = _tasks(doc["bench"], doc["split"])[doc["id"]]
    judge = shared_judge(doc["bench"], doc["workers"] or None)
    verdicts = [judge.judge(task, text or "", sample_idx=k) for k, text in enumerate(results)]
    return {"passed": sum(v.reward for v in verdicts) / max(len(verdicts), 1)}
