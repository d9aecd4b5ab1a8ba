"""ExIt's buffer inside verl: a curriculum sampler over a verl dataset's rows, and the dataset that grows them
(verl is an optional extra).

verl (`data.sampler.class_path=selfevolve_lab.exit.verl_sampler`, `data.sampler.class_name=ExItSampler`,
`data.custom_cls.path=selfevolve_lab.exit.verl_sampler`, `data.custom_cls.name=ExItDataset`,
`data.dataloader_num_workers=0`) asks the sampler for row indices and calls ``update(batch)`` after every
actor update. Here a row is an instance: a base task, or a partial history that the dataset appended (the
base request plus one response and its feedback, as ExIt's improve prompt). ``update`` groups the batch's
responses by ``uid`` (one GRPO group), takes each response's return (its summed token-level scores), and
gives the group's row its learnability S; then the dataset appends a child row for each response the
buffer holds, registered with ``grow(child_index, parent_index)`` so it inherits its parent's S and can be
drawn (a response the buffer turns away writes no row). The rules are `Buffer`'s: top N by S, exp(κS)
sampling with probability p once B_min rows are held, base rows otherwise.

A row's index is its position: verl hands the sampler ``extra_info["index"]``, so the dataset rewrites it
(verl's ``filter_overlong_prompts`` drops rows, which would shift every later one). On a verl resume its
StatefulDataLoader saves and restores both objects' ``state_dict``: the buffer, the draws' random state and
the appended rows.

`RowCurriculum`, `SamplerCore` and `ChildRows` hold the logic and need no verl; `ExItSampler` and
`ExItDataset` are the thin verl subclasses, built on import only where verl is installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from selfevolve_lab.exit import prompts
from selfevolve_lab.exit.buffer import Buffer, learnability
from selfevolve_lab.exit.domain import Attempt, BaseTask, Instance


def _row(i: int) -> Instance:
    return Instance(BaseTask(f"row-{int(i)}", ""))


class RowCurriculum:
    def __init__(self, n_base: int, *, capacity: int = 512, min_size: int = 128, p: float = 0.5, kappa: float = 1.0,
                 seed: int = 0):
        self.n_base = n_base
        self.buffer = Buffer(capacity, min_size, p, kappa)
        self.index_of: dict[str, int] = {}
        self.rng = np.random.default_rng(seed)

    def draw(self) -> int:
        inst = self.buffer.draw([_row(i).task for i in range(self.n_base)], self.rng)
        return self.index_of.get(inst.id, int(inst.task.id.removeprefix("row-")))

    def grow(self, index: int, parent_index: int) -> bool:
        """A row the dataset appended, continuing ``parent_index``: inserted with the parent's S."""
        held = self.buffer.score_of(_row(parent_index).id)
        if held is None:
            return False
        inst = _row(index)
        self.index_of[inst.id] = int(index)
        return self.buffer.insert(inst, held, overwrite=False)

    def state_dict(self) -> dict:
        return {"n_base": self.n_base, "buffer": self.buffer.dump(), "index_of": dict(self.index_of),
                "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        if int(state["n_base"]) != self.n_base:
            raise ValueError(f"the sampler's checkpoint has {state['n_base']} base rows, the dataset {self.n_base}")
        self.buffer.load(state["buffer"], {it["task_id"]: BaseTask(it["task_id"], "") for it in state["buffer"]})
        self.index_of = {str(k): int(v) for k, v in state["index_of"].items()}
        self.rng.bit_generator.state = state["rng"]

    def update(self, index: Sequence[int], uid: Sequence[Any], returns: Sequence[float],
               parent_index: Sequence[int | None] | None = None) -> dict[Any, float]:
        """One batch: each group's S goes to its row (a child row not yet grown inherits first). S per uid."""
        groups: dict[Any, list[int]] = {}
        for k, u in enumerate(uid):
            groups.setdefault(u, []).append(k)
        out = {}
        for u, rows in groups.items():
            s = learnability([float(returns[k]) for k in rows])
            i = int(index[rows[0]])
            inst = _row(i)
            self.index_of[inst.id] = i
            if inst.id not in self.buffer and parent_index is not None and parent_index[rows[0]] is not None:
                self.grow(i, int(parent_index[rows[0]]))
            self.buffer.insert(inst, s)
            out[u] = s
        return out


def _batch_fields(batch: Any) -> tuple[list[int], list[Any], np.ndarray, list[int | None]]:
    nt = batch.non_tensor_batch
    returns = batch.batch["token_level_scores"].sum(-1).float().cpu().numpy()
    extra = nt.get("extra_info")
    parents = [e.get("parent_index") if isinstance(e, dict) else None
               for e in (extra if extra is not None else [None] * len(returns))]
    parents = [None if p is None or int(p) < 0 else int(p) for p in parents]  # -1: a base row (ChildRows)
    return [int(i) for i in nt["index"]], list(nt["uid"]), returns, parents


class SamplerCore:
    """`ExItSampler` without verl. Config (``data.sampler.exit``): capacity, min_size, p, kappa, seed."""

    def __init__(self, data_source, data_config):
        opts = dict((data_config.get("sampler", {}) or {}).get("exit", {}) or {})
        self.data_source = data_source
        self.curriculum = RowCurriculum(getattr(data_source, "n_base", None) or len(data_source), **opts)

    def __iter__(self) -> Iterator[int]:
        for _ in range(len(self)):
            yield self.curriculum.draw()

    def __len__(self) -> int:
        return self.curriculum.n_base

    def update(self, batch) -> None:
        index, uid, returns, parents = _batch_fields(batch)
        scores = self.curriculum.update(index, uid, returns, parents)
        data = self.data_source
        if not hasattr(data, "child_rows"):  # a plain dataset: the buffer holds base rows only
            return
        keep = [self.curriculum.buffer.admits(scores[u]) for u in uid]
        held: list[dict] = []
        for parent, row in zip(index, data.child_rows(batch, keep), strict=True):
            if row is not None and self.curriculum.grow(len(data) + len(held), parent):
                held.append(row)
        data.append_rows(held)

    def state_dict(self) -> dict:
        return self.curriculum.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.curriculum.load_state_dict(state)


EXIT_KEYS = {"index": 0, "parent_index": -1, "exit_request": "", "exit_depth": 0}  # on every row: one schema


class ChildRows:
    """The row-appending part of `ExItDataset`, without verl: over ``self.dataframe`` (a datasets.Dataset),
    ``self.tokenizer`` and ``self.prompt_key``, as verl's RLHFDataset has them. ``exit_init`` once the rows
    are loaded."""

    dataframe: Any
    tokenizer: Any
    prompt_key: str = "prompt"

    def exit_init(self) -> None:
        def keys(row: dict, i: int) -> dict:
            return {"extra_info": {**EXIT_KEYS, **(row.get("extra_info") or {}), "index": i}}

        self.dataframe = self.dataframe.map(keys, with_indices=True)
        self.n_base = len(self.dataframe)
        self.appended: list[dict] = []

    def __len__(self) -> int:
        return len(self.dataframe)

    def child_rows(self, batch: Any, keep: Sequence[bool]) -> list[dict | None]:
        """One row per kept response of ``batch`` (None where not kept): its row's base request, the response
        and its feedback, as ExIt's improve prompt. `append_rows` gives them their indices."""
        responses, mask = batch.batch["responses"], batch.batch["attention_mask"]
        lengths = mask[:, batch.batch["prompts"].shape[-1]:].sum(-1)
        returns = batch.batch["token_level_scores"].sum(-1)
        nt = batch.non_tensor_batch
        out: list[dict | None] = []
        for k, kept in enumerate(keep):
            if not kept:
                out.append(None)
                continue
            parent = int(nt["index"][k])
            row = self.dataframe[parent]
            info = dict(row["extra_info"])
            request = info["exit_request"] or next(m["content"] for m in reversed(row[self.prompt_key])
                                                   if m["role"] == "user")
            text = self.tokenizer.decode(responses[k][: int(lengths[k])], skip_special_tokens=True)
            score = float(returns[k])
            inst = Instance(BaseTask(str(parent), request), (Attempt(text, score, _feedback(nt, k, score)),))
            out.append({**row, self.prompt_key: prompts.messages(inst, "improve"),
                        "extra_info": {**info, "parent_index": parent, "exit_request": request,
                                       "exit_depth": int(info["exit_depth"]) + 1}})
        return out

    def append_rows(self, rows: list[dict]) -> list[int]:
        """Append ``rows``, each one's ``extra_info["index"]`` set to its position; returns the positions."""
        import datasets

        start = len(self.dataframe)
        rows = [{**r, "extra_info": {**r["extra_info"], "index": start + j}} for j, r in enumerate(rows)]
        if rows:
            self.dataframe = datasets.concatenate_datasets(
                [self.dataframe, datasets.Dataset.from_list(rows, features=self.dataframe.features)])
            self.appended.extend(rows)
        return list(range(start, start + len(rows)))

    def state_dict(self) -> dict:
        return {"n_base": self.n_base, "appended": list(self.appended)}

    def load_state_dict(self, state: dict) -> None:
        if int(state["n_base"]) != self.n_base:
            raise ValueError(f"the dataset's checkpoint has {state['n_base']} base rows, the data {self.n_base}")
        self.dataframe = self.dataframe.select(range(self.n_base))
        self.appended = []
        self.append_rows(list(state["appended"]))


def _feedback(nt: Any, k: int, score: float) -> str:
    """What the reward said of response k: `compute_score`'s status and detail, else the score."""
    said = [str(nt[key][k]) for key in ("status", "detail") if key in nt and str(nt[key][k])]
    return ": ".join(said) or f"score {score:g}"


try:  # verl is optional: the verl classes exist only where it is installed
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler
    from verl.utils.dataset import RLHFDataset
except ImportError:  # pragma: no cover - depends on the environment
    AbstractCurriculumSampler = RLHFDataset = None

if AbstractCurriculumSampler is not None:

    class ExItSampler(SamplerCore, AbstractCurriculumSampler):
        """verl's curriculum sampler: `SamplerCore`."""

    class ExItDataset(ChildRows, RLHFDataset):
        """verl's RLHFDataset whose rows grow with ExIt's partial histories: `ChildRows`."""

        def __init__(self, data_files, tokenizer, config, processor=None):
            super().__init__(data_files, tokenizer, config, processor)
            self.exit_init()
