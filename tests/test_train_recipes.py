"""The one recipe table: official defaults per recipe, `train rl --recipe` reads it and flags override it."""

from __future__ import annotations

import pytest

from selfevolve_lab.errors import UserError
from selfevolve_lab.train.recipes import (
    ABLATIONS,
    CLOSED_RL,
    OPEN_RL,
    RECIPES,
    RL_ABLATIONS,
    RL_RECIPES,
    rl_recipe,
)


def test_each_rl_recipe_carries_its_official_mini_batches_epochs_and_order():
    """provided-Open-RL.sh: mini-batches of 16 prompts, 3 epochs, shuffled; provided-Closed-RL.sh: one
    mini-batch of 32, 30 epochs, in order; one pass over each generation batch."""
    assert (OPEN_RL.mini_batch_prompts, OPEN_RL.epochs, OPEN_RL.shuffle, OPEN_RL.ppo_epochs) == (16, 3.0, True, 1)
    assert (CLOSED_RL.mini_batch_prompts, CLOSED_RL.epochs, CLOSED_RL.shuffle, CLOSED_RL.ppo_epochs) == (32, 30.0,
                                                                                                        False, 1)
    assert RL_RECIPES["closed_rl_tis"].correction == "tis"
    for table, rl in ((RECIPES, RL_RECIPES), (ABLATIONS, RL_ABLATIONS)):  # the micro-world's rows are the same rows
        assert all(table[name] == (("rl", r),) for name, r in rl.items())


def test_a_recipe_is_read_by_name_or_mode_and_flags_override_it():
    assert rl_recipe("closed_rl_tis") == RL_RECIPES["closed_rl_tis"]
    assert rl_recipe(None, "open") == OPEN_RL and rl_recipe("closed_rl", "closed") == CLOSED_RL
    assert rl_recipe(None, "closed", correction="tis", no_clip=None) == RL_RECIPES["closed_rl_tis"]
    assert rl_recipe("closed_rl_2_passes", no_clip=True) == RL_ABLATIONS["closed_rl_no_clip"]
    assert rl_recipe("closed_rl", epochs=2.0).epochs == 2.0


@pytest.mark.parametrize("args", [(None, None), ("nope", None), (None, "half"), ("closed_rl_tis", "open")])
def test_a_recipe_that_is_not_in_the_table_is_a_one_line_error(args):
    with pytest.raises(UserError, match="--recipe is one of open_rl, closed_rl, closed_rl_tis, closed_rl_2_passes"):
        rl_recipe(*args)
