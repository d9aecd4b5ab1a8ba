"""`selfevolve micro exit`: ExIt in the micro-world. From the micro base, each variant of the paper's Table 1
is trained with `exit train`'s API, then every trained model (and the base, as a reference) improves its
own attempts K=16 times with `exit iterate`'s API on held-out tasks, over seeds.

**The domain**: ``sebench`` on the micro bench, open book with the summary docs the micro model reads, the
continuous score (the fraction of tests passed), training on the subset's train tasks and iterating on its
test_single. The untrained base (the README's 3-seed run, T=1.0, one chain per task) scores 0.66 at step 0,
0.60 after one improve step and 0.50 at K=16: asked to revise, it often breaks a right answer, so revising
well is what there is to learn. Closed book (0% at every step) and test_multi (0%) have no signal.

**The statement** (`statement`), computed from the per-task scores with the crossed bootstrap of
`selfevolve_lab.micro.findings` over seeds and tasks: does ``exit`` improve beyond its mean training depth
(its score at K minus its score at the first step strictly beyond that depth: step floor(depth) + 1, so a
depth of 0.4 compares K with step 1, not with step 0 as rounding would; not computed when that step is K
or later), and does it beat ``grpo`` at K (``exit`` minus ``grpo``)? The curve's scores are on the
held-out tests of each task, never the ones its feedback showed (`selfevolve_lab.exit.inference`). Verdict
rule: *yes* when the 95% interval lies above zero; *no* when it lies below zero or within
±`findings.PRACTICALLY_ZERO` points of it; *inconclusive* otherwise.

DIR/
  bench/                      the bench with the base's subset as its tasks
  seed<S>/<variant>/          an `exit train` run (config.json, groups.jsonl, buffer.jsonl, model/, STAGE)
  seed<S>/<variant>/iterate/  an `exit iterate` run of its model (curve.json, trajectories.jsonl, STAGE)
  seed<S>/base/iterate/       the base's
  results.json  report.md  curves.png

Its stages and results are `micro.experiment.MicroWorld`'s: one whose STAGE file holds its settings is reused.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from selfevolve_lab.errors import UserError
from selfevolve_lab.exit.diversity import EMBEDDERS
from selfevolve_lab.exit.trainer import VARIANTS
from selfevolve_lab.jsonl import read_jsonl
from selfevolve_lab.micro import findings as F
from selfevolve_lab.micro.base import DOC_STYLE, MAX_TOKENS
from selfevolve_lab.micro.experiment import STAGE, MicroRunScale, MicroWorld, finished, mark

ALL_VARIANTS = tuple(VARIANTS)
QUICK_VARIANTS = ("grpo", "exit")
MODE = "open"


@dataclass
class MicroExitScale:
    """ExIt's settings for a model of about a million parameters: the micro RL's learning rate, group size and
    temperature (`micro.experiment.MicroRunScale`), a buffer scaled down with the run (the paper's 512 / 128 fill only
    after hundreds of groups), the paper's p, p_div and kappa. 160 steps, 10x the first measured run's 16, at
    which no variant separated from GRPO (issue 26); the buffer reaches B_min within the first steps."""

    steps: int = 160
    prompts: int = 4  # groups per step
    group: int = MicroRunScale.rl_group
    lr: float = MicroRunScale.rl_lr
    temperature: float = 1.0
    buffer: int = 256
    buffer_min: int = 16
    p: float = 0.5
    p_div: float = 0.2
    kappa: float = 1.0
    k: int = 16  # improvement steps at inference
    samples: int = 1  # chains per held-out task
    eval_limit: int | None = None  # only the first N held-out tasks (None: all)

    @classmethod
    def quick(cls) -> MicroExitScale:
        return cls(steps=6, eval_limit=16)


@dataclass
class MicroExitConfig:
    bench: str
    base: str
    out: str
    seeds: int = 3
    quick: bool = False
    variants: list[str] = field(default_factory=list)  # empty: grpo and exit with quick, all five otherwise
    workers: int | None = None
    threads: int = 1  # torch threads (the micro model gains little from more)
    jobs: int = 1  # seeds trained at once, each in its own process (MicroWorld.seeds)
    embedder: str = "minilm"  # the diversity bonus's: minilm (the paper's), static (MiniLM's token embeddings) or hash
    scale: MicroExitScale | None = None  # None: MicroExitScale() or, with quick, MicroExitScale.quick()


def variants_for(cfg: MicroExitConfig) -> list[str]:
    if not cfg.variants:
        return list(QUICK_VARIANTS if cfg.quick else ALL_VARIANTS)
    unknown = [v for v in cfg.variants if v not in ALL_VARIANTS]
    if unknown:
        raise UserError(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(ALL_VARIANTS)}")
    return list(dict.fromkeys(cfg.variants))


class ExitWorld(MicroWorld):
    def __init__(self, cfg: MicroExitConfig, log: Callable[[str], None] = print):
        self.variants = variants_for(cfg)
        scale = cfg.scale or (MicroExitScale.quick() if cfg.quick else MicroExitScale())
        if scale.k < 1 or scale.samples < 1 or scale.steps < 1:
            raise UserError("K, samples and training steps must be at least 1")
        if cfg.jobs < 1:
            raise UserError(f"--jobs {cfg.jobs}: at least one job is needed")
        if cfg.embedder not in EMBEDDERS:
            raise UserError(f"--embedder {cfg.embedder}: one of {', '.join(EMBEDDERS)}")
        super().__init__(cfg, scale, log)

    def domain(self):
        from selfevolve_lab.bench import Bench
        from selfevolve_lab.exit.domains.sebench import SEBenchDomain

        return SEBenchDomain(Bench.open(self.bench), mode=MODE, doc_style=DOC_STYLE, workers=self.cfg.workers)

    # ---------------------------------------------------------------- training
    def train(self, seed: int, variant: str) -> Path:
        """`exit train` of one variant from the base; returns its model directory."""
        from selfevolve_lab.exit.trainer import ExItConfig, train

        s = self.scale
        cfg = ExItConfig(variant=variant, p=s.p, p_div=s.p_div, buffer=s.buffer, buffer_min=s.buffer_min,
                         kappa=s.kappa, embedder=self.cfg.embedder, prompts=s.prompts, group=s.group,
                         max_steps=s.steps, learning_rate=s.lr, temperature=s.temperature,
                         max_completion_length=MAX_TOKENS, seed=seed)
        run = self.out / f"seed{seed}" / variant
        settings = {"base": str(self.base), **asdict(cfg)}
        if finished(run / STAGE, settings) and (run / "model" / "config.json").is_file():
            return run / "model"
        dom = self.domain()
        try:
            self.timings.run("train", lambda: train(dom, str(self.base), cfg, run, force=True,
                                               save_steps=s.steps + 1, progress=False))
        finally:
            dom.close()
        mark(run / STAGE, settings)
        return run / "model"

    # ---------------------------------------------------------------- K-step inference
    def iterate(self, seed: int, name: str, model: Path) -> dict[int, dict[str, float]]:
        """`exit iterate` of one model to K: step -> task id -> mean score over the task's chains."""
        from selfevolve_lab.exit import inference

        s = self.scale
        out = self.out / f"seed{seed}" / name / "iterate"
        settings = {"model": str(model), "k": s.k, "samples": s.samples, "limit": s.eval_limit,
                    "temperature": s.temperature, "max_tokens": MAX_TOKENS, "seed": seed,
                    "scored_on": inference.HELD_OUT}  # a stage scored on the tests its feedback showed is stale
        if not finished(out / STAGE, settings):
            generate = inference.generator(str(model), "transformers", s.temperature, MAX_TOKENS)
            dom = self.domain()
            try:
                self.timings.run("iterate", lambda: inference.run(
                    dom, generate, out, name="sebench", model=model, steps=s.k, samples=s.samples,
                    limit=s.eval_limit, seed=1_000_000 * seed))
            finally:
                dom.close()
            mark(out / STAGE, settings)
        by_step: dict[int, dict[str, list[float]]] = {}
        for t in read_jsonl(out / "trajectories.jsonl"):
            for k, score in enumerate(t["scores"]):
                by_step.setdefault(k, {}).setdefault(t["task_id"], []).append(score)
        return {k: {task: sum(v) / len(v) for task, v in per.items()} for k, per in by_step.items()}

    def seed(self, seed: int) -> tuple[dict[str, dict[int, dict[str, float]]], dict[str, float]]:
        """One seed: the base's and each trained variant's K-step scores, and each variant's training depth."""
        from selfevolve_lab.exit import inference

        self.log(f"base, seed {seed}: K={self.scale.k} self-improvement steps ...")
        scores, depths = {"base": self.iterate(seed, "base", self.base)}, {}
        for v in self.variants:
            self.log(f"{v}, seed {seed}: training ...")
            model = self.train(seed, v)
            depths[v] = inference.training_depth(model) or 0.0
            self.log(f"{v}, seed {seed}: K={self.scale.k} self-improvement steps ...")
            scores[v] = self.iterate(seed, v, model)
        return scores, depths

    def run(self) -> dict:
        import torch

        from selfevolve_lab.evaluate.report import plot_curves

        torch.set_num_threads(self.cfg.threads)
        scores: dict[str, list[dict[int, dict[str, float]]]] = {}  # name -> per seed: step -> task -> score
        depths: dict[str, list[float]] = {}
        for by_name, depth in self.seeds():
            for name, per in by_name.items():
                scores.setdefault(name, []).append(per)
            for v, d in depth.items():
                depths.setdefault(v, []).append(d)
        results = self.write_results(
            report_markdown,
            domain={"name": "sebench", "mode": MODE, "doc_style": DOC_STYLE, "train": "train", "held_out": "test_single",
                    "score": "fraction of the held-out tests passed (feedback from the others)"},
            variants={name: {"curve": curve(per_seed),
                             "mean_training_depth": (sum(depths[name]) / len(depths[name]) if name in depths else None),
                             "training_depth_per_seed": depths.get(name)}
                      for name, per_seed in scores.items()},
            statement=statement(scores, depths, self.scale.k))
        exit_depth = results["variants"].get("exit", {}).get("mean_training_depth")
        plot_curves([(name, r["curve"]) for name, r in results["variants"].items()], self.out / "curves.png",
                       depth=exit_depth, title=f"ExIt in the micro-world: {self.cfg.seeds} seed(s), open book, "
                                               "test_single")
        return results


# ------------------------------------------------------------------------ the numbers (pure)
def _at(per_seed: list[dict[int, dict[str, float]]], k: int) -> list[dict[str, float]]:
    return [s[k] for s in per_seed]


def curve(per_seed: list[dict[int, dict[str, float]]]) -> list[dict]:
    """Per step: the mean score over seeds and tasks, with the crossed bootstrap's 95% interval."""
    out = []
    for k in sorted(per_seed[0]):
        at = _at(per_seed, k)
        lo, hi = F.bootstrap(at)
        out.append({"step": k, "mean": round(F.mean(at) / 100, 4), "ci95": [round(lo / 100, 4), round(hi / 100, 4)],
                    "per_seed": [round(sum(s.values()) / len(s), 4) for s in at]})
    return out


VERDICTS = {"reproduced": "yes", "not reproduced": "no", "inconclusive": "inconclusive"}


def _difference(a: list[dict[str, float]], b: list[dict[str, float]], what: str) -> dict:
    f = F.finding(a, b)
    return {"compares": what, "difference": f["difference"], "ci95": f["ci95"], "verdict": VERDICTS[f["verdict"]],
            "seeds": f["seeds"]}


def beyond_depth(depth: float) -> int:
    """The first step strictly beyond a mean training depth: 0.4 -> 1, 1.0 -> 2 (a step k answers after k
    earlier attempts, as an instance of depth k does in training)."""
    return math.floor(depth) + 1


def statement(scores: dict[str, list[dict[int, dict[str, float]]]], depths: dict[str, list[float]], k: int) -> dict:
    """Whether ``exit`` improves beyond its mean training depth, and whether it beats ``grpo`` at step K;
    differences in points of score (percent), paired over seeds and tasks (module docstring)."""
    out: dict = {}
    if "exit" in scores:
        depth = sum(depths["exit"]) / len(depths["exit"])
        beyond = beyond_depth(depth)
        what = f"exit at K={k} - exit at step {beyond} (the first beyond its mean training depth {depth:.2f})"
        found = (_difference(_at(scores["exit"], k), _at(scores["exit"], beyond), what) if beyond < k
                 else {"compares": what, "verdict": "not computed", "seeds": len(scores["exit"])})
        out["exit_beyond_training_depth"] = {**found, "depth": round(depth, 3), "step_beyond_depth": beyond}
        if "grpo" in scores:
            out["exit_vs_grpo"] = _difference(_at(scores["exit"], k), _at(scores["grpo"], k),
                                              f"exit - grpo at K={k}")
    return out


def sentence(name: str, s: dict) -> str:
    if s["verdict"] == "not computed":
        return f"not computed: {s['compares']} needs K beyond step {s['step_beyond_depth']}."
    said = {"exit_beyond_training_depth": {"yes": "exit improves beyond its mean training depth",
                                           "no": "exit does not improve beyond its mean training depth",
                                           "inconclusive": "whether exit improves beyond its mean training depth "
                                                           "is inconclusive"},
            "exit_vs_grpo": {"yes": "exit beats grpo at K", "no": "exit does not beat grpo at K",
                             "inconclusive": "whether exit beats grpo at K is inconclusive"}}[name][s["verdict"]]
    return (f"{said}: {s['compares']} = {s['difference']:+.1f} points "
            f"[{s['ci95'][0]:+.1f}, {s['ci95'][1]:+.1f}] ({s['seeds']} seed(s)).")


def report_markdown(results: dict) -> str:
    scale, seeds = results["scale"], results["config"]["seeds"]
    d = results["domain"]
    k = scale["k"]
    shown = sorted({0, 1, 2, 4, 8, k} & set(range(k + 1)))
    lines = ["# ExIt in the micro-world", "",
             f"Domain: {d['name']}, {d['mode']} book ({d['doc_style']} docs), score = {d['score']}; trained on the "
             f"subset's {d['train']} tasks, K={k} self-improvement steps on its {d['held_out']} "
             f"({scale['samples']} chain(s) per task, T={scale['temperature']}). Training: {scale['steps']} steps of "
             f"{scale['prompts']} groups x {scale['group']}, lr {scale['lr']:g}, buffer {scale['buffer']} "
             f"(B_min {scale['buffer_min']}), p {scale['p']}, p_div {scale['p_div']}, kappa {scale['kappa']}, diversity "
             f"embedder {results['config'].get('embedder', 'minilm')}.", "",
             f"Score at step k (mean over {seeds} seed(s) x tasks [95% interval])", "",
             "| variant | mean training depth | " + " | ".join(f"k={s}" for s in shown) + " |",
             "|---|---|" + "---|" * len(shown)]
    for name, r in results["variants"].items():
        by = {c["step"]: c for c in r["curve"]}
        depth = "-" if r["mean_training_depth"] is None else f"{r['mean_training_depth']:.2f}"
        cells = [f"{by[s]['mean']:.3f} [{by[s]['ci95'][0]:.3f}, {by[s]['ci95'][1]:.3f}]" for s in shown]
        lines.append(f"| {name} | {depth} | " + " | ".join(cells) + " |")
    lines += ["", "## Statement", ""]
    if not results["statement"]:
        lines.append("Not computed: the exit variant was not run.")
    for name, s in results["statement"].items():
        lines.append(f"* {sentence(name, s)}")
    lines += ["", "Differences in points of score (percent), with a paired crossed bootstrap 95% interval over "
              "seeds and tasks (tasks drawn once per replicate for every seed). Rule: *yes* when the interval lies above zero; *no* when it lies below zero or "
              f"within ±{F.PRACTICALLY_ZERO:g} points of it; *inconclusive* otherwise."]
    if seeds == 1:
        lines.append("With one seed the interval covers the tasks only, not the variation between training runs.")
    lines += ["", "Time per stage in this invocation (s; a stage reused from an earlier one costs nothing here): "
              + ", ".join(f"{n} {v:.0f}" for n, v in results["timings"].items()), ""]
    return "\n".join(lines)
