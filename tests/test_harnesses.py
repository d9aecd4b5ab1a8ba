"""The other harnesses end to end, each scored by our judge: the Inspect AI tasks (`selfevolve_lab/closed_book`,
`selfevolve_lab/open_book`, resolved by name through pyproject's entry point, sent by Inspect's openai-api provider)
and the lm-evaluation-harness tasks (`lm_eval_tasks/`, sent by lm-eval's local-chat-completions model), both
against our OpenAI-compatible server answering with known completions. Only the judge gives the three
answers their verdicts: the reference passes, the right values in plain Python are `not_using_package`, and
the package used wrongly is `wrong_answer`."""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest

from train_fixtures import make_small_bench

ROOT = Path(__file__).resolve().parents[1]
LM_EVAL_TASKS = ROOT / "src" / "selfevolve_lab" / "integrations" / "lm_eval_tasks"
EXPECTED = {"train/falekef/1": "passed", "train/jegedi/1": "not_using_package", "train/bafuro/1": "wrong_answer"}


@pytest.fixture(scope="module")
def known(mini_bench, tmp_path_factory):
    """(bench, its first three train tasks, a stub server's answer function giving each its known answer); the
    judge the harnesses' scorers share for it stays up for both tests."""
    from selfevolve_lab.integrations.judges import close_judges

    bench = make_small_bench(mini_bench.root, tmp_path_factory.mktemp("harnesses") / "bench")
    tasks = bench.tasks("train")[:3]
    assert [t.id for t in tasks] == list(EXPECTED)
    answers = {tasks[0].prompt: tasks[0].reference,
               tasks[1].prompt: "def solve(n):\n    return [0.0] * n\n",
               tasks[2].prompt: tasks[2].reference.replace("zwc.yitaf(b)", "zwc.yitaf(a)")}

    def answer(body):
        text = body["messages"][-1]["content"]
        return ["```python\n" + next(code for prompt, code in answers.items() if prompt in text) + "```"]

    yield bench, tasks, answer
    close_judges()


def _prompts(bench, tasks) -> list[str]:
    from selfevolve_lab.evaluate.prompts import Prompter

    return sorted(Prompter(bench, mode).messages(t)[0]["content"] for mode in ("closed", "open") for t in tasks)


def test_inspect_tasks_are_scored_by_our_judge(known, tmp_path, monkeypatch):
    import inspect_ai  # the "inspect" extra, which `make install` installs
    from inspect_ai._util import entrypoints, registry

    from selfevolve_lab.models.server import StubServer

    bench, tasks, answer = known
    # The entry point as pyproject declares it (the shared venv's metadata may predate it): Inspect resolves
    # "selfevolve_lab/..." by loading the entry point named "selfevolve_lab" in its group.
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["inspect_ai"]
    ep = importlib.metadata.EntryPoint("selfevolve_lab", declared["selfevolve_lab"], "inspect_ai")
    monkeypatch.setattr(entrypoints, "entry_points", lambda group: [ep] if group == "inspect_ai" else [])
    entrypoints.clear_entry_points_state()
    # Inspect names a task "selfevolve_lab/..." when its module comes from the installed distribution; under pytest,
    # src/ (first on sys.path) holds the bare egg-info setuptools leaves there, which hides that it is.
    own = registry.get_installed_package_name
    monkeypatch.setattr(registry, "get_installed_package_name",
                        lambda o: "selfevolve_lab" if getattr(o, "__module__", "").startswith("selfevolve_lab.") else own(o))
    monkeypatch.delitem(sys.modules, "selfevolve_lab.integrations.inspect_tasks", raising=False)  # the entry point loads it
    monkeypatch.setenv("LOCAL_API_KEY", "unused")
    monkeypatch.chdir(tmp_path)
    with StubServer(answer, name="stub") as srv:
        logs = inspect_ai.eval(["selfevolve_lab/closed_book", "selfevolve_lab/open_book"], model="openai-api/local/stub",
                               model_base_url=srv.url, task_args={"bench": str(bench.root), "split": "train",
                                                                  "workers": 1},
                               limit=3, log_dir=str(tmp_path / "logs"), display="none")
        requests = list(srv.requests)
    assert [log.eval.task for log in logs] == ["selfevolve_lab/closed_book", "selfevolve_lab/open_book"]
    for log in logs:
        assert log.status == "success", log.error
        got = {s.id: s.scores["judge_scorer"] for s in log.samples}
        assert {i: s.metadata["status"] for i, s in got.items()} == EXPECTED
        assert {i: s.value for i, s in got.items()} == {i: "C" if v == "passed" else "I" for i, v in EXPECTED.items()}
        assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(1 / 3)
    # the prompts are selfevolve eval's, each mode's own, and so are the sampling defaults
    sent = sorted(r["messages"][0]["content"] for r in requests)
    assert sent == _prompts(bench, tasks) and sum("Documentation of the `zwc` library" in c for c in sent) == 3
    assert all(r["max_tokens"] == 512 and r["temperature"] == 0.0 for r in requests)


def test_lm_eval_tasks_are_scored_by_our_judge(known, tmp_path, monkeypatch):
    import yaml
    from lm_eval import simple_evaluate  # the "lm-eval" extra, which `make install` installs
    from lm_eval.tasks import TaskManager

    from selfevolve_lab.evaluate.run import EvalConfig
    from selfevolve_lab.models.server import StubServer

    bench, tasks, answer = known
    for mode in ("closed", "open"):  # a static YAML repeats eval's defaults: keep them equal
        gen = yaml.safe_load((LM_EVAL_TASKS / f"selfevolve_{mode}_book.yaml").read_text().replace("!function", ""))
        assert gen["generation_kwargs"]["max_gen_toks"] == EvalConfig.max_tokens
        assert gen["generation_kwargs"]["temperature"] == EvalConfig.temperature
    monkeypatch.chdir(tmp_path)
    manager = TaskManager(include_path=str(LM_EVAL_TASKS), include_defaults=False,
                          metadata={"bench": str(bench.root), "split": "train", "workers": 1})
    with StubServer(answer, name="stub") as srv:
        out = simple_evaluate(model="local-chat-completions",
                              model_args={"base_url": srv.url + "/chat/completions", "model": "stub"},
                              tasks=["selfevolve_closed_book", "selfevolve_open_book"], task_manager=manager,
                              apply_chat_template=True, limit=3, log_samples=True)
        requests = list(srv.requests)
    for name in ("selfevolve_closed_book", "selfevolve_open_book"):
        assert out["results"][name]["passed,none"] == pytest.approx(1 / 3)
        per_doc = {s["doc"]["id"]: s["passed"] for s in out["samples"][name]}
        assert per_doc == {i: float(v == "passed") for i, v in EXPECTED.items()}
    assert sorted(r["messages"][0]["content"] for r in requests) == _prompts(bench, tasks)
    assert all(r["max_tokens"] == 512 and r["temperature"] == 0 for r in requests)
