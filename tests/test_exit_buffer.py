"""ExIt's buffer, rewards, prompts and diversity bonus: the paper's rules, checked one by one."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from selfevolve_lab.exit import diversity, prompts, rewards
from selfevolve_lab.exit.buffer import Buffer, learnability
from selfevolve_lab.exit.domain import Attempt, BaseTask, Instance

TASK = BaseTask("t0", "Compute 2 + 2.")


def inst(*scores: float, task: BaseTask = TASK) -> Instance:
    return Instance(task, tuple(Attempt(f"answer {i} {s}", s, f"feedback {i}") for i, s in enumerate(scores)))


def test_instance_ids_parents_and_prefixes():
    a = inst(0.1, 0.5, 0.7)
    assert a.depth == 3 and a.parent_id == inst(0.1, 0.5).id and inst().parent_id is None
    assert [p.id for p in a.prefixes()] == [inst(0.1).id, inst(0.1, 0.5).id, a.id]
    assert inst(0.1).id != Instance(BaseTask("t1", "x"), inst(0.1).history).id
    assert a.child(Attempt("r", 1.0, "f")).parent_id == a.id


def test_learnability_is_scaled_population_variance():
    assert learnability([0, 1, 0, 1]) == pytest.approx(1.0)
    assert learnability([1, 1, 1]) == 0.0 and learnability([0.5]) == 0.0
    r = [0.0, 0.25, 1.0, 0.5]
    assert learnability(r) == pytest.approx(4 * np.mean((np.array(r) - np.mean(r)) ** 2))


def test_admission_and_eviction_at_the_boundary():
    buf = Buffer(capacity=3, min_size=0)
    a, b, c = inst(0.1), inst(0.2), inst(0.3)
    for x, s in ((a, 0.5), (b, 0.2), (c, 0.8)):
        assert buf.insert(x, s)
    d = inst(0.4)
    assert not buf.insert(d, 0.19) and d.id not in buf and len(buf) == 3  # below the minimum: rejected
    e = inst(0.6)
    assert buf.insert(e, 0.2)  # equal to the minimum: admitted, and it replaces that minimum
    assert b.id not in buf and e.id in buf and len(buf) == 3
    f = inst(0.7)
    assert buf.insert(f, 0.2)  # the minimum is now e (0.2): equal again, e goes
    assert e.id not in buf and {a.id, c.id, f.id} == {x.instance.id for x in buf.entries()}


def test_equal_minima_evict_the_oldest():
    buf = Buffer(capacity=2, min_size=0)
    a, b = inst(0.1), inst(0.2)
    buf.insert(a, 0.3)
    buf.insert(b, 0.3)
    buf.insert(inst(0.9), 0.3)
    assert a.id not in buf and b.id in buf


def test_children_inherit_and_every_prefix_is_inserted():
    buf = Buffer(capacity=100, min_size=0)
    parent = inst(0.2, 0.4)
    children = [parent.child(Attempt(f"r{i}", s, "f")) for i, s in enumerate((0.1, 0.9))]
    buf.insert_group(parent, 0.64, children)
    assert buf.score_of(parent.id) == 0.64
    assert all(buf.score_of(c.id) == 0.64 for c in children)  # inherited
    assert buf.score_of(inst(0.2).id) == 0.64  # a prefix not held yet is inserted too
    assert len(buf) == 4
    # a later group on a child measures that child; its held ancestors keep their own S
    grand = children[0].child(Attempt("g", 0.5, "f"))
    buf.insert_group(children[0], 0.1, [grand])
    assert buf.score_of(children[0].id) == 0.1 and buf.score_of(grand.id) == 0.1
    assert buf.score_of(parent.id) == 0.64 and buf.score_of(inst(0.2).id) == 0.64
    # a longer history arriving at once: every one of its per-turn prefixes goes in
    deep = inst(0.1, 0.2, 0.3, 0.4)
    buf.insert_group(deep, 0.3, [deep.child(Attempt("x", 1.0, "ok"))])
    assert all(p.id in buf for p in deep.prefixes())


def test_sampling_matches_exp_kappa_s_by_chi_square():
    kappa = 3.0
    buf = Buffer(capacity=10, min_size=0, kappa=kappa)
    scores = [0.0, 0.1, 0.3, 0.5, 0.9, 1.0]
    items = [inst(i / 10) for i in range(len(scores))]
    for x, s in zip(items, scores, strict=True):
        buf.insert(x, s)
    rng = np.random.default_rng(0)
    draws = [buf.sample(rng).id for _ in range(10_000)]
    observed = np.array([draws.count(x.id) for x in items])
    w = np.exp(kappa * np.array(scores))
    expected = 10_000 * w / w.sum()
    assert chisquare(observed, expected).pvalue > 0.01
    # and the test has power: a uniform sampler would fail it
    uniform = np.full(len(items), 10_000 / len(items))
    assert chisquare(uniform, expected).pvalue < 1e-6


def test_p_and_b_min_respected():
    base = [BaseTask(f"b{i}", "q") for i in range(5)]
    buf = Buffer(capacity=50, min_size=10, p=0.3)
    rng = np.random.default_rng(1)
    for i in range(9):
        buf.insert(inst(i / 100), 0.5)
    assert all(buf.draw(base, rng).depth == 0 for _ in range(500))  # below B_min: base tasks only
    buf.insert(inst(0.99), 0.5)
    draws = [buf.draw(base, rng) for _ in range(10_000)]
    from_buffer = sum(d.id in buf for d in draws)
    assert abs(from_buffer / 10_000 - 0.3) < 0.02
    assert all(d.id in buf or (d.depth == 0 and d.task in base) for d in draws)
    never = Buffer(capacity=50, min_size=0, p=0.0)
    never.insert(inst(0.5), 1.0)
    assert all(never.draw(base, rng).depth == 0 for _ in range(200))


def test_buffer_records():
    buf = Buffer(capacity=10, min_size=0)
    parent = inst(0.2)
    buf.insert_group(parent, 0.5, [parent.child(Attempt("r", 1.0, "f"))])
    recs = buf.records(step=3)
    assert [(r["step"], r["depth"], r["score"]) for r in recs] == [(3, 1, 0.5), (3, 2, 0.5)]
    assert recs[1]["parent_id"] == recs[0]["instance_id"]


def test_rewards():
    assert rewards.improvement(0.75, 0.5) == pytest.approx(0.5)
    assert rewards.improvement(0.25, 0.5) == 0.0
    assert rewards.improvement(1.0, 1.0) == 1.0
    assert rewards.step_reward(0.75, kind="improve", previous=0.5, verifiable=False) == pytest.approx(0.5)
    assert rewards.step_reward(0.75, kind="diverge", previous=0.5, verifiable=False) == 0.75
    assert rewards.step_reward(0.75, kind="first", previous=None, verifiable=False) == 0.75
    assert rewards.step_reward(1.0, kind="improve", previous=0.0, verifiable=True) == 1.0
    assert rewards.step_reward(0.0, kind="improve", previous=1.0, verifiable=True) == 0.0


def test_prompts_show_the_latest_attempt():
    i = inst(0.2, 0.4)
    assert prompts.text(Instance(TASK), "first") == TASK.prompt
    imp, div = prompts.text(i, "improve"), prompts.text(i, "diverge")
    for t in (imp, div):
        assert t.startswith(TASK.prompt) and "answer 1 0.4" in t and "feedback 1" in t and "answer 0 0.2" not in t
    assert "Improve your previous attempt" in imp and "significantly different approach" in div
    assert div.index("approach of the previous attempt") < div.index("complete answer")


def test_diversity_bonus_matches_hand_computation():
    e = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0], [1.0, 1.0]])
    # centroid (1, 1.8); distances by hand
    dist = [np.hypot(1, 1.8), np.hypot(1, 1.8), np.hypot(1, 2.2), np.hypot(1, 2.2), 0.8]
    spread = max(dist) - min(dist)
    np.testing.assert_allclose(diversity.bonus(e), [d / spread for d in dist])
    assert diversity.bonus(np.ones((3, 4))).tolist() == [1.0, 1.0, 1.0]  # no spread: advantages kept


def test_scale_advantages_per_group():
    table = {"a": [0.0, 0.0], "b": [3.0, 0.0], "c": [0.0, 0.0], "d": [0.0, 1.0], "e": [0.0, 3.0], "f": [0.0, 0.0]}
    embed = lambda texts: np.array([table[t] for t in texts])  # noqa: E731
    adv = [1.0, -1.0, 0.5, 2.0, -2.0, 0.0]
    out = diversity.scale_advantages(adv, list("abcdef"), 3, embed)
    # group 1: centroid (1,0): distances 1, 2, 1 -> spread 1 -> d = 1, 2, 1
    # group 2: centroid (0, 4/3): distances 1/3, 5/3, 4/3 -> spread 4/3 -> d = 1/4, 5/4, 1
    np.testing.assert_allclose(out, [1.0, -2.0, 0.5, 0.5, -2.5, 0.0])
    with pytest.raises(ValueError):
        diversity.scale_advantages(adv[:5], list("abcde"), 3, embed)
    seen = []

    def recording(texts):
        seen.extend(texts)
        return embed(texts)

    out = diversity.scale_advantages([0.0, 0.0, 0.0, 2.0, -2.0, 0.0], list("abcdef"), 3, recording)
    np.testing.assert_allclose(out, [0.0, 0.0, 0.0, 0.5, -2.5, 0.0])
    assert seen == list("def")  # a group whose advantages are all zero is not embedded
    seen.clear()
    out = diversity.scale_advantages([1.0, -1.0, 0.5, 2.0, -2.0, 0.0], list("abcabc"), 3, recording)
    np.testing.assert_allclose(out, [1.0, -2.0, 0.5, 2.0, -4.0, 0.0])
    assert seen == list("abc")  # each distinct text embedded once


def test_cached_embedder_embeds_each_recent_text_once_and_returns_the_same_rows():
    seen = []

    def recording(texts):
        seen.append(list(texts))
        return np.array([[float(len(t)), float(ord(t[0]))] for t in texts])

    e = diversity.Cached(recording, size=2)
    first = e(["aa", "b", "aa"])
    np.testing.assert_array_equal(first, [[2, 97], [1, 98], [2, 97]])
    np.testing.assert_array_equal(e(["b", "ccc"]), [[1, 98], [3, 99]])
    assert seen == [["aa", "b"], ["ccc"]] and e.embedded == 3
    e(["aa"])  # evicted (the two most recent were b and ccc): embedded again
    assert seen[-1] == ["aa"] and e.embedded == 4


def test_minilm_cache_gives_the_rows_a_fresh_embedding_gives():
    e = diversity.MiniLMEmbedder()
    a = e(["def solve(x):\n    return x", "import zwc"])
    b = e(["import zwc", "something else"])
    assert e.embedded == 3
    np.testing.assert_allclose(b[0], a[1])
    np.testing.assert_allclose(e._encode(["import zwc"])[0], a[1], atol=1e-5)


def test_static_embedder_is_the_mean_of_minilms_token_embeddings():
    e = diversity.StaticEmbedder()
    one, two, both, again, empty = e(["import", "return", "import return", "import", ""])
    assert one.shape == (384,) and np.isfinite(empty).all()
    np.testing.assert_array_equal(one, again)  # deterministic
    np.testing.assert_allclose(both, (one + two) / 2)  # two single-piece words: the mean of their rows
    assert not np.allclose(one, two)
    assert e([]).shape == (0, 384)


def test_embedders_by_name():
    assert isinstance(diversity.make_embedder("static"), diversity.StaticEmbedder)
    assert isinstance(diversity.make_embedder("hash"), diversity.HashEmbedder)
    assert isinstance(diversity.make_embedder("minilm"), diversity.MiniLMEmbedder)
    assert list(diversity.EMBEDDERS) == ["minilm", "static", "hash"]
    with pytest.raises(ValueError, match="unknown embedder"):
        diversity.make_embedder("bert")
