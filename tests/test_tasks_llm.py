"""LLM generator against a real local OpenAI-compatible HTTP server, through the openai backend."""

from __future__ import annotations

import json
import shutil

import pytest

from selfevolve_lab.cli import main
from selfevolve_lab.judge import Judge
from selfevolve_lab.models.server import StubServer
from selfevolve_lab.tasks.llm import generate_llm

PROBLEM = {
    "query": "Given two lists of non-negative integers x1 and x2, return the bits set in both, pairwise.",
    "function_name": "def solve(x1, x2):",
    "test_inputs": ["x1=[12, 10], x2=[10, 6]", "x1=[255], x2=[15]", "x1=[1, 2, 3], x2=[3, 3, 3]"],
    "reference": "import numpy as np\n\ndef solve(x1, x2):\n    return np.bitwise_and(x1, x2).tolist()\n",
}
GOOD = "```python\nimport numpy as np\n\ndef solve(x1, x2):\n    return np.bitwise_and(np.array(x1), x2).tolist()\n```"
BAD = "```python\nimport numpy as np\n\ndef solve(x1, x2):\n    return np.bitwise_or(x1, x2).tolist()\n```"


def answer(body: dict) -> list[str]:
    if "Write a short programming problem" in body["messages"][-1]["content"]:
        return ["Here it is:\n" + json.dumps(PROBLEM)]
    return [BAD if body["model"] == "bad" else GOOD]


@pytest.fixture()
def server():
    with StubServer(answer) as srv:
        yield srv, srv.url


def test_llm_pipeline_keeps_agreed_tests(numpy_bench, server):
    srv, url = server
    with Judge(numpy_bench) as judge:
        tasks, dropped = generate_llm(numpy_bench, url, "writer", ["s1", "s2"], ["numpy.bitwise_and"], judge)
        assert len(tasks) == 1 and not dropped
        t = tasks[0]
        assert [c.output for c in t.tests] == [[8, 2], [15], [1, 2, 3]]
        assert "numpy" not in t.reference and t.apis == [numpy_bench.mapping["numpy.bitwise_and"]]
        assert judge.judge(t, t.reference).passed
        assert judge.judge(t, PROBLEM["reference"]).status == "uses_original_library"
        # a disagreeing solver removes the tests it disagrees on (all of them here)
        tasks, dropped = generate_llm(numpy_bench, url, "writer", ["s1", "bad"], ["numpy.bitwise_and"], judge)
    assert tasks == [] and dropped == {"solvers_disagree": 1}
    assert {r["model"] for r in srv.requests} == {"writer", "s1", "s2", "bad"}


def test_llm_cli_writes_split(numpy_bench, server, tmp_path):
    _, url = server
    d = tmp_path / "b"
    shutil.copytree(numpy_bench.root, d, ignore=shutil.ignore_patterns("tasks"))
    main(["tasks", "generate", str(d), "--llm", url, "--model", "writer", "--models", "s1,s2", "--limit", "2"])
    lines = (d / "tasks" / "train.jsonl").read_text().splitlines()
    assert len(lines) == 2


def test_llm_server_down_is_user_error(numpy_bench, tmp_path, capsys):
    d = tmp_path / "b"
    shutil.copytree(numpy_bench.root, d, ignore=shutil.ignore_patterns("tasks"))
    with pytest.raises(SystemExit) as exc:
        main(["tasks", "generate", str(d), "--llm", "http://127.0.0.1:9/v1", "--model", "m", "--limit", "1"])
    assert exc.value.code == 2 and "unreachable" in capsys.readouterr().err
    assert not (d / "tasks" / "train.jsonl").exists()
