"""Every training recipe and ablation, in one table: `selfevolve train rl --recipe NAME` and `micro run` read it.

A recipe is a chain of stages, each training from the model the previous one left (the first from the base):
("sft", mode), ("rl", Recipe) or ("selfplay", learner). The RL recipes:

| recipe                 | samples from     | trains on (old / ref log-probs, loss) | weight per token              |
|------------------------|------------------|---------------------------------------|-------------------------------|
| `open_rl`              | prompt with docs | the prompt with docs                  | 1                             |
| `closed_rl` (official) | prompt with docs | the prompt *without* docs             | 1                             |
| `closed_rl_tis`        | prompt with docs | the prompt without docs               | min(pi_old / pi_sample, C=2)  |

each with its official defaults (SE-Bench's verl scripts `provided-{Open,Closed}-RL.sh`): Open-RL updates in
mini-batches of 16 prompts for 3 epochs over shuffled tasks, Closed-RL in one mini-batch of 32 for 30 epochs
over the tasks in order (so its single update per step never clips); one pass over each generation batch.
Flags (and the micro-world's scale) override them.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields, replace

from selfevolve_lab.errors import UserError

MODES = ("open", "closed")
CORRECTIONS = ("none", "tis")


@dataclass(frozen=True)
class Recipe:
    mode: str  # open: sample and train with docs; closed: sample with docs, train without
    mini_batch_prompts: int  # prompts per optimizer step
    epochs: float
    shuffle: bool
    correction: str = "none"  # or tis
    no_clip: bool = False  # the RL Gap's ablations: the ratio is not clipped / negative advantages dropped
    positive_only: bool = False
    ppo_epochs: int = 1  # passes over each generation batch

    def switches(self) -> dict:
        """The mode and every switch set away from its default (a micro-world stage's run name)."""
        return {"mode": self.mode, **{f.name: getattr(self, f.name) for f in fields(self)
                                      if f.default is not MISSING and getattr(self, f.name) != f.default}}


OPEN_RL = Recipe("open", mini_batch_prompts=16, epochs=3.0, shuffle=True)
CLOSED_RL = Recipe("closed", mini_batch_prompts=32, epochs=30.0, shuffle=False)
RL_RECIPES = {"open_rl": OPEN_RL, "closed_rl": CLOSED_RL, "closed_rl_tis": replace(CLOSED_RL, correction="tis")}
# The RL Gap's explanation (clipping, negative gradients), tested by ablations of Closed-RL. With one update
# per generation batch the ratio is exactly 1 and no clip range acts, so the no-clip ablation and the clipped
# run it is compared with both take 2 passes over each generation batch.
RL_ABLATIONS = {"closed_rl_2_passes": replace(CLOSED_RL, ppo_epochs=2),
                "closed_rl_no_clip": replace(CLOSED_RL, no_clip=True, ppo_epochs=2),
                "closed_rl_positive_only": replace(CLOSED_RL, positive_only=True)}

Stage = tuple[str, "str | Recipe"]
RECIPES: dict[str, tuple[Stage, ...]] = {
    "base": (), "open_sft": (("sft", "open"),), "closed_sft": (("sft", "closed"),),
    **{name: (("rl", r),) for name, r in RL_RECIPES.items()},
    "closed_sft_rl": (("sft", "closed"), ("rl", CLOSED_RL)),
    "selfplay_sft": (("selfplay", "sft"),), "selfplay_rl": (("selfplay", "rl"),),
}
ABLATIONS: dict[str, tuple[Stage, ...]] = {name: (("rl", r),) for name, r in RL_ABLATIONS.items()}


def options(stage: Stage) -> dict:
    """What a stage sets, by name: its mode, its learner or its RL recipe's switches."""
    kind, what = stage
    return what.switches() if isinstance(what, Recipe) else {"learner" if kind == "selfplay" else "mode": what}


def rl_recipe(name: str | None = None, mode: str | None = None, **flags) -> Recipe:
    """A row of the RL table (``name``, or ``mode``'s plain recipe) with the flags that were given set on it."""
    table = {**RL_RECIPES, **RL_ABLATIONS}
    key = name or (mode in MODES and f"{mode}_rl")
    if key not in table or mode not in (None, table[key].mode):
        raise UserError(f"--recipe is one of {', '.join(table)} (or --mode open|closed for open_rl|closed_rl; "
                        f"with --recipe, --mode must be its mode)")
    return replace(table[key], **{k: v for k, v in flags.items() if v is not None})
