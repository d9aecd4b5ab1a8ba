"""Hostile model text: no scorer runs it on the trusted side, and untrusted inputs never crash or hang."""

from __future__ import annotations

import os
import time

import pytest

from selfevolve_lab.exit.domain import Instance


@pytest.fixture(scope="module")
def math_domain():
    from selfevolve_lab.exit.domains.math import MathDomain

    return MathDomain(size=4)


def test_math_countdown_never_evaluates_model_text(math_domain, tmp_path):
    d = math_domain
    task = next(t for t in d.tasks("train") if t.id.startswith("countdown"))
    entry = d._dataset("countdown", task.data["seed"])[task.data["index"]]
    marker = tmp_path / "pwned"
    payloads = [f"__import__('os').system('touch {marker}')",
                f"__import__('pathlib').Path('{marker}').touch()",
                "30*False+" + "+".join(str(n) for n in entry["metadata"]["numbers"]) + "+ord('~')",
                "9**9**8", "9" * 5000, "(" * 500 + "1" + ")" * 500, "1e999*0+" + entry["answer"],
                "+".join(["1"] * 200), "[1]", "x+1", "True", "'1'", "1 if 1 else 2", "1//1", "2**3"]
    for p in payloads:
        t0 = time.monotonic()
        s, feedback = d.score_many([(Instance(task), f"<answer>{p}</answer>")])[0]
        assert s == 0.0 and feedback and time.monotonic() - t0 < 1.0, p
    assert not marker.exists()
    assert d.score_many([(Instance(task), f"<answer>{entry['answer']}</answer>")])[0] == (1.0, "correct")


def test_safe_eval():
    from fractions import Fraction

    from selfevolve_lab.exit.domains.math import UnsafeExpression, int_literals, safe_eval

    assert safe_eval("49*(85 - 1)/14 - 42 - 73") == 179 and safe_eval("-(1.5) + +2") == Fraction(1, 2)
    assert safe_eval("7/2") == Fraction(7, 2) and int_literals("3*(4-1.0)") == [3, 4]
    for bad in ("1/0", "2**2", "a", "f(1)", "1e400", "99999999999999999999*99999999999999999999", "True + 1",
                "1 < 2", "(1, 2)", "-" * 300 + "1", ""):
        with pytest.raises(UnsafeExpression):
            safe_eval(bad)


def test_math_numeric_families_compare_numbers(math_domain):
    d = math_domain
    for family in ("basic_arithmetic", "chain_sum"):
        task = next(t for t in d.tasks("train") if t.id.startswith(family))
        answer = d._dataset(family, task.data["seed"])[task.data["index"]]["answer"]
        right = [answer, f"+0{answer}.00" if not answer.startswith("-") else f"{answer}.0"]
        wrong = [f"{answer} + 0", f"({answer})", "1" * 5000, "1e999999999", "__import__('os')", f"{answer}0"]
        got = d.score_many([(Instance(task), f"<answer>{r}</answer>") for r in right + wrong])
        assert [s for s, _ in got] == [1.0] * len(right) + [0.0] * len(wrong), family


def test_math_families_are_ours_and_splits_disjoint():
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.exit.domains.math import MathDomain

    with pytest.raises(UserError):  # a family whose verifier we have not vetted
        MathDomain(families=("basic_arithmetic", "polynomial_equations"))
    d = MathDomain(families=("chain_sum",), size=8)
    assert {t.prompt for t in d.tasks("train")}.isdisjoint(t.prompt for t in d.tasks("test"))


LOOKUP = '''```python
def fit_predict(X_train, y_train, X_test):
    import numpy as np
    import sklearn.datasets
    X, y = sklearn.datasets.{loader}(return_X_y=True)
    exact = {{tuple(np.round(r, 6)): t for r, t in zip(X, y)}}
    X_test = np.asarray(X_test)
    if {nearest}:
        return [float(y[np.argmin(((X - r) ** 2).sum(axis=1))]) for r in X_test]
    return [float(exact.get(tuple(np.round(r, 6)), 0)) for r in X_test]
```'''
FOREST = ("```python\ndef fit_predict(X_train, y_train, X_test):\n"
          "    from sklearn.ensemble import RandomForestClassifier\n"
          "    return RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)"
          ".predict(X_test).tolist()\n```")


def test_mle_lookup_of_bundled_labels_scores_at_chance():
    from selfevolve_lab.exit.domains.mle import DATASETS, MLEDomain, split
    from selfevolve_lab.sandbox import Limits

    names = ("iris", "digits", "diabetes")
    d = MLEDomain(names, workers=2, limits=Limits(cpu_s=10.0, wall_s=15.0, memory_mb=3072))
    try:
        tasks = {t.data["dataset"]: Instance(t) for t in d.tasks("test")}
        items = [(tasks[n], LOOKUP.format(loader=DATASETS[n][0], nearest=nearest)) for n in names
                 for nearest in (False, True)]
        got = d.score_many(items + [(tasks["iris"], FOREST)])
        assert all(s < 0.2 and f.startswith("validation") for s, f in got[:-1]), got  # ran; was 1.0 on all three
        assert got[-1][0] > 0.8 and got[-1][1].startswith("validation accuracy")  # still learnable
    finally:
        d.close()
    a, b = split("iris", 10, 1), split("iris", 10, 2)
    assert a.X_fit != b.X_fit and (a.y_test == b.y_test).all()  # another secret, another disguise


def test_mle_feedback_is_the_validation_metric_only():
    from selfevolve_lab.exit.domains.mle import MLEDomain, split
    from selfevolve_lab.sandbox.protocol import to_tagged

    d = MLEDomain(("iris",), secret=5)
    sp = split("iris", 0, 5)
    n_val = len(sp.y_val)

    class Run:  # the sandbox's result for a solution right on validation rows, wrong on every test row
        status, outcomes = "ok", [type("O", (), {"ok": True, "value": None})()]

    Run.outcomes[0].value = to_tagged([int(v) for v in sp.y_val] + [int(v + 1) % 3 for v in sp.y_test])
    score, feedback = d._judge(Instance(d.tasks("train")[0]), Run)
    assert score == 0.0 and feedback == "validation accuracy 1.0000" and n_val == 23


def _http(url: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    req = urllib.request.Request(url, json.dumps(body).encode() if body is not None else None, headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_server_wants_the_api_key_on_every_route():
    import asyncio

    from selfevolve_lab.models.openai_backend import OpenAIBackend
    from selfevolve_lab.models.server import StubServer

    chat = {"messages": [{"role": "user", "content": "hi"}]}
    with StubServer(lambda body: ["ok"] * (body.get("n") or 1), api_key="s3cret") as srv:
        for key in (None, "wrong", "s3cret2", ""):
            for path, body in (("/chat/completions", chat), ("/models", None)):
                status, err = _http(srv.url + path, body, key)
                assert status == 401 and err["error"]["code"] == "invalid_api_key", (key, path)
                assert set(err["error"]) == {"message", "type", "param", "code"}
        assert not srv.requests  # nothing reached the model
        import socket

        port = int(srv.url.rsplit(":", 1)[1].split("/")[0])
        for raw in (b"Bearer \xff\xfe", "Bearer s3cret\u00e9".encode()):  # bytes that are not ASCII, or not UTF-8
            with socket.create_connection(("127.0.0.1", port)) as s:
                s.sendall(b"GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: " + raw + b"\r\nConnection: close\r\n\r\n")
                assert s.recv(200).startswith(b"HTTP/1.1 401"), raw  # the key check raised on them: a 500
        assert _http(srv.url + "/chat/completions", chat, "s3cret")[0] == 200

        async def ask():
            backend = OpenAIBackend([srv.url], api_key="s3cret", retries=0)
            try:
                return (await backend.complete(chat["messages"])).text
            finally:
                await backend.close()

        assert asyncio.run(ask()) == "ok"
    with StubServer(lambda body: ["open"]) as srv:  # no key: open, as before
        assert _http(srv.url + "/chat/completions", chat)[0] == 200


def test_server_caps_n_and_max_tokens():
    from selfevolve_lab.models.server import MAX_N, MAX_TOKENS_CAP, StubServer

    msgs = [{"role": "user", "content": "hi"}]
    with StubServer(lambda body: ["x"] * (body.get("n") or 1)) as srv:
        url = srv.url + "/chat/completions"
        for extra in ({"n": 3000}, {"n": MAX_N + 1}, {"n": 0}, {"n": "2"}, {"n": True},
                      {"max_tokens": MAX_TOKENS_CAP + 1}, {"max_completion_tokens": 10**9}, {"max_tokens": -1}):
            status, err = _http(url, {"messages": msgs, **extra})
            assert status == 400 and "cap" in err["error"]["message"] and err["error"]["type"] == "invalid_request_error", extra
        assert not srv.requests
        status, ok = _http(url, {"messages": msgs, "n": MAX_N, "max_tokens": MAX_TOKENS_CAP})
        assert status == 200 and len(ok["choices"]) == MAX_N
    with StubServer(lambda body: ["x"], max_n=2, max_tokens_cap=5) as srv:
        assert _http(srv.url + "/chat/completions", {"messages": msgs, "n": 3})[0] == 400
        assert _http(srv.url + "/chat/completions", {"messages": msgs, "max_tokens": 6})[0] == 400


def test_serving_beyond_loopback_without_a_key_warns(tmp_path):
    import subprocess
    import sys

    from selfevolve_lab.models.server import open_warning

    assert open_warning("0.0.0.0", None) and open_warning("10.1.2.3", "") and open_warning("myhost", None)
    assert open_warning("127.0.0.1", None) is None and open_warning("::1", None) is None
    assert open_warning("localhost", None) is None and open_warning("0.0.0.0", "k") is None
    r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "serve", "--model", str(tmp_path), "--max-n", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip().startswith("error:") and "--max-n" in r.stderr
    for host, key, warned in (("0.0.0.0", "", True), ("0.0.0.0", "k", False), ("127.0.0.1", "", False)):
        r = subprocess.run([sys.executable, "-m", "selfevolve_lab.cli", "serve", "--model", str(tmp_path / "none"),
                            "--host", host], capture_output=True, text=True, env={**os.environ, "SELFEVOLVE_API_KEY": key})
        assert r.returncode == 2 and ("WARNING" in r.stderr) == warned and "no such local path" in r.stderr, host
