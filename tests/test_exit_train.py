"""The ExIt curriculum between GRPO's scoring and its update, and the one TRL internal it relies on."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from selfevolve_lab.exit import diversity
from selfevolve_lab.exit.curriculum import VARIANTS, Curriculum, ExItConfig
from selfevolve_lab.exit.domains.math import MathDomain
from selfevolve_lab.jsonl import read_jsonl

TABLE = {"a": [0.0, 0.0], "b": [3.0, 0.0], "c": [0.0, 4.0], "d": [1.0, 1.0]}


def embed(texts):
    return np.array([TABLE[t[-1]] for t in texts])


def _step(cur: Curriculum, answers: list[str]) -> tuple[np.ndarray, np.ndarray]:
    drawn = cur.draw(2)
    rows = [g for g in range(len(drawn)) for _ in answers]
    returns = cur.reward([[{"role": "assistant", "content": a}] for _ in drawn for a in answers], rows)
    adv = np.array(returns) - 0.5 + np.arange(len(returns)) * 0.1  # any engine's advantages
    return adv, cur.finish(adv)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_diversity_bonus_only_when_on(tmp_path, variant):
    answers = ["<answer>0</answer> a", "x b", "<answer>1</answer> c", "d"]
    for on in (True, False):
        cfg = ExItConfig(variant=variant, diversity=on, group=4, prompts=2, buffer_min=0)
        cur = Curriculum(MathDomain(size=2), cfg, tmp_path / f"{variant}-{on}", embedder=embed)
        adv, out = _step(cur, answers)
        if on and variant == "exit":
            d = diversity.bonus(embed(answers))
            np.testing.assert_allclose(out, adv * np.tile(d, 2))
            assert not np.allclose(out, adv)
        else:  # --no-diversity, and every ablation without the bonus: untouched
            assert out is adv or np.array_equal(out, adv)
        logged = read_jsonl(tmp_path / f"{variant}-{on}" / "groups.jsonl")
        assert np.concatenate([g["trained_advantages"] for g in logged]).tolist() == pytest.approx(out.tolist())


def test_variants_grow_the_buffer_as_the_paper_table_says(tmp_path):
    answers = ["<answer>0</answer>", "no", "<answer>1</answer>", "?"]
    sizes = {}
    for variant in VARIANTS:
        cfg = ExItConfig(variant=variant, group=4, prompts=2, buffer_min=0, diversity=False)
        cur = Curriculum(MathDomain(size=2), cfg, tmp_path / variant)
        _step(cur, answers)
        depths = {e.instance.depth for e in cur.buffer.entries()}
        sizes[variant] = (len(cur.buffer), depths)
    assert sizes["grpo"] == (0, set())
    assert sizes["curriculum"][1] == {0}  # base tasks only
    for v in ("improve", "diverge", "exit"):
        assert sizes[v][1] == {0, 1}  # the base instances and their children


def test_diverge_only_in_variants_that_diverge(tmp_path):
    for variant, expect in (("improve", {"improve"}), ("exit", {"improve", "diverge"})):
        cfg = ExItConfig(variant=variant, group=2, prompts=50, buffer_min=0, p=1.0, p_div=0.5, diversity=False)
        cur = Curriculum(MathDomain(size=2), cfg, tmp_path / variant)
        _step(cur, ["<answer>0</answer>", "no"])
        kinds = {k for _, k in cur.draw(200)}
        assert kinds - {"first"} == expect


def test_trl_override_is_pinned():
    """ExIt sets each group's prompt before TRL generates through the engine's prompt_hook (the engine's
    override of _generate_and_score_completions: no public hook chooses prompts at generation time) and
    rescales advantages through its advantage_hook. A TRL upgrade must re-check it: the version, the method's
    signature, that it returns the advantages, and the engine's hooks."""
    import trl
    from trl import GRPOTrainer

    from selfevolve_lab.train.grpo import TRL_VERSION, GRPOEngine

    assert trl.__version__ == TRL_VERSION
    assert {"prompt_hook", "advantage_hook"} <= set(inspect.signature(GRPOEngine.__init__).parameters)
    method = GRPOTrainer._generate_and_score_completions
    assert list(inspect.signature(method).parameters) == ["self", "inputs"]
    assert '"advantages": advantages' in inspect.getsource(method)


def test_a_run_of_zero_steps_is_refused_before_it_starts(tmp_path):
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.exit.trainer import train

    with pytest.raises(UserError, match="at least 1 step"):
        train(MathDomain(size=2), "unused", ExItConfig(max_steps=0), tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("bad, message", [({"variant": "nope"}, "--variant is one of"),
                                          ({"embedder": "nope"}, "--embedder of"),
                                          ({"group": 1}, "need --group >= 2"), ({"p_div": 1.5}, "p-div in"),
                                          ({"buffer_min": 9, "buffer": 8}, "0 <= --buffer-min <= --buffer")])
def test_settings_no_run_can_take_are_one_line_errors(bad, message, tmp_path):
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.exit.trainer import train

    with pytest.raises(UserError, match=message):
        train(MathDomain(size=2), "unused", ExItConfig(**bad), tmp_path / "run")
    assert not (tmp_path / "run").exists()
