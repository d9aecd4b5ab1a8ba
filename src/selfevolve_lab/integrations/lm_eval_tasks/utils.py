"""What the task YAMLs beside this file name with ``!function utils.NAME`` (lm-eval loads this file by path)."""

from selfevolve_lab.integrations.lm_eval_hooks import load, process_results

__all__ = ["load", "process_results"]
