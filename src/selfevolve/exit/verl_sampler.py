"""ExIt's buffer inside verl: a curriculum sampler over a verl dataset's rows (verl is an optional extra).

verl (`data.sampler.class_path=selfevolve.exit.verl_sampler`, `data.sampler.class_name=ExItSampler`,
`data.dataloader_num_workers=0`) asks the sampler for row indices and calls ``update(batch)`` after every
actor update. Here a row is an instance: a base task, or a partial history that the dataset appended in
its ``on_batch_end`` (one per response: the row's history plus that response and its feedback), registered
with ``grow(child_index, parent_index)`` so it inherits its parent's S and can be drawn. ``update`` groups
the batch's responses by ``uid`` (one GRPO group), takes each response's return (its summed token-level
scores), and gives the group's row its learnability S. The rules are `Buffer`'s: top N by S, exp(κS) sampling with probability p once B_min rows
are held, base rows otherwise.

`RowCurriculum` holds the logic and needs no verl; `ExItSampler` is the thin verl subclass, built on import
only where verl is installed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from selfevolve.exit.buffer import Buffer, learnability
from selfevolve.exit.domain import BaseTask, Instance


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
    parents = [None if e is None else (e.get("parent_index") if isinstance(e, dict) else None)
               for e in (extra if extra is not None else [None] * len(returns))]
    return [int(i) for i in nt["index"]], list(nt["uid"]), returns, parents


try:  # verl is optional: the sampler class exists only where it is installed
    from verl.experimental.dataset.sampler import AbstractCurriculumSampler
except ImportError:  # pragma: no cover - depends on the environment
    AbstractCurriculumSampler = None

if AbstractCurriculumSampler is not None:

    class ExItSampler(AbstractCurriculumSampler):
        """Config (``data.sampler.exit``): capacity, min_size, p, kappa, seed."""

        def __init__(self, data_source, data_config):
            opts = dict((data_config.get("sampler", {}) or {}).get("exit", {}) or {})
            self.data_source = data_source
            self.curriculum = RowCurriculum(len(data_source), **opts)

        def __iter__(self) -> Iterator[int]:
            for _ in range(len(self.data_source)):
                yield self.curriculum.draw()

        def __len__(self) -> int:
            return len(self.data_source)

        def update(self, batch) -> None:
            self.curriculum.update(*_batch_fields(batch))
