"""Shared pieces of the ExIt tests: a small bench with tasks, and the responses every domain must survive."""

from __future__ import annotations

import shutil
from pathlib import Path

from selfevolve_lab.schema import Task, TestCase

LOOP = ("```python\nimport zwc\n\ndef solve(x):\n    while True:\n        pass\n    return zwc.falekef(x).gifune()\n```")
BAD = {"empty": "", "garbage": "\x00\x01 ### ??? ünïcode ]]]", "no code": "I am not sure how to do this."}


def abs_task(i: int, xs: list[list[int]]) -> Task:
    return Task(id=f"abs-{i}", kind="single", apis=["zwc.falekef"],
                prompt="Return the absolute value of every number in the list x, as a list.",
                entry_point="solve", signature="def solve(x):",
                tests=[TestCase(input={"x": x}, output=[abs(v) for v in x]) for x in xs],
                reference="import zwc\n\ndef solve(x):\n    return zwc.falekef(x).gifune()\n")


def bench_with_tasks(mini_bench, root: Path):
    """A copy of the mini bench with train and test_single tasks (absolute values)."""
    from selfevolve_lab.bench import Bench

    shutil.copytree(mini_bench.root, root)
    (root / "tasks").mkdir()
    xs = [[-1, 2, -3], [0, -5], [4], [-7, -8, 9, 10]]
    for split, ids in (("train", range(3)), ("test_single", range(3, 5))):
        text = "".join(abs_task(i, xs).model_dump_json() + "\n" for i in ids)
        (root / "tasks" / f"{split}.jsonl").write_text(text)
    return Bench.open(root)


SOLVED = "```python\nimport zwc\n\ndef solve(x):\n    return zwc.falekef(x).gifune()\n```"
HALF = ("```python\nimport zwc\n\ndef solve(x):\n    if len(x) > 2:\n        return zwc.falekef(x).gifune()\n"
        "    return zwc.yitaf(x).gifune()\n```")


def taught_model(path: Path, answers: list[str], *, steps: int = 60, seed: int = 0) -> Path:
    """A tiny model that answers any prompt with one of ``answers``, about equally often (under a second of
    fitting): each answer is one token of its vocabulary, trained to follow the assistant marker. So an
    end-to-end run's responses are real code that reaches the sandbox, and its groups disagree."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfevolve_lab.testing import make_tiny_model

    torch.set_num_threads(1)  # a model this small runs several times faster on one thread of a busy machine
    make_tiny_model(path, seed=seed)
    tok = AutoTokenizer.from_pretrained(path)
    tok.add_tokens(answers)
    model = AutoModelForCausalLM.from_pretrained(path)
    model.resize_token_embeddings(len(tok))
    head = tok("<|assistant|>\n", add_special_tokens=False)["input_ids"]
    targets = [tok.convert_tokens_to_ids(a) for a in answers]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    torch.manual_seed(seed)
    for _ in range(steps):
        ids = torch.tensor([head + [t, tok.eos_token_id] for t in targets])
        labels = ids.clone()
        labels[:, : len(head)] = -100
        loss = model(input_ids=ids, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path
