"""The judge: one function from (task, completion text) to a Verdict, shared by evaluation and RL reward."""

import concurrent.futures as cf
from collections.abc import Callable

from selfevolve_lab.bench import Bench
from selfevolve_lab.judge.compare import equal
from selfevolve_lab.judge.core import Judge, score
from selfevolve_lab.judge.extract import extract_code
from selfevolve_lab.judge.usage import UsageResult, check_usage

__all__ = ["Judge", "UsageResult", "check_usage", "equal", "extract_code", "score", "start_judge"]


def start_judge(judge_cls: Callable[..., Judge], bench: Bench, workers: int | None) -> Judge:
    """``judge_cls(bench)`` once the bench's package is known to import. A package that fails to import
    would otherwise show as a sandbox that will not start, or as every sample's runtime error; the check
    (a subprocess) runs while the pool starts, so it costs no wall time."""
    with cf.ThreadPoolExecutor(1) as ex:
        check = ex.submit(bench.check_package)
        try:
            judge = judge_cls(bench, workers=workers)
        except BaseException:
            check.result()  # its UserError says why the pool did not start
            raise
        try:
            check.result()
        except BaseException:
            judge.close()
            raise
    return judge
