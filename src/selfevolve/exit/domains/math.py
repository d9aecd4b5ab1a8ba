"""Math: procedural `reasoning-gym` families, scored 0/1 by each family's own verifier.

The answer is the text inside <answer>...</answer>, else the last non-empty line. Feedback says whether
it was right, never the expected answer.
"""

from __future__ import annotations

import functools
import re

from selfevolve.errors import UserError
from selfevolve.exit.domain import BaseTask, Instance

FAMILIES = ("basic_arithmetic", "chain_sum", "countdown")
SEEDS = {"train": 1, "test": 2}
FORMAT = "\n\nThink briefly, then give only the final answer inside <answer></answer> tags."
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)


def extract_answer(response: str) -> str | None:
    found = _ANSWER.findall(response or "")
    if found:
        return found[-1].strip() or None
    lines = [ln.strip() for ln in (response or "").splitlines() if ln.strip()]
    if not lines:
        return None
    return re.sub(r"^(final answer|answer)\s*[:=]\s*", "", lines[-1], flags=re.I) or None


class MathDomain:
    name = "math"
    verifiable = True

    def __init__(self, families: tuple[str, ...] = FAMILIES, size: int = 64):
        import reasoning_gym.factory

        unknown = set(families) - set(reasoning_gym.factory.DATASETS)
        if unknown or not families or size < 1:
            raise UserError(f"unknown reasoning-gym families {sorted(unknown)} (or --size < 1)")
        self.families, self.size = tuple(families), size

    @functools.lru_cache(maxsize=16)  # noqa: B019  (one domain object per run)
    def _dataset(self, family: str, seed: int):
        import reasoning_gym

        return reasoning_gym.create_dataset(family, size=self.size, seed=seed)

    def tasks(self, split: str) -> list[BaseTask]:
        seed = SEEDS[split]
        out = []
        for family in self.families:
            ds = self._dataset(family, seed)
            for i in range(self.size):
                out.append(BaseTask(f"{family}/{seed}/{i}", ds[i]["question"] + FORMAT,
                                    {"family": family, "seed": seed, "index": i}))
        return out

    def score_one(self, instance: Instance, response: str) -> tuple[float, str]:
        answer = extract_answer(response)
        if answer is None:
            return 0.0, "no answer found: give the final answer inside <answer></answer> tags"
        d = instance.task.data
        ds = self._dataset(d["family"], d["seed"])
        try:
            ok = float(ds.score_answer(answer=answer, entry=ds[d["index"]])) >= 1.0
        except Exception as e:  # a verifier choking on odd text is the answer's fault, not the run's
            return 0.0, f"the answer {answer[:80]!r} could not be checked ({type(e).__name__})"
        return (1.0, "correct") if ok else (0.0, f"the answer {answer[:80]!r} is incorrect")

    def score_many(self, items: list[tuple[Instance, str]]) -> list[tuple[float, str]]:
        return [self.score_one(i, r) for i, r in items]

    def close(self) -> None:
        pass
