"""Shared pieces of the training tests: a small bench with short docs, and tiny models that know its words.

The hand-made `mini_bench` package (conftest) gets docs and a train split here, so that open-book prompts
are a few hundred characters and a tiny model trains on them in seconds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

DOCS = {
    "zwc.falekef": ("falekef(x)", "Calculate the absolute value element-wise."),
    "zwc.kocito": ("kocito(a, axis=None)", "Compute the arithmetic mean along the specified axis."),
    "zwc.jegedi": ("jegedi(shape)", "Return a new array of given shape, filled with zeros."),
    "zwc.bafuro": ("bafuro(x1, x2)", "Compute the bit-wise AND of two arrays element-wise."),
    "zwc.yitaf": ("yitaf(object)", "Create an array."),
}

# (id, api, prompt, signature, reference, tests [(input, output)])
TASKS = [
    ("train/falekef/1", "zwc.falekef", "Return the absolute values of the list `x`, as a list.", "def solve(x):",
     "import zwc\n\n\ndef solve(x):\n    return zwc.falekef(zwc.yitaf(x)).gifune()\n",
     [({"x": [-1, 2, -3]}, [1, 2, 3]), ({"x": [0, -7]}, [0, 7]), ({"x": [4]}, [4])]),
    ("train/jegedi/1", "zwc.jegedi", "Return a list of `n` zeros (as floats).", "def solve(n):",
     "import zwc\n\n\ndef solve(n):\n    return zwc.jegedi(n).gifune()\n",
     [({"n": 3}, [0.0, 0.0, 0.0]), ({"n": 1}, [0.0]), ({"n": 2}, [0.0, 0.0])]),
    ("train/bafuro/1", "zwc.bafuro", "Return the bit-wise AND of the integer lists `a` and `b`, as a list.",
     "def solve(a, b):",
     "import zwc\n\n\ndef solve(a, b):\n    return zwc.bafuro(zwc.yitaf(a), zwc.yitaf(b)).gifune()\n",
     [({"a": [12, 10], "b": [10, 6]}, [8, 2]), ({"a": [7], "b": [3]}, [3]), ({"a": [5, 1], "b": [4, 1]}, [4, 1])]),
    ("train/falekef/2", "zwc.falekef", "Given numbers `x`, give back each one's magnitude, as a list.",
     "def solve(x):", "import zwc\n\n\ndef solve(x):\n    return zwc.falekef(zwc.yitaf(x)).gifune()\n",
     [({"x": [-5, 5]}, [5, 5]), ({"x": [-1]}, [1]), ({"x": [3, -2, 0]}, [3, 2, 0])]),
]


def make_small_bench(mini_root: Path, dest: Path):
    """A copy of the mini bench with docs.jsonl and tasks/train.jsonl."""
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.schema import ApiEntry, Task, TestCase

    shutil.copytree(mini_root, dest)
    docs = [ApiEntry(original="numpy." + k.split(".")[1], novel=k, kind="function", signature=sig, doc=doc)
            for k, (sig, doc) in DOCS.items()]
    (dest / "docs.jsonl").write_text("".join(d.model_dump_json() + "\n" for d in docs))
    (dest / "tasks").mkdir()
    tasks = [Task(id=i, kind="single", apis=[api], prompt=p, entry_point="solve", signature=sig, reference=ref,
                  tests=[TestCase(input=inp, output=o) for inp, o in tests]) for i, api, p, sig, ref, tests in TASKS]
    (dest / "tasks" / "train.jsonl").write_text("".join(t.model_dump_json() + "\n" for t in tasks))
    return Bench.open(dest)


def corpus_of(bench, tasks) -> list[str]:
    """Texts a tiny model's tokenizer is trained on: every prompt it will see, and the references."""
    from selfevolve_lab.train.data import TaskPrompts

    prompts = TaskPrompts(bench)
    return [m["content"] for t in tasks for mode in ("open", "closed") for m in prompts.messages(t, mode)] + \
        [f"```python\n{t.reference}```" for t in tasks]


def write_data(path: Path, bench, items) -> Path:
    """SFT records for (task, completion) pairs, marked passing (a fixture, to build a model of known skill)."""
    from selfevolve_lab.schema import Verdict
    from selfevolve_lab.train.data import SFTRecord, TaskPrompts

    prompts = TaskPrompts(bench)
    recs = [SFTRecord(task_id=t.id, sample_idx=k, prompt_open=prompts.messages(t, "open"),
                      prompt_closed=prompts.messages(t, "closed"), completion=c,
                      verdict=Verdict(task_id=t.id, sample_idx=k, passed=True, status="passed"))
            for k, (t, c) in enumerate(items)]
    path.write_text("".join(r.model_dump_json() + "\n" for r in recs))
    return path


def read_batches(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "batches.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Train on one intra-op thread while these tests run, then restore. On a loaded 2-core machine two
    spinning threads per process made a tiny model's step 13x slower (4.7 s against 0.36 s, measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
