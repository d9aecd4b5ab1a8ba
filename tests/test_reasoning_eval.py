"""`eval` against a server that answers as vLLM's reasoning parser does: the chain of thought in
``reasoning_content``, ``content`` null when the model was cut off while thinking. The samples keep what the
server said, the judge reads the reasoning when there is no answer, and results.json counts truncations."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from selfevolve_lab.models.server import StubServer

SERVED = "org/reasoner-7b"


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], capture_output=True, text=True,
                          **kw)


def _two_tasks(bench, path):
    """Two tasks the stub tells apart by their prompt (some tasks share one), as a --tasks file."""
    first, *rest = bench.tasks("test_single")
    tasks = [first, next(t for t in rest if first.prompt not in t.prompt and t.prompt not in first.prompt)]
    path.write_text("".join(t.model_dump_json() + "\n" for t in tasks))
    return tasks


def _reasoner(tasks):
    """The first task's answer is cut off while thinking (its code only in the reasoning); the others answer."""

    def answer(body: dict) -> dict:
        asked = body["messages"][-1]["content"]
        i, task = next((i, t) for i, t in enumerate(tasks) if t.prompt in asked)
        code = f"```python\n{task.reference}```"
        if i == 0:
            message, finish = {"role": "assistant", "content": None,
                               "reasoning_content": f"Let me think. This should do:\n{code}\nBut wait"}, "length"
        else:
            message, finish = {"role": "assistant", "content": code, "reasoning_content": "Easy."}, "stop"
        return {"object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}

    return answer


def test_a_reasoning_server_is_scored_on_its_reasoning_when_it_gave_no_answer(numpy_tasks, tmp_path):
    tasks = _two_tasks(numpy_tasks, tmp_path / "tasks.jsonl")
    out = tmp_path / "run"
    with StubServer(_reasoner(tasks), name=SERVED) as srv:
        args = ["eval", "--bench", numpy_tasks.root, "--tasks", tmp_path / "tasks.jsonl", "--model", srv.url,
                "--out", out, "--workers", "1",
                "--top-p", "0.95", "--stop", "<|im_end|>,</s>", "--stop", "###",
                "--extra-body", '{"chat_template_kwargs": {"enable_thinking": false}}']
        r = _cli(*args)
        assert r.returncode == 0, r.stderr[-2000:]
        assert "1 cut off at --max-tokens" in r.stdout
        sent = list(srv.requests)
        again = _cli(*args)  # a resume keeps every sample: its verdict is of the text judged, the reasoning here
        assert again.returncode == 0 and len(srv.requests) == len(sent), again.stderr[-2000:]

    assert len(sent) == 2
    for body in sent:
        assert body["model"] == SERVED and body["max_tokens"] == body["max_completion_tokens"] == 512
        assert body["top_p"] == 0.95 and body["stop"] == ["<|im_end|>", "</s>", "###"]
        assert body["chat_template_kwargs"] == {"enable_thinking": False}

    samples = {s["task_id"]: s for s in map(json.loads, (out / "samples.jsonl").read_text().splitlines())}
    cut, answered = samples[tasks[0].id], samples[tasks[1].id]
    assert cut["completion"] == "" and "This should do" in cut["reasoning"] and cut["answer_from"] == "reasoning"
    assert cut["finish_reason"] == "length" and (cut["prompt_tokens"], cut["completion_tokens"]) == (10, 20)
    assert answered["answer_from"] == "completion" and answered["reasoning"] == "Easy."
    assert answered["finish_reason"] == "stop" and answered["completion"].startswith("```python")
    assert cut["verdict"]["passed"] and answered["verdict"]["passed"]  # the code in the reasoning was run

    results = json.loads((out / "results.json").read_text())
    assert results["served_model"] == SERVED and results["model"] == srv.url
    assert results["metrics"]["truncated"] == 1 and results["metrics"]["pass@1"] == 1.0
    assert results["config"]["extra_body"] == {"chat_template_kwargs": {"enable_thinking": False}}
    assert "api_key" not in results["config"]  # a secret stays out of the run directory

    rep = _cli("report", out, "--out", tmp_path / "report")
    assert rep.returncode == 0 and "| truncated |" in rep.stdout and "| 2 | 1 |" in rep.stdout, rep.stderr[-2000:]


def test_the_sebench_protocol_sets_what_the_user_did_not(numpy_tasks, tmp_path):
    tasks = numpy_tasks.tasks("test_single")[:1]
    with StubServer(_reasoner(tasks), name=SERVED, api_key="s3cret") as srv:
        r = _cli("eval", "--bench", numpy_tasks.root, "--model", srv.url, "--limit", "1", "--out", tmp_path / "run",
                 "--workers", "1", "--protocol", "sebench", "--temperature", "0.2", "--api-key", "s3cret")
        assert r.returncode == 0, r.stderr[-2000:]
        (body,) = srv.requests
    assert body["max_tokens"] == body["max_completion_tokens"] == 8192 and body["temperature"] == 0.2
    assert "top_p" not in body and "stop" not in body  # unset: the server's defaults
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["protocol"], config["max_tokens"], config["temperature"]) == ("sebench", 8192, 0.2)


def test_apply_protocol_keeps_the_fields_given():
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.evaluate.run import EvalConfig, apply_protocol

    cfg = EvalConfig(bench="b", model="m", protocol="sebench", max_tokens=100)
    assert apply_protocol(cfg, {"max_tokens"}) == EvalConfig(bench="b", model="m", protocol="sebench",
                                                             max_tokens=100, temperature=0.6)
    assert apply_protocol(EvalConfig(bench="b", model="m"), set()) == EvalConfig(bench="b", model="m")
    with pytest.raises(UserError, match="protocol 'x'"):
        apply_protocol(EvalConfig(bench="b", model="m", protocol="x"), set())


@pytest.mark.parametrize("body", ["{not json", "[1, 2]"])
def test_bad_extra_body_is_a_one_line_error(numpy_tasks, tmp_path, body):
    r = _cli("eval", "--bench", numpy_tasks.root, "--model", "http://127.0.0.1:9/v1", "--limit", "1",
             "--out", tmp_path / "run", "--extra-body", body)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("error: --extra-body")


def test_request_fields_are_refused_for_a_local_model(tmp_path):
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.models import load_backend

    with pytest.raises(UserError, match="top_p"):
        load_backend(str(tmp_path), extra_body={"top_p": 0.9})
