"""train stage: SFT data, Open/Closed SFT and RL on TRL, self-play."""
