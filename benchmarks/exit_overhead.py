"""ExIt's own cost per training step against a plain GRPO step, measured in the same run.

ExIt's own cost is what ExIt adds to a GRPO step: drawing the step's instances from the buffer, the
buffer's updates, the diversity bonus's embeddings and the run's logs. Scoring is
not counted (plain GRPO scores the same responses). Both trainers run the same model, domain and
settings; the plain GRPO runs bracket the ExIt run and their mean is the baseline. Times are this
main thread's CPU seconds, with torch and the tokenizers on that one thread (wall time on a shared machine
swings with its load).

By default the domain is a synthetic one whose score (distinct characters in the response) differs
between any two random responses, so every group has signal and is embedded: the worst case for the bonus
(a group whose returns agree has zero advantages and is skipped). With ``--bench`` the model must be a
micro base and the domain is `selfevolve micro exit`'s (sebench on the micro bench, open book, summary
docs, judged in the sandbox), with its buffer settings: the realistic setting. ``--embedder`` picks the
bonus's embedder (default minilm, the paper's and micro exit's; static is MiniLM's token embeddings).

    python benchmarks/exit_overhead.py [--model DIR] [--steps 6] [--prompts 8] [--group 8] [--max-tokens 64]
    python benchmarks/exit_overhead.py --model micro-base --bench BENCH --prompts 4 --group 8 --max-tokens 96 \
        --steps 16 [--embedder static]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path


def _step_timer():
    from transformers import TrainerCallback

    class StepTimer(TrainerCallback):
        def __init__(self):
            self.marks = []

        def on_step_begin(self, args, state, control, **kw):
            self.marks.append(("begin", time.thread_time()))

        def on_step_end(self, args, state, control, **kw):
            self.marks.append(("end", time.thread_time()))

        def steps(self) -> list[float]:
            begins = [t for k, t in self.marks if k == "begin"]
            ends = [t for k, t in self.marks if k == "end"]
            return [e - b for b, e in zip(begins, ends, strict=False)][1:]  # the first step warms up

    return StepTimer()


def plain_grpo(model: str, domain, cfg, out: Path) -> list[float]:
    from datasets import Dataset
    from trl import GRPOTrainer

    from selfevolve_lab.exit import prompts
    from selfevolve_lab.exit.domain import Instance
    from selfevolve_lab.exit.trainer import grpo_config

    tasks = domain.tasks("train")
    rows = cfg.max_steps * cfg.prompts
    data = Dataset.from_dict({"prompt": [prompts.messages(Instance(tasks[i % len(tasks)]), "first")
                                         for i in range(rows)], "task_index": [i % len(tasks) for i in range(rows)]})

    def reward(completions, task_index, **_):
        texts = [c[-1]["content"] for c in completions]
        return [s for s, _ in domain.score_many([(Instance(tasks[i]), t) for i, t in zip(task_index, texts,
                                                                                          strict=True)])]

    timer = _step_timer()
    GRPOTrainer(model=model, reward_funcs=[reward], args=grpo_config(cfg, out), train_dataset=data,
                callbacks=[timer]).train()
    return timer.steps()


def exit_run(model: str, domain, cfg, out: Path, embedder) -> tuple[list[float], list[float], list[float]]:
    from transformers import TrainerCallback

    from selfevolve_lab.exit.trainer import train

    timer = _step_timer()
    own: list[float] = []
    emb: list[float] = []
    holder: dict = {}

    class Own(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            own.append(holder["c"].overhead_cpu_s)
            emb.append(embedder.cpu_s)

    import selfevolve_lab.exit.trainer as tr

    original = tr.Curriculum.__init__

    def keep(self, *a, **k):  # the benchmark reads the curriculum's counters as steps end
        original(self, *a, **k)
        holder["c"] = self

    tr.Curriculum.__init__ = keep
    try:
        train(domain, model, cfg, out, callbacks=[timer, Own()], embedder=embedder)
    finally:
        tr.Curriculum.__init__ = original
    def diffs(xs: list[float]) -> list[float]:
        return [b - a for a, b in zip([0.0, *xs], xs, strict=False)][1:]  # the first step warms up

    return timer.steps(), diffs(own), diffs(emb)


class SpreadDomain:
    """Continuous scores that differ between random responses: every GRPO group carries signal."""

    name, verifiable = "spread", False

    def __init__(self, n: int = 64):
        from selfevolve_lab.exit.domain import BaseTask

        self._tasks = [BaseTask(f"t{i}", f"Write {i + 1} different characters, then stop.") for i in range(n)]

    def tasks(self, split: str):
        return self._tasks

    def score_many(self, items):
        return [(min(1.0, len(set(r)) / 40), f"{len(set(r))} distinct characters") for _, r in items]

    def close(self) -> None:
        pass


class TimedEmbedder:
    def __init__(self, inner):
        self.inner, self.cpu_s, self.texts = inner, 0.0, 0

    def __call__(self, texts):
        self.texts += len(texts)
        t = time.thread_time()
        try:
            return self.inner(texts)
        finally:
            self.cpu_s += time.thread_time() - t


def main() -> None:
    from selfevolve_lab.exit.diversity import EMBEDDERS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="a model directory (default: a tiny model built here)")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--bench", help="the bench of a micro base given as --model: micro exit's domain")
    ap.add_argument("--embedder", choices=list(EMBEDDERS), default="minilm",
                    help="the bonus's embedder (default: minilm, the paper's)")
    a = ap.parse_args()

    import torch

    from selfevolve_lab.exit.diversity import Cached, make_embedder
    from selfevolve_lab.exit.trainer import ExItConfig
    from selfevolve_lab.testing import make_tiny_model

    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # all work on the timed thread
    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="exit-overhead-"))
    model = a.model or str(make_tiny_model(tmp / "tiny", hidden=128, layers=4))
    cfg = ExItConfig(variant="exit", max_steps=a.steps, prompts=a.prompts, group=a.group, buffer=512,
                     buffer_min=a.prompts, max_completion_length=a.max_tokens, p=0.5)
    if a.bench:
        import selfevolve_lab.models.micro  # noqa: F401  registers the micro model class, so TRL loads a micro base
        from selfevolve_lab.micro.exit_world import ExitWorld, MicroExitConfig, MicroExitScale

        if not a.model:
            ap.error("--bench needs --model MICRO_BASE")
        s = MicroExitScale()
        domain = ExitWorld(MicroExitConfig(bench=a.bench, base=a.model, out=str(tmp / "micro"))).domain()
        cfg.buffer, cfg.buffer_min, cfg.learning_rate, cfg.temperature = s.buffer, s.buffer_min, s.lr, s.temperature
    else:
        domain = SpreadDomain()
    name = a.embedder
    cfg.embedder = name
    base1 = plain_grpo(model, domain, cfg, tmp / "grpo1")
    embedder = TimedEmbedder(make_embedder(name))
    embedder(["warm up"])  # loading the embedder is a one-off, not a per-step cost
    embedder.cpu_s, embedder.texts = 0.0, 0
    cached = isinstance(embedder.inner, Cached)
    if cached:
        embedder.inner.embedded = 0
    steps, own, emb = exit_run(model, domain, cfg, tmp / "exit", embedder)
    base2 = plain_grpo(model, domain, cfg, tmp / "grpo2")
    # means, not medians: a step whose groups all agree embeds nothing, so the median hides the bonus's cost
    base = (statistics.mean(base1) + statistics.mean(base2)) / 2
    own_s, step_s = statistics.mean(own), statistics.mean(steps)
    domain.close()
    print(f"model {model}; domain {domain.name}; {a.prompts} prompts x {a.group} responses, {a.max_tokens} tokens; "
          f"{a.steps} steps (first dropped), mean CPU seconds per step of the one working thread")
    print(f"ExIt's own cost per step, median over steps: {statistics.median(own):.3f} s; max {max(own):.3f} s")
    print(f"plain GRPO step (baseline, mean of the bracketing runs' means): {base:.3f} s "
          f"({statistics.mean(base1):.3f} before, {statistics.mean(base2):.3f} after)")
    print(f"ExIt step, all included: {step_s:.3f} s")
    embed_s = statistics.mean(emb)
    print(f"ExIt's own cost per step (buffer, sampling, embeddings, logs): {own_s:.3f} s "
          f"= {100 * own_s / base:.1f}% of a plain GRPO step (target <= 10%)")
    in_cache = f", {embedder.inner.embedded / a.steps:.1f} not in its cache embedded" if cached else ""
    print(f"  of which embeddings ({name}; of {a.prompts * a.group} responses a step, {embedder.texts / a.steps:.1f} "
          f"distinct ones of groups with signal asked for{in_cache}): {embed_s:.3f} s "
          f"= {100 * embed_s / base:.1f}%; buffer, sampling and logs: {max(0.0, own_s - embed_s):.3f} s "
          f"= {100 * max(0.0, own_s - embed_s) / base:.1f}%")


if __name__ == "__main__":
    main()
