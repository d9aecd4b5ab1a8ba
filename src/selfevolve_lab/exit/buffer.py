"""The learnability buffer, as the paper defines it (arXiv 2509.04575, §3).

* Learnability S of an instance is the variance of its GRPO group's returns, scaled to [0, 1]: returns
  lie in [0, 1], whose largest variance is 1/4, so S = 4 * Var (population variance).
* The buffer keeps the top N by S. When full, a new instance is admitted only if S >= the current minimum,
  and it replaces that minimum (equal S is admitted; among equal minima the oldest goes).
* Every per-turn prefix of a new history is inserted. The instance the group ran on gets its measured S;
  its new children (and any prefix not held) inherit it. A prefix already held keeps its own S.
* An episode draws from the buffer with probability p once it holds at least B_min instances, sampling
  ∝ exp(κ·S); otherwise it starts a base task.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from selfevolve_lab.exit.domain import BaseTask, Instance


def learnability(returns: Sequence[float]) -> float:
    """4 * the population variance of the returns, in [0, 1]."""
    if len(returns) < 2:
        return 0.0
    return min(1.0, max(0.0, 4.0 * float(np.var(np.asarray(returns, dtype=np.float64)))))


@dataclass
class Entry:
    instance: Instance
    score: float
    order: int  # insertion counter: ties at the minimum evict the oldest


class Buffer:
    def __init__(self, capacity: int = 512, min_size: int = 128, p: float = 0.5, kappa: float = 1.0):
        if capacity < 1 or not 0 <= min_size <= capacity or not 0.0 <= p <= 1.0:
            raise ValueError("need capacity >= 1, 0 <= min_size <= capacity and 0 <= p <= 1")
        self.capacity, self.min_size, self.p, self.kappa = capacity, min_size, p, kappa
        self._entries: dict[str, Entry] = {}
        self._order = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, instance_id: str) -> bool:
        return instance_id in self._entries

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def score_of(self, instance_id: str) -> float | None:
        e = self._entries.get(instance_id)
        return None if e is None else e.score

    def _minimum(self) -> Entry:
        return min(self._entries.values(), key=lambda e: (e.score, e.order))

    def admits(self, score: float) -> bool:
        """Whether a new instance with ``score`` would be held now (`insert`'s rule)."""
        return len(self._entries) < self.capacity or score >= self._minimum().score

    def insert(self, instance: Instance, score: float, *, overwrite: bool = True) -> bool:
        """Admit ``instance`` with learnability ``score``; True if it is (now) held. An instance already held
        gets the new score when ``overwrite`` (a fresh measurement), else keeps its own."""
        held = self._entries.get(instance.id)
        if held is not None:
            if overwrite:
                held.score = score
            return True
        if len(self._entries) >= self.capacity:
            lowest = self._minimum()
            if score < lowest.score:
                return False
            del self._entries[lowest.instance.id]
        self._order += 1
        self._entries[instance.id] = Entry(instance, score, self._order)
        return True

    def insert_group(self, instance: Instance, score: float, children: Sequence[Instance] = ()) -> None:
        """After a group ran on ``instance`` with learnability ``score``: the instance gets it, and every
        per-turn prefix of each child's history is inserted, those not held inheriting ``score``."""
        for prefix in instance.prefixes()[:-1]:
            self.insert(prefix, score, overwrite=False)
        self.insert(instance, score)
        for child in children:
            self.insert(child, score, overwrite=False)

    def probabilities(self) -> tuple[list[Entry], np.ndarray]:
        entries = self.entries()
        s = np.array([e.score for e in entries], dtype=np.float64) * self.kappa
        w = np.exp(s - s.max()) if len(s) else s
        return entries, w / w.sum() if len(s) else w

    def sample(self, rng: np.random.Generator) -> Instance:
        """One held instance, drawn ∝ exp(κ·S)."""
        entries, probs = self.probabilities()
        return entries[int(rng.choice(len(entries), p=probs))].instance

    def draw(self, base: Sequence[BaseTask], rng: np.random.Generator) -> Instance:
        """An episode's instance: from the buffer with probability p once it holds B_min, else a base task."""
        if len(self._entries) >= max(1, self.min_size) and rng.random() < self.p:
            return self.sample(rng)
        return Instance(base[int(rng.integers(len(base)))])

    def records(self, step: int) -> list[dict]:
        """One ``buffer.jsonl`` record per held instance."""
        return [{"step": step, "instance_id": e.instance.id, "parent_id": e.instance.parent_id,
                 "task_id": e.instance.task.id, "depth": e.instance.depth, "score": e.score}
                for e in sorted(self._entries.values(), key=lambda e: e.order)]

    def dump(self) -> list[dict]:
        """Everything needed to rebuild the buffer (resume): each instance's task id and full history."""
        return [{"task_id": e.instance.task.id, "score": e.score, "order": e.order,
                 "history": [[a.response, a.score, a.feedback] for a in e.instance.history]}
                for e in sorted(self._entries.values(), key=lambda e: e.order)]

    def load(self, items: list[dict], tasks: dict[str, BaseTask]) -> None:
        from selfevolve_lab.exit.domain import Attempt

        self._entries = {}
        for it in items:
            inst = Instance(tasks[it["task_id"]], tuple(Attempt(r, float(s), f) for r, s, f in it["history"]))
            self._entries[inst.id] = Entry(inst, float(it["score"]), int(it["order"]))
        self._order = max((e.order for e in self._entries.values()), default=0)

    def mean_depth(self) -> float:
        return math.fsum(e.instance.depth for e in self._entries.values()) / len(self) if self._entries else 0.0
