"""The Inspect AI tasks end to end: `selfevolve/closed_book` and `selfevolve/open_book`, resolved by name through
pyproject's entry point, sent by Inspect's openai-api provider to our OpenAI-compatible server (answering
with known completions), and scored by our judge (its statuses come back in each score)."""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest

from train_fixtures import make_small_bench

ROOT = Path(__file__).resolve().parents[1]


def test_inspect_tasks_are_scored_by_our_judge(mini_bench, tmp_path, monkeypatch):
    inspect_ai = pytest.importorskip("inspect_ai")  # the 'inspect' extra, which `make install` installs
    from inspect_ai._util import entrypoints, registry

    from selfevolve.evaluate.prompts import Prompter
    from selfevolve.models.server import StubServer

    bench = make_small_bench(mini_bench.root, tmp_path / "bench")
    tasks = bench.tasks("train")[:3]
    # Known answers: the reference (passed), the right values in plain Python (not_using_package), and the
    # package used wrongly (wrong_answer); only the judge can tell the three apart.
    assert [t.id for t in tasks] == ["train/falekef/1", "train/jegedi/1", "train/bafuro/1"]
    answers = {tasks[0].prompt: tasks[0].reference,
               tasks[1].prompt: "def solve(n):\n    return [0.0] * n\n",
               tasks[2].prompt: tasks[2].reference.replace("zwc.yitaf(b)", "zwc.yitaf(a)")}
    expected = {tasks[0].id: "passed", tasks[1].id: "not_using_package", tasks[2].id: "wrong_answer"}

    def answer(body):
        text = body["messages"][-1]["content"]
        return ["```python\n" + next(code for prompt, code in answers.items() if prompt in text) + "```"]

    # The entry point as pyproject declares it (the shared venv's metadata may predate it): Inspect resolves
    # "selfevolve/..." by loading the entry point named "selfevolve" in its group.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["inspect_ai"]
    ep = importlib.metadata.EntryPoint("selfevolve", declared["selfevolve"], "inspect_ai")
    monkeypatch.setattr(entrypoints, "entry_points", lambda group: [ep] if group == "inspect_ai" else [])
    entrypoints.clear_entry_points_state()
    # Inspect names a task "selfevolve/..." when its module comes from the installed distribution; under pytest,
    # src/ (first on sys.path) holds the bare egg-info setuptools leaves there, which hides that it is.
    own = registry.get_installed_package_name
    monkeypatch.setattr(registry, "get_installed_package_name",
                        lambda o: "selfevolve" if getattr(o, "__module__", "").startswith("selfevolve.") else own(o))
    monkeypatch.delitem(sys.modules, "selfevolve.integrations.inspect_tasks", raising=False)  # the entry point loads it
    monkeypatch.setenv("LOCAL_API_KEY", "unused")
    monkeypatch.chdir(tmp_path)
    with StubServer(answer, name="stub") as srv:
        try:
            logs = inspect_ai.eval(["selfevolve/closed_book", "selfevolve/open_book"], model="openai-api/local/stub",
                                   model_base_url=srv.url, task_args={"bench": str(bench.root), "split": "train",
                                                                      "workers": 1},
                                   limit=3, log_dir=str(tmp_path / "logs"), display="none")
        finally:
            sys.modules["selfevolve.integrations.inspect_tasks"].close_judges()
        requests = list(srv.requests)
    assert [log.eval.task for log in logs] == ["selfevolve/closed_book", "selfevolve/open_book"]
    for log in logs:
        assert log.status == "success", log.error
        got = {s.id: s.scores["judge_scorer"] for s in log.samples}
        assert {i: s.metadata["status"] for i, s in got.items()} == expected
        assert {i: s.value for i, s in got.items()} == {i: "C" if v == "passed" else "I" for i, v in expected.items()}
        assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(1 / 3)
    # the prompts are selfevolve eval's, each mode's own
    sent = sorted(r["messages"][0]["content"] for r in requests)
    built = sorted(Prompter(bench, mode).messages(t)[0]["content"] for mode in ("closed", "open") for t in tasks)
    assert sent == built and sum("Documentation of the `zwc` library" in c for c in sent) == 3
    assert all(r["max_tokens"] == 512 and r["temperature"] == 0.0 for r in requests)  # eval's defaults
