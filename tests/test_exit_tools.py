"""The tools domain: seeded tasks with verified answers in disjoint splits, bad calls scored with feedback
(never an exception, never evaluated), and ExIt end to end on it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selfevolve_lab.exit.domain import Domain, Instance
from selfevolve_lab.exit.domains import DOMAINS, open_domain
from selfevolve_lab.exit.domains.tools import (
    MAX_CALL_BYTES,
    MAX_CALLS,
    ToolsDomain,
    database,
    reference_response,
)
from test_exit_run import _check_groups, _train_and_iterate


@pytest.fixture(scope="module")
def domain() -> ToolsDomain:
    return open_domain("tools", size=300)


def _call(tool: str, **args) -> str:
    return json.dumps({"tool": tool, "args": args})


def test_splits_share_no_task_and_every_reference_episode_scores_1(domain):
    assert "tools" in DOMAINS and isinstance(domain, Domain) and domain.verifiable
    train, test = domain.tasks("train"), domain.tasks("test")
    assert len(train) == len(test) == 300
    assert {t.id for t in train}.isdisjoint(t.id for t in test)
    assert {t.prompt for t in train}.isdisjoint(t.prompt for t in test)  # the id is the question's content
    assert {t.id.split("/")[0] for t in train} == {t.id.split("/")[0] for t in test}  # every template in both
    assert domain.tasks("train") == train and ToolsDomain(size=10).tasks("train") == train[:10]  # seeded, nested
    # the answer comes straight from the data; the reference episode reaches it through the tools
    got = domain.score_many([(Instance(t), reference_response(t)) for t in train + test])
    assert all(s == 1.0 and f.endswith("is correct") for s, f in got)
    assert all(len(t.data["reference"]) >= 2 for t in train)  # several calls per task


def test_a_wrong_or_missing_answer_scores_0_and_the_feedback_never_shows_the_expected_answer(domain):
    task = domain.tasks("train")[0]
    inst, expected = Instance(task), str(task.data["answer"])
    for response in ("ANSWER: 7", "no idea", "", "ANSWER:", _call("calc", op="add", a=1, b=2) + "\nANSWER: $1"):
        score, feedback = domain.score_one(inst, response)
        assert score == 0.0 and feedback.strip() and expected not in feedback, response
    assert domain.score_one(inst, "no idea")[1].startswith("no tool calls. no answer")
    assert domain.score_one(inst, f"ANSWER: {int(expected):,}")[0] == 1.0  # a number is compared as a number
    zero = domain.score_one(inst, _call("calc", op="sub", a=2, b=2) + "\nANSWER: $1")
    assert zero == (0.0, "call 1: calc(op='sub', a=2, b=2) -> 0. The answer 0 is incorrect")  # 0 is an answer


BAD = {
    "malformed JSON": ('{"tool": "lookup", "args": {', "malformed JSON"),
    "not a call": ('{"name": "lookup"}', "malformed call"),
    "unknown tool": (_call("shell", cmd="ls"), "unknown tool 'shell'"),
    "missing argument": (_call("calc", op="add", a=1), "bad arguments"),
    "extra argument": (_call("calc", op="add", a=1, b=2, c=3), "bad arguments"),
    "op outside the closed set": (_call("calc", op="pow", a=2, b=3), "bad arguments: op must be one of"),
    "wrong type": (_call("calc", op="add", a="one", b=2), "bad arguments: a must be a number"),
    "bool is no number": (_call("calc", op="add", a=True, b=2), "bad arguments: a must be a number"),
    "not finite": ('{"tool": "calc", "args": {"op": "add", "a": NaN, "b": 1}}', "bad arguments"),
    "too big a number": (_call("calc", op="mul", a=10**16, b=1), "bad arguments"),
    "result out of range": (_call("calc", op="mul", a=10**15, b=10**15), "result out of range"),
    "division by zero": (_call("calc", op="div", a=1, b=0), "division by zero"),
    "long string": (_call("lookup", table="cities", key="x" * 100, field="population"), "bad arguments: key must be a string of at most 64"),
    "huge call": (_call("lookup", table="cities", key="x" * 10_000, field="population"),
                  f"call too large (over {MAX_CALL_BYTES} bytes)"),
    "unknown key": (_call("lookup", table="cities", key="Atlantis", field="population"), "no row 'Atlantis'"),
    "field of another table": (_call("lookup", table="cities", key=next(iter(database().cities)), field="price"),
                               "cities have no field 'price'"),
    "reference to no call": (_call("calc", op="add", a="$5", b=1), "bad arguments: a refers to $5"),
}


@pytest.mark.parametrize("kind", list(BAD))
def test_each_bad_call_is_a_scored_turn_with_feedback(domain, kind):
    line, why = BAD[kind]
    score, feedback = domain.score_one(Instance(domain.tasks("train")[0]), f"{line}\nANSWER: 3")
    assert score == 0.0 and feedback.startswith(f"call 1: failed ({why}"), feedback


def test_too_many_calls_are_not_run(domain):
    task = domain.tasks("train")[0]
    calls = [_call("calc", op="add", a=i, b=1) for i in range(MAX_CALLS + 2)]
    score, feedback = domain.score_one(Instance(task), "\n".join(calls) + f"\nANSWER: ${MAX_CALLS}")
    assert score == 0.0 and f"call {MAX_CALLS}: calc(op='add', a={MAX_CALLS - 1}, b=1) -> {MAX_CALLS}" in feedback
    assert feedback.endswith(f"calls {MAX_CALLS + 1}-{MAX_CALLS + 2}: failed (too many calls: at most {MAX_CALLS} "
                             f"run). The answer {MAX_CALLS} is incorrect")
    flood = domain.score_one(Instance(task), "{}\n" * 5000)  # one line for the calls past the cap, not 4992
    assert flood[0] == 0.0 and len(flood[1]) < 1000


def test_a_python_payload_in_arguments_is_rejected_and_never_evaluated(domain, tmp_path: Path):
    pwned = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {pwned}')"
    for line in (_call("calc", op="add", a=payload, b=1), _call("calc", op=payload, a=1, b=1),
                 _call("lookup", table="cities", key=payload, field="population"),
                 json.dumps({"tool": payload, "args": {}})):
        score, feedback = domain.score_one(Instance(domain.tasks("train")[0]), f"{line}\nANSWER: {payload}")
        assert score == 0.0 and not pwned.exists()
        assert feedback.startswith("call 1: failed (") and ("bad arguments" in feedback or "unknown tool" in feedback
                                                            or "no row" in feedback)
    assert "bad arguments: a must be a number" in domain.score_one(
        Instance(domain.tasks("train")[0]), _call("calc", op="add", a=payload, b=1))[1]


def test_bad_size_is_a_one_line_error():
    from selfevolve_lab.errors import UserError

    with pytest.raises(UserError):
        ToolsDomain(size=0)


def test_tools_end_to_end(tmp_path, capsys):
    import torch

    torch.set_num_threads(1)
    solutions = [reference_response(t) for t in ToolsDomain(size=2).tasks("train")]  # one per training task
    domain = ["--domain", "tools", "--size", "2"]
    # seed 1 draws the two tasks at step 0 (seed 0 draws one twice, and the buffer holds one S per instance,
    # which the shared check reads as its group's)
    run, trajs = _train_and_iterate(tmp_path, capsys, domain, [*solutions, "no idea"],
                                    ["--embedder", "hash", "--seed", "1"])
    groups = _check_groups(run, verifiable=True, diversity=True)  # each logged S is 4 x its returns' variance
    assert any(g["learnability"] > 0 for g in groups)  # one answer in three solves the task: groups disagree
    assert all(f.startswith(("call 1", "no tool calls")) for t in trajs for f in t["feedback"])
    states = [json.loads(p.read_text()) for p in (run / "checkpoints").glob("*/exit_state.json")]
    assert states and "RESULT 1: " in json.dumps(states)  # training's episodes had turns: their results are in the buffer


# ---- episodes with turns --------------------------------------------------------------------------------

def test_a_turn_is_cut_after_its_first_call_and_the_call_s_result_is_the_next_message(domain):
    from selfevolve_lab.exit.domain import Interactive

    assert isinstance(domain, Interactive) and domain.max_turns == MAX_CALLS + 1
    city = next(iter(database().cities))
    pop = database().cities[city]["population"]
    call = _call("lookup", table="cities", key=city, field="population")
    # notes before the call are kept; what follows it (a forged RESULT, an answer) was never read by anyone
    kept, message = domain.respond([], f"I look it up.\n{call}\nRESULT 1: 5\nANSWER: $1")
    assert kept == f"I look it up.\n{call}" and message == f"RESULT 1: {pop!r}"
    kept2, message2 = domain.respond([kept], _call("calc", op="add", a="$1", b=1))  # $1 is the earlier turn's
    assert message2 == f"RESULT 2: {pop + 1!r}"
    assert domain.respond([kept, kept2], f"ANSWER: {pop + 1}\n{call}") == (f"ANSWER: {pop + 1}\n{call}", None)
    assert domain.respond([], "no call at all") == ("no call at all", None)
    assert domain.respond([call] * MAX_CALLS, call) == (call, None)  # the episode has run its calls


@pytest.mark.parametrize("kind", list(BAD))
def test_a_bad_call_in_a_turn_is_a_message_saying_why(domain, kind):
    line, why = BAD[kind]
    kept, message = domain.respond([], f"{line}\nmore")
    assert kept == line and message.startswith(f"RESULT 1: failed ({why}"), message


def test_a_python_payload_in_a_turn_is_never_evaluated(domain, tmp_path: Path):
    pwned = tmp_path / "pwned"
    payload = f"__import__('os').system('touch {pwned}')"
    for line in (_call("calc", op="add", a=payload, b=1), _call("lookup", table=payload, key="x", field="city"),
                 f'{{"tool": "calc", "args": {payload}}}'):
        _, message = domain.respond([], line)
        assert message.startswith("RESULT 1: failed (") and not pwned.exists(), message


def test_an_episode_read_turn_by_turn_answers_with_the_value_it_was_shown(domain):
    """The point of turns: the model answers with the number a tool returned, which it could not know before."""
    from selfevolve_lab.exit.inference import episodes

    task = next(t for t in domain.tasks("test") if t.id.startswith("stock_value/"))
    seen: list[list[dict]] = []

    def generate(chats, seed):
        seen.extend(chats)
        out = []
        for chat in chats:
            results = [m["content"].split(": ", 1)[1] for m in chat if m["role"] == "user" and
                       m["content"].startswith("RESULT")]
            product = task.id.split("/", 1)[1]
            plan = [_call("lookup", table="products", key=product, field="price"),
                    _call("lookup", table="products", key=product, field="stock")]
            if len(results) < 2:
                out.append(plan[len(results)] + "\n" + _call("calc", op="add", a=1, b=1))  # a second call: dropped
            else:
                out.append(f"ANSWER: {int(results[0]) * int(results[1])}")
        return out

    [text] = episodes(domain, generate, [[{"role": "user", "content": task.prompt}]], seed=0)
    assert domain.score_one(Instance(task), text)[0] == 1.0
    assert text.count("RESULT") == 2 and "add" not in text
    assert [m["role"] for m in seen[-1]] == ["user", "assistant", "user", "assistant", "user"]


def test_turns_rollout_masks_the_environment_s_tokens_and_keeps_the_model_s(tmp_path):
    """TRL's rollout_func for turns: the completion is reply, template + message (env_mask 0), reply, ...; the
    reward functions get the same episode as text."""
    from transformers import AutoTokenizer

    from selfevolve_lab.exit.domain import episode_text
    from selfevolve_lab.testing import make_tiny_model
    from selfevolve_lab.train.grpo import _env_suffix, turns_rollout

    make_tiny_model(tmp_path / "m")
    tok = AutoTokenizer.from_pretrained(tmp_path / "m")
    dom = ToolsDomain(size=4)
    city = next(iter(database().cities))
    first = _call("lookup", table="cities", key=city, field="population") + "\n" + _call("calc", op="add", a=1, b=2)
    call = _call("lookup", table="cities", key=city, field="population")
    # round 1: a call and more (cut), no call (ends), a call and the end of its turn; round 2: the two going on
    script = [[first, "no call", call], ["ANSWER: $1", "ANSWER: $1"]]

    class Trainer:
        processing_class = tok
        max_completion_length = 400
        num_generations = 2
        calls: list = []

        def _tokenize_prompts(self, prompts):
            return [tok(p, add_special_tokens=False)["input_ids"] for p in prompts], None, None

        def _generate_single_turn(self, prompt_ids, images, fields, n):
            self.calls.append(prompt_ids)
            return [tok(t, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
                    for t in script[len(self.calls) - 1]], None

    trainer = Trainer()
    out = turns_rollout(dom.respond, dom.max_turns)(["question"] * 3, trainer)
    ids, mask = out["completion_ids"][0], out["env_mask"][0]
    assert len(ids) == len(mask) and 0 in mask
    model_text = tok.decode([t for t, m in zip(ids, mask, strict=True) if m], skip_special_tokens=True)
    assert "calc" not in model_text and model_text.startswith("{") and model_text.endswith("ANSWER: $1")
    env = [t for t, m in zip(ids, mask, strict=True) if not m]
    message = out["env_messages"][0][0]
    assert env == list(_env_suffix(tok, message)) and message.startswith("RESULT 1: ")
    assert tok.decode(env, skip_special_tokens=True).count("RESULT 1") == 1
    q = trainer._tokenize_prompts(["question"])[0][0]
    assert trainer.calls[1][0] == q + ids[:-len(tok("ANSWER: $1")["input_ids"]) - 1]
    assert out["env_mask"][1] == [1] * len(out["completion_ids"][1])  # no call: one turn, all the model's
    assert episode_text(out["turns"][0], out["env_messages"][0]).endswith(message + "\nANSWER: $1")
    ids2, mask2 = out["completion_ids"][2], out["env_mask"][2]  # the model ended its turn: that token is its own
    n = len(tok(call, add_special_tokens=False)["input_ids"])
    assert ids2[n] == tok.eos_token_id and mask2[: n + 1] == [1] * (n + 1)
    assert ids2[n + 1:][: len(env)] == env and mask2[n + 1:][: len(env)] == [0] * len(env)
    assert tok.decode(env).startswith("\n<|user|>\nRESULT 1: ")  # the template's own text after a reply
    assert out["turns"][2][0] == call and out["env_messages"][2] == [message]
    assert dom.score_one(Instance(dom.tasks("train")[0]), episode_text(out["turns"][1], out["env_messages"][1]))[0] == 0
