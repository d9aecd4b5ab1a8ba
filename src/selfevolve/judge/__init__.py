"""The judge: one function from (task, completion text) to a Verdict, shared by evaluation and RL reward."""

from selfevolve.judge.compare import equal
from selfevolve.judge.core import Judge, score
from selfevolve.judge.extract import extract_code
from selfevolve.judge.usage import UsageResult, check_usage

__all__ = ["Judge", "UsageResult", "check_usage", "equal", "extract_code", "score"]
