"""The recipes are the same on 1 and on N processes: every recipe runs under `accelerate launch --num_processes 2`
(gloo on CPU) and once on one process, from one driver script (`multiprocess_driver.py`); each run's optimizer
steps, prompts per step and sequences per update are the single-process run's, and ExIt's buffer is too."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import multiprocess_driver
import selfevolve_lab
from exit_fixtures import taught_model
from selfevolve_lab.cli import main
from train_fixtures import make_small_bench, one_torch_thread, write_data  # noqa: F401

HERE = Path(__file__).resolve().parent
RECIPES = ("sft", "closed_rl", "closed_rl_tis", "open_rl", "exit")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def launched(mini_bench, tmp_path_factory):
    """The driver on one process and on two (at the same time): (OUT of one, OUT of two, seconds)."""
    from selfevolve_lab.exit.domains import open_domain
    from selfevolve_lab.train.data import train_tasks

    root = tmp_path_factory.mktemp("multiprocess")
    work = root / "work"
    bench = make_small_bench(mini_bench.root, work / "bench")
    write_data(work / "data.jsonl", bench, [(t, f"```python\n{t.reference}```") for t in train_tasks(bench)] * 2)
    sums = open_domain("math", size=2, families=("chain_sum",))._dataset("chain_sum", 1)
    taught_model(work / "model", [f"<answer>{sums[i]['answer']}</answer>" for i in range(2)])  # groups disagree
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(selfevolve_lab.__file__).parents[1]), str(HERE)])}
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    driver = str(HERE / "multiprocess_driver.py")
    accelerate = str(Path(sys.executable).with_name("accelerate"))
    # --multi_gpu is accelerate's torchrun launcher; on a machine without CUDA the trainers run use_cpu, so the
    # process group is gloo (accelerate's --cpu alone would start one process)
    two = [accelerate, "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision",
           "no", "--dynamo_backend", "no", "--main_process_port", str(_free_port()), driver, str(work), str(root / "two")]
    t0 = time.perf_counter()
    launched = subprocess.Popen(two, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:  # meanwhile the same script on one process, this one (its imports are done)
        multiprocess_driver.main(work, root / "one")
    finally:
        log = launched.communicate(timeout=600)[0]
    seconds = time.perf_counter() - t0
    assert launched.returncode == 0, log[-3000:]
    return root / "one", root / "two", seconds


def _trained(out: Path, ranks: int) -> list[dict]:
    return [json.loads((out / f"trained.rank{r}.json").read_text()) for r in range(ranks)]


def test_every_recipe_trains_the_same_batches_on_two_processes(launched):
    one_dir, two_dir, seconds = launched
    print(f"1 and 2 processes, every recipe: {seconds:.1f} s")
    (one,), two = _trained(one_dir, 1), _trained(two_dir, 2)
    for name in RECIPES:
        a, b = one[name], [t[name] for t in two]
        assert a["steps"] == b[0]["steps"] == b[1]["steps"] >= 1, name  # optimizer steps
        # sequences per update: the forward passes of each optimizer step, summed over the processes
        assert all(b[r]["sequences_per_step"].keys() == a["sequences_per_step"].keys() for r in (0, 1)), name
        for step, n in a["sequences_per_step"].items():
            assert b[0]["sequences_per_step"][step] + b[1]["sequences_per_step"][step] == n, (name, step)
            assert b[0]["sequences_per_step"][step] == b[1]["sequences_per_step"][step] == n // 2, (name, step)
        # prompts per step: each generation batch's rows and prompts, split between the processes
        for k, gen in enumerate(a.get("generations", [])):
            halves = [t["generations"][k] for t in b]
            assert sum(h["rows"] for h in halves) == gen["rows"] and halves[0]["step"] == gen["step"], name
            assert sorted(halves[0]["prompts"] + halves[1]["prompts"]) == gen["prompts"], name
            assert not set(halves[0]["prompts"]) & set(halves[1]["prompts"]), name
        assert len(a.get("generations", [])) == len(b[0].get("generations", [])), name
        c1, c2 = (json.loads((d / name / "config.json").read_text()) for d in (one_dir, two_dir))
        assert (c1["world_size"], c2["world_size"]) == (1, 2), name
        glob = {k: v for k, v in c1["batch"].items() if k != "per_device"}
        assert glob == {k: v for k, v in c2["batch"].items() if k != "per_device"}, name  # the global sizes
        assert c2["batch"]["per_device"] != c1["batch"]["per_device"], name
        lines = [len((d / name / "metrics.jsonl").read_text().splitlines()) for d in (one_dir, two_dir)]
        assert lines == [a["steps"]] * 2, name  # one record per step: rank 1 writes none
        assert (two_dir / name / "model" / "config.json").is_file(), name
    assert one["open_rl"]["steps"] == 2 and len(one["open_rl"]["generations"]) == 1  # 2 updates per generation
    # the RL dump holds every process's rows
    assert len((two_dir / "closed_rl_tis" / "batches.jsonl").read_text().splitlines()) == 8


def test_exit_grows_the_same_buffer_on_two_processes(launched):
    one_dir, two_dir, _ = launched
    for name in ("buffer.jsonl", "groups.jsonl"):  # rank 0's logs: the draws, returns, learnability, advantages
        assert (one_dir / "exit" / name).read_text() == (two_dir / "exit" / name).read_text(), name
    groups = [json.loads(x) for x in (one_dir / "exit" / "groups.jsonl").read_text().splitlines()]
    assert len(groups) == 4 and any(g["learnability"] > 0 for g in groups)  # groups that disagree: a real buffer
    assert any(g["depth"] > 0 for g in groups)  # and a step drawn from it


@pytest.fixture(scope="module")
def inputs(mini_bench, tmp_path_factory):
    from selfevolve_lab.train.data import train_tasks

    root = tmp_path_factory.mktemp("refused")
    bench = make_small_bench(mini_bench.root, root / "bench")
    write_data(root / "d.jsonl", bench, [(t, "x") for t in train_tasks(bench)])
    return root, bench, taught_model(root / "model", ["a"], steps=1)


@pytest.mark.parametrize("argv", [
    ["train", "sft", "--data", "d.jsonl", "--mode", "closed"],  # a global batch of 32
    ["train", "rl", "--mode", "closed", "--prompts-per-step", "4", "--group", "2"],  # 8 sequences per update
    ["exit", "train", "--domain", "math", "--prompts", "8"],  # 8 groups per step
])
def test_a_world_size_that_does_not_divide_the_batch_is_a_one_line_error(argv, inputs, monkeypatch, capsys):
    root, bench, model = inputs
    monkeypatch.chdir(root)
    monkeypatch.setenv("WORLD_SIZE", "3")
    extra = [] if argv[0] == "exit" else ["--bench", str(bench.root)]
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        main([*argv, *extra, "--model", str(model), "--out", str(root / "run")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1
    assert "3 processes" in err and not (root / "run").exists()


def test_the_shipped_accelerate_configs_load_and_split_the_official_batches():
    import re

    from accelerate.commands.config.config_args import load_config_from_file

    root = HERE.parent
    kinds = {}
    for path in sorted((root / "configs" / "accelerate").glob("*.yaml")):
        cfg = load_config_from_file(str(path))
        kinds[path.stem] = cfg.distributed_type.value
        # SFT's global 32, RL's 32 prompts x 8 (16 x 8 for Open-RL's updates)
        assert all(n % cfg.num_processes == 0 for n in (32, 256, 128)), path
    assert kinds == {"ddp": "MULTI_GPU", "zero3": "DEEPSPEED", "fsdp": "FSDP"}
    for doc in ("README.md", "docs/train.md"):  # every config the GPU commands name is shipped
        named = re.findall(r"--config_file (\S+)", (root / doc).read_text())
        assert named and all((root / n).is_file() for n in named), (doc, named)
