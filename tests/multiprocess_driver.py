"""Runs every recipe once, tiny, in sequence, and records what each process trained on: `tests/test_multiprocess.py`
runs it on one process and under `accelerate launch --num_processes 2`, and compares.

    python multiprocess_driver.py WORK OUT      WORK holds bench/, model/, data.jsonl; OUT gets the runs
    (or `main(WORK, OUT)` in a process of one)

Each process writes OUT/trained.rank{R}.json: per recipe, the sequences each optimizer step's forward passes
took (step -> count, this process's share), each generation's rows and prompts, and the steps taken. These
are counted at TRL's own entry points (patched here, never in the product), so a recipe whose per-device
sizes ignored the processes would show it. ExIt's generations are made independent of how rows are spread
over processes (each row sampled on its own, seeded by its prompt, copy and step), so that a seed must give
the same curriculum on 1 and on 2 processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import zlib
from collections import defaultdict
from pathlib import Path
from unittest import mock

RECORD: dict = {}


def _instrument(patch) -> None:
    """Count, at TRL's own entry points, what each optimizer step and each generation took."""
    from transformers import Trainer
    from trl import GRPOTrainer, SFTTrainer

    from selfevolve_lab.train.grpo import GRPOEngine

    def counting(cls, key):
        inner = cls.compute_loss

        def compute_loss(self, model, inputs, *a, **kw):
            rows = RECORD["now"].setdefault("sequences_per_step", defaultdict(int))
            rows[self.state.global_step + 1] += int(inputs[key].shape[0])
            return inner(self, model, inputs, *a, **kw)

        patch(cls, "compute_loss", compute_loss)

    counting(SFTTrainer, "input_ids")
    counting(GRPOTrainer, "completion_ids")
    score = GRPOEngine._generate_and_score_completions

    def generation(self, inputs):
        out = score(self, inputs)
        if self.model.training:
            RECORD["now"].setdefault("generations", []).append(
                {"step": self.state.global_step + 1, "rows": len(inputs),
                 "prompts": sorted({str(r.get("task_id", r.get("exit_group"))) for r in inputs})})
        return out

    patch(GRPOEngine, "_generate_and_score_completions", generation)
    train = Trainer.train

    def trained(self, *a, **kw):
        out = train(self, *a, **kw)
        RECORD["now"]["steps"] = self.state.global_step
        return out

    patch(Trainer, "train", trained)


def _rowwise_generation(patch) -> None:
    """Sample each row alone from a seed of (its prompt, its copy in the group, the step): the same responses
    whichever process a row lands on."""
    import torch
    from trl import GRPOTrainer

    inner = GRPOTrainer._generate_single_turn

    def per_row(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        out = []
        for i, ids in enumerate(prompt_ids):
            torch.manual_seed(zlib.crc32(repr((list(ids), i % self.num_generations, self.state.global_step)).encode()))
            out += inner(self, [ids], images, multimodal_fields, num_generations, has_tool_images)[0]
        return out, None

    patch(GRPOTrainer, "_generate_single_turn", per_row)


def main(work: Path, out: Path) -> dict:
    """Every recipe, instrumented; the classes are restored after (the test runs the 1-process run in its own
    process). Returns this process's record, also written to OUT/trained.rank{R}.json."""
    t0 = time.perf_counter()
    from selfevolve_lab.cli import main as cli

    RECORD.clear()
    rank = int(os.environ.get("RANK", "0"))
    bench, model = str(work / "bench"), str(work / "model")
    common = ["--save-steps", "1000", "--force"]
    rl = ["train", "rl", "--bench", bench, "--model", model, "--limit", "4", "--prompts-per-step", "4", "--group", "2",
          "--max-completion-length", "6", "--max-steps", "2", *common]
    runs = {
        "sft": ["train", "sft", "--bench", bench, "--model", model, "--data", str(work / "data.jsonl"), "--mode",
                "closed", "--batch-size", "4", "--max-steps", "2", *common],
        "closed_rl": [*rl, "--mode", "closed", "--max-steps", "1"],
        "closed_rl_tis": [*rl, "--mode", "closed", "--correction", "tis", "--max-steps", "1", "--dump-batches", "1"],
        "open_rl": [*rl, "--mode", "open", "--mini-batch-prompts", "2"],  # 2 updates per generation batch
        "exit": ["exit", "train", "--domain", "math", "--size", "2", "--subset", "chain_sum", "--model", model,
                 "--prompts", "2", "--group", "4", "--max-tokens", "4", "--buffer", "16", "--buffer-min", "1", "--p",
                 "1", "--embedder", "hash", "--max-steps", "2", *common],
    }
    with contextlib.ExitStack() as stack:
        def patch(cls, name, value):
            stack.enter_context(mock.patch.object(cls, name, value))

        _instrument(patch)
        RECORD["setup_seconds"] = round(time.perf_counter() - t0, 2)
        for name, argv in runs.items():
            if name == "exit":
                _rowwise_generation(patch)
            RECORD["now"] = RECORD[name] = {}
            t1 = time.perf_counter()
            cli([*argv, "--out", str(out / name)])
            RECORD[name]["seconds"] = round(time.perf_counter() - t1, 2)
    del RECORD["now"]
    (out / f"trained.rank{rank}.json").write_text(json.dumps(RECORD))
    return json.loads(json.dumps(RECORD))


if __name__ == "__main__":
    import torch

    torch.set_num_threads(1)
    main(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # skips the interpreter's teardown of torch and friends: seconds on a busy machine
