"""Self-play: untrusted task texts are parsed, never evaluated; drops are counted by reason; a round trains."""

from __future__ import annotations

import json

import pytest

from train_fixtures import make_small_bench, one_torch_thread  # noqa: F401

GOOD = json.dumps({"prompt": "Return the absolute values of the list `x`, as a list.", "signature": "def solve(x):",
                   "inputs": [{"x": [-1, 2]}, {"x": [3]}, {"x": [-4, 0]}]})
SOLUTION = "```python\nimport zwc\n\n\ndef solve(x):\n    return zwc.falekef(zwc.yitaf(x)).gifune()\n```"


@pytest.fixture(scope="module")
def bench(mini_bench, tmp_path_factory):
    return make_small_bench(mini_bench.root, tmp_path_factory.mktemp("selfplay") / "bench")


@pytest.mark.parametrize("text,reason", [
    ("just words, no task here", "garbage"),
    ('{"prompt": "p", "signature": "import os; def solve(x):", "inputs": [{"x": 1}]}', "bad_signature"),
    ('{"prompt": "p", "signature": "def solve(x):", "inputs": "x=__import__(\'os\').system(\'id\')"}', "bad_inputs"),
    ('{"prompt": "p", "signature": "def solve(x):", "inputs": [{"y": 1}]}', "bad_inputs"),
    ('{"prompt": "p", "signature": "def solve(x):", "inputs": [{"x": {"$opaque": 1}}]}', "bad_inputs"),
    ('{"prompt": "p", "signature": "def solve(x):", "inputs": [{"x": [1, 2}]}', "garbage"),
    ('{"prompt": "p", "signature": "def solve(x):", "inputs": [{"x": ' + "[" * 100_000 + "]" * 100_000 + "}]}",
     "garbage"),  # json.loads raised RecursionError out of parse_task and ended the round
    ('{"prompt": "p", "signature": "def solve(x):", "inputs": [{"x": ' + "[" * 500 + "]" * 500 + "}]}",
     "bad_inputs"),  # parsed, but deeper than the sandbox protocol takes
])
def test_untrusted_task_texts_are_dropped_with_a_reason(text, reason):
    from selfevolve_lab.train.selfplay import parse_task

    task, why = parse_task(text, "zwc.falekef", "t")
    assert task is None and why == reason


def test_the_filter_votes_and_drops(bench):
    from selfevolve_lab.judge import Judge
    from selfevolve_lab.train.selfplay import filter_task, parse_task

    task, why = parse_task("Sure! " + GOOD + " Done.", "zwc.falekef", "t")
    assert why is None and [c.input for c in task.tests] == [{"x": [-1, 2]}, {"x": [3]}, {"x": [-4, 0]}]
    no_pkg = "```python\ndef solve(x):\n    return [abs(v) for v in x]\n```"
    wrong = "```python\nimport zwc\n\n\ndef solve(x):\n    return zwc.falekef(zwc.yitaf(x)).gifune()[:1]\n```"
    const = "```python\nimport zwc\n\n\ndef solve(x):\n    return zwc.jegedi(2).gifune()\n```"
    with Judge(bench, workers=2) as judge:
        kept, winners, why = filter_task(task, [SOLUTION, SOLUTION, SOLUTION, wrong, no_pkg], judge)
        assert why is None and winners == [SOLUTION] * 3 and kept.provenance["usage_probe"]["output"] is not None
        assert [c.output for c in kept.tests] == [[1, 2], [3], [4, 0]] and "falekef" in kept.reference
        assert judge.judge(kept, SOLUTION).passed  # the kept task is a real task: its majority solution passes
        assert filter_task(task, [no_pkg, no_pkg], judge)[2] == "not_using_package"
        assert filter_task(task, [SOLUTION, wrong], judge)[2] == "no_majority"
        # two of four agree: half of the samples is no majority, however many of them ran
        assert filter_task(task, [SOLUTION, SOLUTION, wrong, no_pkg], judge)[2] == "no_majority"
        assert filter_task(task, [const, const, const], judge)[2] == "constant_outputs"
        crash = "```python\nimport zwc\n\n\ndef solve(x):\n    return zwc.falekef(x[99])\n```"
        assert filter_task(task, [crash], judge)[2] == "no_running_solution"
        assert filter_task(task, [SOLUTION, crash, crash, crash], judge)[2] == "no_majority"  # 1 ran of 4: was kept


def test_a_task_the_usage_rule_cannot_apply_to_is_dropped(bench):
    """Solutions that wrap pure Python in the package's constructor: the usage rule cannot tell for such a
    task (its reference ignores the perturbed API), so the judge would pass a pure-Python answer to it."""
    from selfevolve_lab.judge import Judge
    from selfevolve_lab.train.selfplay import filter_task, parse_task

    task, _ = parse_task(GOOD, "zwc.falekef", "t")
    degenerate = "```python\nimport zwc\n\n\ndef solve(x):\n    return list(zwc.yitaf([abs(v) for v in x]) + 0)\n```"
    with Judge(bench, workers=2) as judge:
        assert judge.precheck(task, degenerate)[1] is None  # it passes the static usage check
        assert filter_task(task, [degenerate] * 4, judge) == (None, [], "usage_rule_cannot_apply")


def test_self_play_writes_from_the_train_split_only(bench, tmp_path):
    import shutil

    from selfevolve_lab.bench import Bench
    from selfevolve_lab.train.selfplay import scope

    root = tmp_path / "b"
    shutil.copytree(bench.root, root)
    train = (root / "tasks" / "train.jsonl").read_text()
    held_out = train.replace("zwc.falekef", "zwc.kocito").replace("zwc.jegedi", "zwc.kocito")
    (root / "tasks" / "test_single.jsonl").write_text(held_out)
    (root / "tasks" / "test_multi.jsonl").write_text(held_out)
    b = Bench.open(root)
    assert [d.novel for d in scope(b)] == ["zwc.falekef", "zwc.jegedi", "zwc.bafuro"]  # no kocito: test only
    (root / "tasks" / "train.jsonl").unlink()
    assert len(scope(Bench.open(root))) == 5  # no train split: every function doc


@pytest.mark.parametrize("learner", ["sft", "rl"])
def test_a_round_writes_filters_and_trains(bench, tmp_path, learner):
    """A tiny model taught to write one task from falekef's doc and to solve it; the other API's text is garbage."""
    from selfevolve_lab.schema import Verdict
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.data import SFTRecord
    from selfevolve_lab.train.run import CommonOptions
    from selfevolve_lab.train.selfplay import (
        SelfPlayHyper,
        parse_task,
        solve_prompt,
        train_selfplay,
        write_prompt,
    )
    from selfevolve_lab.train.sft import SFTHyper, train_sft

    entry = bench.docs[0]
    task, _ = parse_task(GOOD, entry.novel, "t")
    w, s = write_prompt(bench, entry), solve_prompt(bench, task)
    base = make_tiny_model(tmp_path / "base", corpus=[w[0]["content"], s[0]["content"], GOOD, SOLUTION], hidden=64,
                           vocab_size=600)
    v = Verdict(task_id="t", passed=True, status="passed")
    recs = [SFTRecord(task_id="w", prompt_open=w, prompt_closed=w, completion=GOOD, verdict=v),
            SFTRecord(task_id="s", prompt_open=s, prompt_closed=s, completion=SOLUTION, verdict=v)]
    (tmp_path / "teach.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in recs))
    opts = CommonOptions(lr=1e-2, epochs=60, batch_size=1, save_steps=1000, progress=False)
    train_sft(bench.root, str(base), tmp_path / "teach.jsonl", "closed", tmp_path / "taught", opts)
    run = tmp_path / "sp"
    hp = SelfPlayHyper(rounds=1, apis=2, tasks_per_api=2, n_solutions=3, temperature=0.2, max_tokens=96)
    from selfevolve_lab.train.rl import RLHyper

    res = train_selfplay(bench.root, str(tmp_path / "taught" / "model"), learner, run,
                         CommonOptions(lr=1e-3, epochs=1, save_steps=1000, progress=False, max_steps=1), hp, SFTHyper(),
                         RLHyper(group=2, prompts_per_step=1, micro_batch=2, max_completion_length=16))
    st = json.loads((run / "round-1" / "stats.json").read_text())
    assert st["written"] == 4 and st["kept"] >= 1 and st["trained"]
    assert st["kept"] + sum(st["dropped"].values()) == st["written"]
    assert st["parsed"] >= st["solved"] >= st["kept"]
    kept = [json.loads(line) for line in (run / "round-1" / "tasks.jsonl").read_text().splitlines()]
    assert [c["output"] for c in kept[0]["tests"]] == [[1, 2], [3], [4, 0]]
    assert len((run / "round-1" / "written.jsonl").read_text().splitlines()) == 4
    assert (run / "round-1" / "train" / "model" / "config.json").is_file() and res["model"].endswith("model")
    assert st["steps"] >= 1  # "trained" means optimizer steps were taken
    if learner == "rl":
        # the learner's weights moved away from where the round started (SFT's one step here is its warmup's,
        # at lr 0)
        from safetensors.torch import load_file

        start, end = (load_file(d / "model.safetensors") for d in (tmp_path / "taught" / "model",
                                                                   run / "round-1" / "train" / "model"))
        assert any(not (start[k] == end[k]).all() for k in start)
        # fewer kept tasks than one step's prompts: the round says so and the run fails
        from selfevolve_lab.errors import UserError

        with pytest.raises(UserError, match=r"self-play round 1: \d+ tasks < 99 prompts per step"):
            train_selfplay(bench.root, str(tmp_path / "taught" / "model"), learner, tmp_path / "few",
                           CommonOptions(lr=1e-3, epochs=1, save_steps=1000, progress=False, max_steps=1), hp,
                           SFTHyper(), RLHyper(group=2, prompts_per_step=99, micro_batch=2, max_completion_length=16))
        few = json.loads((tmp_path / "few" / "round-1" / "stats.json").read_text())
        assert few["trained"] is False and few["steps"] == 0 and "< 99 prompts per step" in few["error"]
        assert not (tmp_path / "few" / "round-1" / "train").exists()


class _Scripted:
    """A backend whose model writes the given text at each field, and runs on past it as a model would; it
    records the prefix each field was asked for."""

    def __init__(self, *fields: str):
        self.fields, self.prefixes = list(fields), []

    def extend(self, chat, prefix, *, stop, temperature, max_tokens, seed=None):
        self.prefixes.append(prefix)
        text = self.fields.pop(0)
        for n in range(1, min(len(text), max_tokens) + 1):  # one character per token
            if (at := stop(text[:n])) is not None:
                return text[:at], n, True
        return text[:max_tokens], min(len(text), max_tokens), False


def test_structured_writing_fixes_the_form_not_the_content():
    """The model's run-on past each value (the micro base's failure: extra keys, unclosed lists) is cut at
    the value's end; what it wrote inside a value is kept as written and parsed as untrusted text."""
    from selfevolve_lab.train.selfplay import parse_task, write_structured

    model = _Scripted('Return \\"x\\" doubled.", "signature": "def solve(x, y)',  # an escaped quote stays
                      'def solve(x, y):", "inputs": [{',
                      ' [-1, 2], "c": -4.9, "x2": [1', " 7}, {", " [3]]", ' "s"', ' [4, [5]],', " -2.5e1, ",
                      " true}", " null}")
    text = write_structured(model, [], inputs=3, temperature=0.6, max_tokens=200, seed=1)
    task, why = parse_task(text, "zwc.f", "t")
    assert why is None, text
    assert task.prompt == 'Return "x" doubled.' and task.signature == "def solve(x, y):"
    assert [c.input for c in task.tests] == [{"x": [-1, 2], "y": 7}, {"x": [3], "y": "s"},
                                             {"x": [4, [5]], "y": -25.0}]
    assert model.prefixes[2].endswith('"inputs": [{"x":') and model.prefixes[3].endswith('"y":')
    assert model.fields == [" true}", " null}"]  # three inputs of two parameters: six values, no more


@pytest.mark.parametrize("fields,reason", [
    (['p"', "def solve(x):"], "garbage"),  # no quote ends the signature: the budget does, mid-string
    (['p"', 'import os; def solve(x):"'], "bad_signature"),
    (['p"', 'def solve(x):"', "[" * 300], "garbage"),  # a value the budget ends before it closes
    (['p"', 'def solve(x):"', " [1, 2,, 3]"], "garbage"),  # never valid JSON: cut by the budget, a drop
    (['p"', 'def solve(x):"', " 1.,"], "garbage"),  # not a JSON number
    (['p"', 'def solve(x):"', " 1e999,", " 2,", " 3,"], "bad_inputs"),  # inf: not a value the protocol takes
])
def test_structured_writing_still_drops_what_does_not_parse(fields, reason):
    from selfevolve_lab.train.selfplay import parse_task, write_structured

    text = write_structured(_Scripted(*fields), [], inputs=3, temperature=0.6, max_tokens=120, seed=1)
    assert parse_task(text, "zwc.f", "t") == (None, reason)


def test_extend_samples_on_from_a_prefix_until_the_stop_says(tmp_path):
    from selfevolve_lab.models.hf_backend import TransformersBackend
    from selfevolve_lab.testing import make_tiny_model

    be = TransformersBackend(str(make_tiny_model(tmp_path / "m", corpus=["hello world " * 20], vocab_size=300)))
    chat = [{"role": "user", "content": "hi"}]
    text, used, stopped = be.extend(chat, "{", stop=lambda t: 2 if len(t) >= 3 else None, temperature=1.0,
                                    max_tokens=40, seed=3)
    assert stopped and len(text) == 2 and 1 <= used <= 3
    again = be.extend(chat, "{", stop=lambda t: 2 if len(t) >= 3 else None, temperature=1.0, max_tokens=40, seed=3)
    assert again == (text, used, stopped)
    text, used, stopped = be.extend(chat, "{", stop=lambda t: None, temperature=1.0, max_tokens=5, seed=3)
    assert not stopped and used <= 5
