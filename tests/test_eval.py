"""The evaluation harness end to end: a tiny local model served over HTTP, both modes, reports, resume."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from selfevolve_lab.evaluate.run import pass_at_k

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "sebench-format-sample.jsonl"


def _cli(*args, **kw):
    return subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args)], capture_output=True, text=True,
                          **kw)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from selfevolve_lab.testing import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)


@pytest.fixture(scope="module")
def server(tiny):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "selfevolve_lab.cli", "serve", "--model", str(tiny), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def _metrics(url):
    return json.loads(urllib.request.urlopen(url + "/metrics", timeout=5).read())


def test_pass_at_k_estimator():
    assert pass_at_k(10, 0, 1) == 0.0 and pass_at_k(10, 10, 5) == 1.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)  # 1 - C(3,2)/C(4,2)


def test_end_to_end_through_the_openai_backend(numpy_tasks, server, tmp_path):
    before = _metrics(server)["chat_completions"]
    runs = []
    for mode in ("closed", "open"):
        out = tmp_path / mode
        r = _cli("eval", "--bench", numpy_tasks.root, "--model", server + "/v1", "--mode", mode, "--limit", "3",
                 "--n-samples", "2", "--temperature", "0.7", "--max-tokens", "24", "--out", out)
        assert r.returncode == 0, r.stderr[-2000:]
        results = json.loads((out / "results.json").read_text())
        samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
        assert len(samples) == 6 and {s["sample_idx"] for s in samples} == {0, 1}
        assert {"pass@1", "pass@2", "n_tasks", "status"} <= set(results["metrics"])
        assert results["config"]["mode"] == mode and results["isolation"] in ("bwrap", "unshare", "none")
        assert all(s["verdict"]["status"] for s in samples) and len({s["prompt_hash"] for s in samples}) == 3
        # serve reports what its model did: a reply cut at --max-tokens says "length", and tokens are counted
        # (it said "stop" and 0 tokens for every reply, so eval's truncation count read 0)
        assert all(s["prompt_tokens"] > 0 and 0 < s["completion_tokens"] <= 24 for s in samples), samples[0]
        cut = [s for s in samples if s["completion_tokens"] == 24]
        assert cut and all(s["finish_reason"] == "length" for s in cut)
        assert results["metrics"]["truncated"] == sum(s["finish_reason"] == "length" for s in samples) >= len(cut)
        runs.append(out)
    assert _metrics(server)["chat_completions"] - before == 12  # the server was really called
    rep = _cli("report", *runs, "--out", tmp_path / "report")
    assert rep.returncode == 0 and "| closed |" in rep.stdout and "| open |" in rep.stdout
    for f in ("report.md", "report.json", "runs.png", "status.png", "per_api.png"):
        assert (tmp_path / "report" / f).stat().st_size > 0


def test_transformers_backend_gives_the_same_greedy_statuses(numpy_tasks, server, tiny, tmp_path):
    statuses = {}
    for name, model in (("http", server + "/v1"), ("local", str(tiny))):
        out = tmp_path / name
        r = _cli("eval", "--bench", numpy_tasks.root, "--model", model, "--limit", "3", "--max-tokens", "24",
                 "--out", out, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert r.returncode == 0, r.stderr[-2000:]
        samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
        statuses[name] = sorted((s["task_id"], s["verdict"]["status"], s["completion"]) for s in samples)
    assert statuses["http"] == statuses["local"]


def test_kill_and_resume(numpy_tasks, tmp_path):
    args = ["eval", "--bench", numpy_tasks.root, "--references", "--split", "train", "--workers", "1"]
    ref = tmp_path / "uninterrupted"
    assert _cli(*args, "--out", ref).returncode == 0
    out = tmp_path / "killed"
    for stop_after in (5, 200, 600):
        proc = subprocess.Popen([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args), "--out", str(out)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        path = out / "samples.jsonl"
        deadline = time.time() + 60
        while time.time() < deadline and (not path.exists() or len(path.read_text().splitlines()) < stop_after):
            if proc.poll() is not None:
                break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    r = _cli(*args, "--out", out)
    assert r.returncode == 0, r.stderr[-1000:]
    keys = [(s["task_id"], s["sample_idx"]) for s in map(json.loads, (out / "samples.jsonl").read_text().splitlines())]
    n = len(numpy_tasks.tasks("train"))
    assert len(keys) == len(set(keys)) == n  # nothing lost, nothing duplicated
    a = json.loads((out / "results.json").read_text())["metrics"]
    b = json.loads((ref / "results.json").read_text())["metrics"]
    assert a == b and a["pass@1"] == 1.0
    changed = _cli(*args, "--out", out, "--mode", "open")
    assert changed.returncode == 2 and "--force" in changed.stderr


def test_ctrl_c_leaves_a_resumable_run(numpy_tasks, tmp_path):
    args = ["eval", "--bench", numpy_tasks.root, "--references", "--split", "train", "--workers", "1"]
    out = tmp_path / "run"
    # Ctrl-C's default action, whatever this process inherited: a shell without job control starts
    # background jobs with SIGINT ignored, and the child would inherit that and run to the end.
    proc = subprocess.Popen([sys.executable, "-m", "selfevolve_lab.cli", *map(str, args), "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    path = out / "samples.jsonl"
    deadline = time.time() + 60
    while time.time() < deadline and (not path.exists() or len(path.read_text().splitlines()) < 50):
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and "re-run the same command to resume" in err, err[-1000:]
    assert "Traceback" not in err, err[-2000:]  # the samples still being judged are dropped quietly
    kept = path.read_text().splitlines()
    assert 50 <= len(kept) < len(numpy_tasks.tasks("train"))
    r = _cli(*args, "--out", out)
    assert r.returncode == 0, r.stderr[-1000:]
    keys = [(s["task_id"], s["sample_idx"]) for s in map(json.loads, path.read_text().splitlines())]
    assert len(keys) == len(set(keys)) == len(numpy_tasks.tasks("train"))
    assert json.loads((out / "results.json").read_text())["metrics"]["pass@1"] == 1.0


def test_bench_validity_check(numpy_tasks, tmp_path):
    r1 = _cli("eval", "--bench", numpy_tasks.root, "--references", "--split", "test_multi", "--out", tmp_path / "r")
    r2 = _cli("eval", "--bench", numpy_tasks.root, "--original-names", "--split", "test_multi", "--out", tmp_path / "o")
    assert "pass@1 100.0%" in r1.stdout and "pass@1 0.0%" in r2.stdout


def test_official_records_evaluate_end_to_end(official_bench, tmp_path):
    tasks = tmp_path / "official.jsonl"
    assert _cli("tasks", "import-sebench", SAMPLE, "--bench", official_bench.root, "--out", tasks).returncode == 0
    r = _cli("eval", "--bench", official_bench.root, "--tasks", tasks, "--references", "--out", tmp_path / "run")
    assert r.returncode == 0 and "pass@1 100.0%" in r.stdout, r.stderr


@pytest.mark.parametrize("case", ["unreachable", "missing_model", "no_tasks"])
def test_bad_input(numpy_tasks, mini_bench, tmp_path, case):
    bench, model = numpy_tasks.root, "http://127.0.0.1:9/v1"
    if case == "missing_model":
        model = str(tmp_path / "no-such-model")
    if case == "no_tasks":
        bench = mini_bench.root
    r = _cli("eval", "--bench", bench, "--model", model, "--limit", "1", "--out", tmp_path / "run")
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and r.stderr.strip().splitlines()[-1].startswith("error:")


def test_frozen_heap_keeps_the_collector_off_what_exists_and_thaws_once():
    import gc
    import weakref

    from selfevolve_lab.perf import frozen_heap

    class Node:
        pass

    a = Node()
    a.self = a  # a cycle: only the collector frees it
    alive = weakref.ref(a)
    with frozen_heap():
        frozen = gc.get_freeze_count()
        assert frozen > 0
        # Nested: no second freeze (it would move every new object in: the count grows) and no early thaw (it
        # would be 0). The count may drop: a frozen object another thread frees (a test before this one in the
        # same worker may leave threads) leaves the permanent generation.
        made = [[] for _ in range(1000)]  # tracked objects a second freeze would add
        with frozen_heap():
            assert 0 < gc.get_freeze_count() <= frozen
        del made
        assert 0 < gc.get_freeze_count() <= frozen
        del a
        gc.collect()
        assert alive() is not None  # frozen: the collector does not walk it
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert alive() is None  # thawed: garbage made meanwhile is collected


class _Backend:
    """Answers each prompt with its task's reference after ``delay`` seconds; records when it was called."""

    def __init__(self, bench, delay=0.0, error=None):
        from selfevolve_lab.evaluate.prompts import Prompter

        prompter = Prompter(bench, "closed", "task", "default")
        self.answers = {prompter.messages(t)[-1]["content"]: t.reference for t in bench.tasks("test_single")}
        self.delay, self.error, self.calls = delay, error, []
        self.name = "reference-answerer"

    async def complete(self, messages, **kw):
        self.calls.append(time.monotonic())
        await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        from selfevolve_lab.models import Reply

        return Reply(f"```python\n{self.answers[messages[-1]['content']]}```")

    async def close(self):
        pass


def _patched_eval(monkeypatch, bench, tmp_path, backend, judge_cls):
    import selfevolve_lab.judge
    import selfevolve_lab.models
    from selfevolve_lab.evaluate.run import EvalConfig, run_eval

    monkeypatch.setattr(selfevolve_lab.models, "load_backend", lambda *a, **kw: backend)
    monkeypatch.setattr(selfevolve_lab.judge, "Judge", judge_cls)
    cfg = EvalConfig(bench=str(bench.root), model="http://127.0.0.1:9/v1", limit=4)
    return run_eval(cfg, tmp_path / "run", progress=False)


def test_requests_go_out_while_the_sandbox_pool_starts(numpy_tasks, tmp_path, monkeypatch):
    from selfevolve_lab.judge import Judge

    ready = []

    class SlowStart(Judge):
        def __init__(self, *a, **kw):
            time.sleep(1.0)
            super().__init__(*a, **kw)
            ready.append(time.monotonic())

    backend = _Backend(numpy_tasks)
    results = _patched_eval(monkeypatch, numpy_tasks, tmp_path, backend, SlowStart)
    assert results["metrics"]["status"] == {"passed": 4}
    assert len(backend.calls) == 4 and max(backend.calls) < ready[0]  # none waited for the pool


def test_the_sandbox_pool_is_closed_and_its_errors_reported(numpy_tasks, tmp_path, monkeypatch):
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.judge import Judge

    closed = []

    class Recorded(Judge):
        def close(self):
            closed.append(True)
            super().close()

    class Broken(Judge):
        def __init__(self, *a, **kw):
            raise RuntimeError("no sandbox here")

    with pytest.raises(UserError, match="unreachable"):  # generation fails before the pool is up
        _patched_eval(monkeypatch, numpy_tasks, tmp_path, _Backend(numpy_tasks, error=UserError("unreachable")),
                      Recorded)
    assert closed == [True]
    with pytest.raises(RuntimeError, match="no sandbox here"):
        _patched_eval(monkeypatch, numpy_tasks, tmp_path, _Backend(numpy_tasks, delay=0.2), Broken)
