"""The Ray executor: the same pool API over Ray actors, on a local Ray with 2 CPUs."""

from __future__ import annotations

import pytest

from selfevolve_lab.sandbox import Limits, RunRequest

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_pool_serves_the_same_api(local_ray, mini_bench):
    from selfevolve_lab.sandbox.ray_executor import RayPool

    with RayPool.for_bench(mini_bench, actors=2, limits=Limits(cpu_s=1, wall_s=2)) as pool:
        code = "import zwc\ndef solve(x):\n    return zwc.falekef(x).gifune()\n"
        results = pool.map([RunRequest(code, "solve", [{"x": [-i, i]}]) for i in range(20)])
        assert [r.outcomes[0].value for r in results] == [[i, i] for i in range(20)]
        assert pool.isolation in ("bwrap", "unshare", "none")
        bomb = pool.run(RunRequest("def solve():\n    while True:\n        pass\n", "solve", [{}]))
        assert bomb.status == "timeout"  # the jail's limits hold inside an actor too
        assert pool.run(RunRequest(code, "solve", [{"x": [-3]}])).outcomes[0].value == [3]
