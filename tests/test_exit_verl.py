"""The verl curriculum sampler: its verl-free core always, the verl class where verl is installed."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from selfevolve_lab.exit.verl_sampler import RowCurriculum, _row


def test_row_curriculum_scores_groups_and_children_inherit():
    c = RowCurriculum(4, capacity=10, min_size=2, p=1.0, kappa=2.0, seed=0)
    assert all(0 <= c.draw() < 4 for _ in range(50))  # empty buffer: base rows
    got = c.update(index=[0, 0, 1, 1], uid=["a", "a", "b", "b"], returns=[0.0, 1.0, 1.0, 1.0])
    assert got == {"a": pytest.approx(1.0), "b": 0.0}
    assert c.buffer.score_of(_row(0).id) == pytest.approx(1.0)
    # rows 7 and 8 were appended by the dataset as children of row 0 and row 1: they inherit
    assert c.grow(7, 0) and c.grow(8, 1) and not c.grow(9, 3)  # row 3 was never measured
    assert c.buffer.score_of(_row(7).id) == pytest.approx(1.0) and c.buffer.score_of(_row(8).id) == 0.0
    draws = [c.draw() for _ in range(4000)]
    assert set(draws) == {0, 1, 7, 8}  # p = 1 and B_min reached: buffer rows only, by index
    w = np.exp(2.0 * np.array([1.0, 0.0, 1.0, 0.0]))
    assert abs(draws.count(7) / 4000 - w[2] / w.sum()) < 0.03
    c.update(index=[7, 7], uid=["c", "c"], returns=[0.5, 0.5])  # measured: its own S now
    assert c.buffer.score_of(_row(7).id) == 0.0


def test_verl_sampler_class():
    pytest.importorskip("verl")
    from selfevolve_lab.exit.verl_sampler import ExItSampler

    s = ExItSampler(list(range(5)), {"sampler": {"exit": {"min_size": 0, "p": 0.5}}})
    assert len(s) == 5 and all(0 <= i < 5 for i in s)


class _Tok:
    def decode(self, ids, skip_special_tokens=True):
        return " ".join(f"w{int(i)}" for i in ids)


def _rows_dataset(n: int):
    """`ChildRows` as verl's RLHFDataset holds it: a datasets.Dataset of exported rows, a tokenizer. The rows'
    extra_info indices are not their positions (as after verl's filter_overlong_prompts)."""
    import datasets

    from selfevolve_lab.exit.verl_sampler import ChildRows

    class Rows(ChildRows):
        def __init__(self):
            self.dataframe = datasets.Dataset.from_list([
                {"data_source": "selfevolve", "prompt": [{"role": "user", "content": f"request {i}"}],
                 "reward_model": {"style": "rule", "ground_truth": f"t{i}"},
                 "extra_info": {"split": "train", "index": 10 + 2 * i, "task_id": f"t{i}"}} for i in range(n)])
            self.tokenizer = _Tok()
            self.exit_init()

    return Rows()


def _batch(index, uid, returns, lengths, status):
    """A verl DataProto's fields that the sampler and the dataset read."""
    import torch

    n, width = len(index), 4
    scores = torch.zeros(n, width)
    scores[torch.arange(n), torch.tensor(lengths) - 1] = torch.tensor(returns, dtype=torch.float32)
    mask = torch.cat([torch.ones(n, 2), (torch.arange(width) < torch.tensor(lengths)[:, None]).float()], 1)
    return SimpleNamespace(
        batch={"prompts": torch.zeros(n, 2, dtype=torch.long), "responses": torch.arange(n * width).view(n, width),
               "attention_mask": mask, "token_level_scores": scores},
        non_tensor_batch={"index": np.array(index), "uid": np.array(uid, dtype=object),
                          "extra_info": np.array([{"parent_index": -1}] * n, dtype=object),
                          "status": np.array(status, dtype=object), "detail": np.array([""] * n, dtype=object)})


def test_the_dataset_grows_rows_the_buffer_holds_and_both_survive_a_resume():
    from selfevolve_lab.exit.verl_sampler import SamplerCore

    config = {"sampler": {"exit": {"capacity": 3, "min_size": 1, "p": 1.0, "kappa": 1.0, "seed": 5}}}
    data = _rows_dataset(3)
    assert [r["extra_info"]["index"] for r in data.dataframe] == [0, 1, 2]  # positions, as the sampler draws them
    sampler = SamplerCore(data, config)
    assert len(sampler) == 3
    # group a on row 0 (returns 0, 1: S > 0), group b on row 1 (returns 1, 1: S = 0)
    sampler.update(_batch([0, 0, 1, 1], ["a", "a", "b", "b"], [0.0, 1.0, 1.0, 1.0], [2, 3, 1, 4],
                          ["wrong_answer", "passed", "passed", "passed"]))
    # capacity 3: rows 0 and 1, then row 0's two children evict row 1; row 1's children are turned away, unwritten
    assert len(data) == 5 and len(sampler) == 3
    held = lambda s: sorted(int(e.instance.task.id.removeprefix("row-")) for e in s.curriculum.buffer.entries())  # noqa: E731
    assert held(sampler) == [0, 3, 4]
    child = data.dataframe[3]
    assert child["extra_info"] == {"split": "train", "index": 3, "task_id": "t0", "parent_index": 0,
                                   "exit_request": "request 0", "exit_depth": 1}
    text = child["prompt"][0]["content"]
    assert text.startswith("request 0") and "w0 w1" in text and "w2" not in text and "wrong_answer" in text
    assert child["reward_model"] == data.dataframe[0]["reward_model"]  # the same task: the same reward
    # a grandchild keeps the base request, one level deeper
    sampler.update(_batch([3, 3], ["c", "c"], [0.0, 1.0], [1, 1], ["failed", "passed"]))
    assert [data.dataframe[i]["extra_info"]["exit_depth"] for i in range(len(data))][5:] in ([2], [2, 2])
    assert data.dataframe[5]["prompt"][0]["content"].startswith("request 0\n")

    # a verl resume: fresh objects from the same parquet, then the StatefulDataLoader's saved states
    state = {"data": json.loads(json.dumps(data.state_dict())), "sampler": json.loads(json.dumps(
        sampler.state_dict()))}
    data2 = _rows_dataset(3)
    sampler2 = SamplerCore(data2, config)
    data2.load_state_dict(state["data"])
    sampler2.load_state_dict(state["sampler"])
    assert data2.dataframe.to_list() == data.dataframe.to_list()
    assert sampler2.curriculum.buffer.dump() == sampler.curriculum.buffer.dump()
    assert list(sampler2) == list(sampler)  # the same draws: the random state came back too
    with pytest.raises(ValueError, match="base rows"):
        SamplerCore(_rows_dataset(4), config).load_state_dict(state["sampler"])
