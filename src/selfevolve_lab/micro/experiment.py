"""`selfevolve micro run`: every SE-Bench recipe from the micro base, scored closed- and open-book over
seeds, and the paper's three findings as differences with 95% intervals (`selfevolve_lab.micro.findings`).

What each recipe is, in the product's own trainers, is their table (`selfevolve_lab.train.recipes`): a
recipe is a chain of stages, each training from the model the previous stage left (the first from the
base). A stage's run directory is keyed by the chain up to it, so Closed-SFT->RL starts from the very
Closed-SFT model that the Closed-SFT row scores. What both micro experiments (this and `micro exit`) share
is `MicroWorld`: a finished stage holds its settings in a STAGE file, so a second run reuses it and a run
with other settings trains it again, and one writer of results.json and report.md.

DIR/
  bench/                     the bench with the base's subset as its tasks (every command takes it)
  seed<S>/data.jsonl         SFT data: the base's open-book samples on train that the judge passed (data.STAGE)
  seed<S>/<chain>/           a stage's training run (config.json, metrics.jsonl, model/, STAGE)
  seed<S>/<recipe>/eval-<mode>-<split>/   a `selfevolve eval` run of that recipe's model
  results.json  report.md  recipes.png  curves.png
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from selfevolve_lab.errors import UserError
from selfevolve_lab.evaluate.report import save, subplots
from selfevolve_lab.jsonl import atomic_write_text, read_jsonl
from selfevolve_lab.micro import findings as F
from selfevolve_lab.micro.base import DOC_STYLE, MAX_TOKENS, open_base
from selfevolve_lab.train.recipes import ABLATIONS, RECIPES, Stage, options

LABELS = {"base": "base", "open_sft": "Open-SFT", "closed_sft": "Closed-SFT", "open_rl": "Open-RL",
          "closed_rl": "Closed-RL", "closed_rl_tis": "Closed-RL (TIS)", "closed_sft_rl": "Closed-SFT→RL",
          "selfplay_sft": "self-play+SFT", "selfplay_rl": "self-play+RL", "closed_rl_2_passes": "Closed-RL, 2 passes",
          "closed_rl_no_clip": "Closed-RL, no clip (2 passes)",
          "closed_rl_positive_only": "Closed-RL, positive only"}
SPLITS = ("test_single", "test_multi")
MODES = ("closed", "open")
WRITE_TOKENS = 192  # a self-play task written as JSON (problem, signature, 3 inputs) is about 120


@dataclass
class MicroRunScale:
    """The official settings, scaled to a model of about a million parameters trained from scratch and to a
    2-core budget: learning rates far larger (the official 1e-5 / 1e-6 barely move such a model), the same
    sampling temperatures (T=0.6 for SFT data, groups of 8 at T=1.0 for RL), fewer samples and RL steps.

    SFT: 10 epochs at 3e-3 on the base's passing samples. On the committed base's first seed, Closed-SFT
    reached 81% closed-book this way (20 epochs at 1e-3: 83%; the quick run's 3 epochs: 12.5%).

    RL: 54 steps of 8 prompts, 3 passes over the 144 train tasks, at 1e-4 (docs/micro-world.md, the budget
    sweep): from Closed-SFT the reward on its own samples reaches its plateau (0.92 of 0.93-0.94) by 3 passes
    and closed book does not move after; 1e-3 collapses closed book from Closed-SFT; 6 passes would not fit
    the full run in 90 minutes on 2 cores."""

    sft_lr: float = 3e-3
    sft_epochs: float = 10.0
    sft_batch: int = 16
    data_samples: int = 3
    data_temperature: float = 0.6
    rl_lr: float = 1e-4
    rl_group: int = 8
    rl_prompts_per_step: int = 8
    rl_steps: int = 54
    rl_epochs: float = 1.0
    rl_curve_every: int = 18  # closed-book test_single is scored every N RL steps (one pass here); 0: at the end only
    selfplay_rounds: int = 1
    selfplay_tasks: int = 48
    selfplay_per_api: int = 2  # written tasks per doc: 16-20 of 48 docs' tasks survive the filter, 20 are needed
    selfplay_structured: bool = True  # the base's free JSON parses for 1-3 of 48 docs, structured for 40-43
    sft_max_steps: int = -1  # -1: as many as the epochs give
    eval_limit: int | None = None  # only the first N tasks of each split (None: all)
    train_limit: int | None = None  # only the first N train tasks for SFT data and RL (None: all)

    def sft(self):
        from selfevolve_lab.train.sft import SFTHyper

        return SFTHyper(lr=self.sft_lr, epochs=self.sft_epochs, batch_size=self.sft_batch)

    def rl(self):
        from selfevolve_lab.train.rl import RLHyper

        return RLHyper(lr=self.rl_lr, group=self.rl_group, prompts_per_step=self.rl_prompts_per_step,
                       mini_batch_prompts=self.rl_prompts_per_step,
                       micro_batch=min(8, self.rl_prompts_per_step * self.rl_group), epochs=self.rl_epochs,
                       max_completion_length=MAX_TOKENS)

    @classmethod
    def quick(cls) -> MicroRunScale:
        return cls(sft_epochs=4.0, data_samples=2, rl_steps=4, selfplay_tasks=24)


@dataclass
class MicroRunConfig:
    bench: str
    base: str
    out: str
    seeds: int = 3
    quick: bool = False
    recipes: list[str] = field(default_factory=list)  # empty: all (and the ablations unless quick)
    workers: int | None = None
    scale: MicroRunScale | None = None  # None: MicroRunScale() or, with quick, MicroRunScale.quick()
    jobs: int = 1  # seeds trained at once, each in its own process on cores // jobs threads


def recipes_for(cfg: MicroRunConfig) -> dict[str, tuple[Stage, ...]]:
    every = {**RECIPES, **ABLATIONS}
    if unknown := [r for r in cfg.recipes if r not in every]:
        raise UserError(f"--recipes: unknown {', '.join(unknown)}; choose from {', '.join(every)}")
    return {r: every[r] for r in cfg.recipes} if cfg.recipes else {**RECIPES, **({} if cfg.quick else ABLATIONS)}


def starts(recipes: dict[str, tuple[Stage, ...]]) -> dict[str, str]:
    """Each recipe's start: the recipe whose chain is its chain but the last stage (the base for one stage)."""
    every = {**RECIPES, **ABLATIONS}
    return {r: next(n for n, c in every.items() if c == chain[:-1]) for r, chain in recipes.items() if chain
            and any(c == chain[:-1] for c in every.values())}


def micro_bench(bench_dir: Path, base: Path, out: Path) -> Path:
    """A bench whose tasks are the base's subset: the bench's files linked, the subset's tasks copied."""
    from selfevolve_lab.bench import Bench

    bench = Bench.open(bench_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("manifest.json", "mapping.json", "docs.jsonl", "package"):
        link = out / name
        if not link.exists():
            os.symlink(bench.root / name, link)
    (out / "tasks").mkdir(exist_ok=True)
    for split in ("train", "test_single", "test_multi"):
        src = base / "subset" / f"{split}.jsonl"
        if not src.is_file():
            raise UserError(f"{base}: the base has no subset/{split}.jsonl; rebuild it with `selfevolve micro pretrain`")
        atomic_write_text(out / "tasks" / f"{split}.jsonl", src.read_text())
    return out


def _final(run: Path) -> Path:
    pointer = run / "final_model.txt"
    return Path(pointer.read_text()) if pointer.is_file() else run / "model"


STAGE = "STAGE"


def _digest(path: Path) -> str:
    """sha256 over a file, or over a directory's files (names and contents, in name order)."""
    import hashlib

    h = hashlib.sha256()
    for f in sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file()):
        h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def finished(marker: Path, settings: dict) -> bool:
    """A stage is finished when its marker holds the very settings it would run with now."""
    try:
        return json.loads(marker.read_text()) == json.loads(json.dumps(settings))
    except (OSError, ValueError):
        return False


def mark(marker: Path, settings: dict) -> None:
    atomic_write_text(marker, json.dumps(settings, sort_keys=True))


class Timings(dict):
    """Seconds per stage, summed over the stage's calls (and over the processes of a parallel run)."""

    def add(self, stage: str, seconds: float) -> None:
        self[stage] = round(self.get(stage, 0.0) + seconds, 1)

    def run(self, stage: str, fn: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        try:
            return fn()
        finally:
            self.add(stage, time.perf_counter() - t0)


class MicroWorld:
    """What both micro experiments share: the base, the bench of its subset, the time per stage, and the
    results writer."""

    def __init__(self, cfg, scale, log: Callable[[str], None]):  # cfg: MicroRunConfig or MicroExitConfig
        if cfg.seeds < 1:
            raise UserError(f"--seeds {cfg.seeds}: at least one seed is needed")
        self.cfg, self.scale, self.log = cfg, scale, log
        self.base = Path(cfg.base).resolve()
        open_base(self.base)
        self.out = Path(cfg.out).resolve()
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"cannot write to {self.out}: {e.strerror or e}") from None
        self.bench = micro_bench(Path(cfg.bench), self.base, self.out / "bench")
        self.timings = Timings()

    def seeds(self) -> list:
        """Each seed's numbers (``self.seed(s)``), in order: with ``cfg.jobs`` above 1, seeds train in parallel
        processes, each on ``cores // jobs`` threads (at least one). A model this small gains little from a
        second thread, so a core per seed trains more per second than two threads on one seed."""
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        seeds = list(range(self.cfg.seeds))
        jobs = min(self.cfg.jobs, len(seeds))
        if jobs <= 1:
            return [self.seed(s) for s in seeds]
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            done = list(pool.map(_seed_in_process, [(type(self), self.cfg, s, threads) for s in seeds]))
        for _, timings in done:
            for k, v in timings.items():
                self.timings.add(k, v)
        return [numbers for numbers, _ in done]

    def write_results(self, report: Callable[[dict], str], **numbers) -> dict:
        """results.json (the config, the scale, the numbers and the time per stage) and report.md."""
        results = {"config": {**asdict(self.cfg), "scale": None}, "scale": asdict(self.scale), **numbers,
                   "timings": self.timings}
        self.out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.out / "results.json", json.dumps(results, indent=1, sort_keys=True) + "\n")
        atomic_write_text(self.out / "report.md", report(results))
        return results


class Experiment(MicroWorld):
    def __init__(self, cfg: MicroRunConfig, log: Callable[[str], None] = print):
        from selfevolve_lab.train.run import quiet

        if cfg.jobs < 1:
            raise UserError(f"--jobs {cfg.jobs}: at least one job is needed")
        quiet(progress=False)  # the run logs its own stages; the libraries' bars and step dicts would drown them
        self.recipes = recipes_for(cfg)
        super().__init__(cfg, cfg.scale or (MicroRunScale.quick() if cfg.quick else MicroRunScale()), log)

    # ---------------------------------------------------------------- training
    def data(self, seed: int) -> Path:
        """The SFT data of one seed: the base's open-book samples on the subset's train tasks that pass."""
        from selfevolve_lab.train.data import build_data

        path = self.out / f"seed{seed}" / "data.jsonl"
        s = self.scale
        settings = {"base": str(self.base), "seed": seed, "samples": s.data_samples, "temperature": s.data_temperature,
                    "limit": s.train_limit}
        if not (finished(path.with_suffix(".STAGE"), settings) and path.is_file()):
            path.parent.mkdir(parents=True, exist_ok=True)
            self.timings.run("sft_data", lambda: build_data(
                self.bench, path, model=str(self.base), n_samples=s.data_samples, temperature=s.data_temperature,
                max_tokens=MAX_TOKENS, seed=seed, doc_style=DOC_STYLE, limit=s.train_limit, force=True,
                progress=False, run_dir=path.with_name(path.name + ".eval")))
            mark(path.with_suffix(".STAGE"), settings)
        return path

    def stage(self, seed: int, chain: tuple[Stage, ...], start: Path) -> Path:
        """Train the last stage of ``chain`` from ``start``; returns its model directory."""
        from selfevolve_lab.train.run import CommonOptions

        kind, what = chain[-1]
        run = self.out / f"seed{seed}" / stage_name(chain)
        s = self.scale
        # the stage as the table has it, and every training setting of the scale (all but eval_limit)
        settings = {"start": str(start), "stage": repr(chain[-1]), "seed": seed,
                    "scale": {k: v for k, v in asdict(s).items() if k != "eval_limit"}}
        if finished(run / STAGE, settings) and (_final(run) / "config.json").is_file():
            return _final(run)
        common = CommonOptions(seed=seed, force=True, progress=False, limit=s.train_limit)
        if kind == "sft":
            from selfevolve_lab.train.sft import train_sft

            hp = s.sft()
            common.max_steps = s.sft_max_steps
            data = self.data(seed)
            self.timings.run(kind, lambda: train_sft(self.bench, str(start), data, what, run, common, hp))
        elif kind == "rl":
            self.rl(run, start, what, common)
        elif kind == "selfplay":
            from selfevolve_lab.train.selfplay import SelfPlayHyper, TooFewTasks, train_selfplay

            common.max_steps = s.rl_steps if what == "rl" else s.sft_max_steps
            sp = SelfPlayHyper(rounds=s.selfplay_rounds, apis=s.selfplay_tasks, max_tokens=WRITE_TOKENS,
                               doc_style=DOC_STYLE, structured=s.selfplay_structured,
                               tasks_per_api=s.selfplay_per_api)
            try:
                model = self.timings.run(kind, lambda: train_selfplay(
                    self.bench, str(start), what, run, common, sp,
                    s.sft(),
                    s.rl()))["model"]
            except TooFewTasks as e:
                # too few kept tasks to train: the recipe's model is the one it started from, and it says so
                # (round-K/stats.json has trained=false and the reason; NOT_TRAINED holds it here)
                model = str(start)
                (run / "NOT_TRAINED").write_text(str(e) + "\n")
                self.log(f"seed {seed} {run.name}: NOT TRAINED: {e}")
            (run / "final_model.txt").write_text(str(model))
        else:  # pragma: no cover - RECIPES names only the three
            raise ValueError(kind)
        mark(run / STAGE, settings)
        return _final(run)

    def rl(self, run: Path, start: Path, recipe: Any, common: Any) -> None:
        """An RL stage in segments of ``rl_curve_every`` steps, each resumed from the last checkpoint (the
        learning rate is constant, so it is the same run; a schedule would make it another, and is refused),
        with closed-book test_single scored after each segment but the last (the recipe's own eval scores
        that): ``run/curve.jsonl``, closed-book pass@1 against RL steps."""
        from selfevolve_lab.train.rl import train_rl

        s = self.scale
        hp = s.rl()
        ends = list(range(s.rl_curve_every, s.rl_steps, s.rl_curve_every)) if s.rl_curve_every > 0 else []
        if ends and hp.optim.schedule != "constant":
            raise UserError(f"rl_curve_every needs a constant learning rate, not {hp.optim.schedule!r}")
        (run / "curve.jsonl").unlink(missing_ok=True)
        for i, steps in enumerate([*ends, s.rl_steps]):
            opts = replace(common, max_steps=steps, resume=i > 0, force=i == 0)
            self.timings.run("rl", lambda o=opts: train_rl(self.bench, str(start), recipe, run, o, s.rl(),
                                                          workers=self.cfg.workers, doc_style=DOC_STYLE))
            if steps < s.rl_steps:
                per = self.scores(run / "curve" / f"step-{steps}", run / "model", "closed", "test_single")
                with (run / "curve.jsonl").open("a") as f:
                    f.write(json.dumps({"step": steps, "closed_test_single": round(F.mean([per]), 2)}) + "\n")

    def model(self, seed: int, recipe: str) -> Path:
        chain = self.recipes[recipe]
        model = self.base
        for i in range(len(chain)):
            model = self.stage(seed, chain[: i + 1], model)
        return model

    # ---------------------------------------------------------------- evaluation
    def scores(self, out: Path, model: Path, mode: str, split: str) -> dict[str, float]:
        """Per-task pass@1 of a model (greedy), through the real `selfevolve eval` into ``out``."""
        from selfevolve_lab.evaluate.run import EvalConfig, run_eval

        cfg = EvalConfig(bench=str(self.bench), model=str(model), mode=mode, docs="task", split=split,
                         max_tokens=MAX_TOKENS, doc_style=DOC_STYLE, limit=self.scale.eval_limit)
        # reused only for the very weights and tasks it scored: a stage trained again is scored again
        settings = {**asdict(cfg), "weights": _digest(Path(model)),
                    "tasks": _digest(self.bench / "tasks" / f"{split}.jsonl")}
        if not (finished(out / STAGE, settings) and (out / "samples.jsonl").is_file()):
            self.timings.run("eval", lambda: run_eval(cfg, out, force=True, progress=False, workers=self.cfg.workers,
                                                 backend="transformers"))
            mark(out / STAGE, settings)
        per: dict[str, list[bool]] = {}
        for s in read_jsonl(out / "samples.jsonl"):
            per.setdefault(s["task_id"], []).append(bool(s["verdict"]["passed"]))
        return {t: sum(v) / len(v) for t, v in per.items()}

    def seed(self, seed: int) -> dict[str, dict[str, dict[str, dict[str, float]]]]:
        """Every recipe of one seed, trained and scored: recipe -> mode -> split -> per-task pass@1."""
        out: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
        for recipe in self.recipes:
            self.log(f"{LABELS[recipe]}, seed {seed} ...")
            model = self.model(seed, recipe)
            out[recipe] = {mode: {split: self.scores(self.out / f"seed{seed}" / recipe / f"eval-{mode}-{split}",
                                                     model, mode, split) for split in SPLITS}
                           for mode in MODES}
        return out

    def run(self) -> dict:
        seeds = list(range(self.cfg.seeds))
        by_seed = self.seeds()
        per: dict[str, dict[str, dict[str, list]]] = {
            r: {m: {sp: [one[r][m][sp] for one in by_seed] for sp in SPLITS} for m in MODES} for r in self.recipes}
        open_base(self.base)
        pre_path = self.base / "preconditions.json"
        pre = json.loads(pre_path.read_text()) if pre_path.is_file() else {}
        results = self.write_results(
            report_markdown, preconditions={k: round(v["value"], 4) for k, v in pre.items()},
            recipes={r: {m: {s: F.summary(v) for s, v in by_split.items()} for m, by_split in by_mode.items()}
                     for r, by_mode in per.items()},
            findings=F.findings({r: by_mode["closed"]["test_single"] for r, by_mode in per.items()},
                                F.unmoved(per, starts(self.recipes))),
            training={r: {**rl_training(self.out, seeds, chain),
                          "closed_curve": rl_curve(self.out, seeds, chain, per, starts(self.recipes).get(r), r,
                                                   self.scale.rl_steps)}
                      for r, chain in self.recipes.items() if chain and chain[-1][0] == "rl"},
            selfplay={r: selfplay_stats(self.out, seeds, chain) for r, chain in self.recipes.items()
                      if chain and chain[-1][0] == "selfplay"})
        plots(results, self.out)
        return results


def stage_name(chain: tuple[Stage, ...]) -> str:
    """A stage's run directory under seed<S>/: each stage of its chain with what it sets."""
    return "+".join(st[0] + "".join(f"-{k}={v}" for k, v in sorted(options(st).items())) for st in chain)


def rl_training(out: Path, seeds: list[int], chain: tuple[Stage, ...]) -> dict[str, float | None]:
    """What an RL stage's updates were, from its runs' metrics.jsonl, averaged over steps and seeds: the
    fraction of tokens whose ratio was clipped, and the share of trained tokens with a negative advantage
    (what the RL Gap's ablations remove)."""
    from selfevolve_lab.train.run import read_metrics

    rows = [r for s in seeds for r in read_metrics(out / f"seed{s}" / stage_name(chain))]
    out_: dict[str, Any] = {}
    for key in ("clip_fraction", "negative_share"):
        vals = [float(r[key]) for r in rows if r.get(key) is not None]
        out_[key] = round(sum(vals) / len(vals), 4) if vals else None
    by_step: dict[int, list[float]] = {}
    for r in rows:
        if r.get("reward_mean") is not None and r.get("step") is not None:
            by_step.setdefault(int(r["step"]), []).append(float(r["reward_mean"]))
    out_["reward"] = [[k, round(sum(v) / len(v), 4)] for k, v in sorted(by_step.items())]  # mean over seeds
    return out_


def selfplay_stats(out: Path, seeds: list[int], chain: tuple[Stage, ...]) -> list[list[dict]]:
    """Per seed, each self-play round's counts (`train.selfplay`'s stats.json: written, parsed, solved, kept,
    whether and how long its learner trained)."""
    keys = ("written", "parsed", "solved", "kept", "trained", "steps")
    rounds = []
    for s in seeds:
        path = out / f"seed{s}" / stage_name(chain) / "stats.json"
        rows = json.loads(path.read_text()) if path.is_file() else []
        rounds.append([{k: r.get(k) for k in keys} for r in rows])
    return rounds


def rl_curve(out: Path, seeds: list[int], chain: tuple[Stage, ...], per: dict, start: str | None, recipe: str,
             steps: int) -> list[list[float]]:
    """Closed-book test_single pass@1 against RL steps, mean over seeds: [step, percent] pairs from the
    start's score (step 0, when its recipe ran), the stage's curve.jsonl and the recipe's own final score.
    A step some seed lacks is left out rather than averaged over fewer seeds."""
    points: dict[int, list[float]] = {}
    for s in seeds:
        path = out / f"seed{s}" / stage_name(chain) / "curve.jsonl"
        for row in read_jsonl(path) if path.is_file() else []:
            points.setdefault(int(row["step"]), []).append(float(row["closed_test_single"]))
    curve = {k: sum(v) / len(v) for k, v in points.items() if len(v) == len(seeds)}
    if start in per:
        curve[0] = F.mean(per[start]["closed"]["test_single"])
    curve[steps] = F.mean(per[recipe]["closed"]["test_single"])
    return [[k, round(curve[k], 2)] for k in sorted(curve)]


def rl_plot(results: dict, out: Path) -> None:
    """rl-curves.png: per RL recipe, mean over seeds, the training reward (the judge's pass rate of its
    samples) and closed-book test_single pass@1 against RL steps."""
    train = {r: t for r, t in results.get("training", {}).items() if t.get("reward") or t.get("closed_curve")}
    if not train:
        return
    fig, axes = subplots(1, 2, figsize=(12, 4))
    for r, t in train.items():
        if t.get("reward"):  # a step's reward is one batch of 8 tasks: the mean over the last 9 logged steps
            steps, rewards = zip(*t["reward"], strict=True)
            smooth = [sum(rewards[max(0, i - 8): i + 1]) / len(rewards[max(0, i - 8): i + 1]) for i in range(len(rewards))]
            axes[0].plot(steps, smooth, label=LABELS.get(r, r), lw=1)
        if t.get("closed_curve"):
            axes[1].plot(*zip(*t["closed_curve"], strict=True), marker="o", label=LABELS.get(r, r), lw=1)
    axes[0].set_title("RL training reward (mean over seeds; moving mean of 9 logged steps)")
    axes[1].set_title("closed-book test_single pass@1 (%)")
    axes[1].set_ylim(0, 100)
    for ax in axes:
        ax.set_xlabel("RL step")
        ax.legend(fontsize=6)
    save(fig, out / "rl-curves.png")


def die_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies: a seed process outlives a killed `--jobs`
    parent otherwise, training on for an hour into a run no one will read. Elsewhere a no-op."""
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request took hold
        os.kill(os.getpid(), signal.SIGTERM)


def _seed_in_process(job: tuple[type, Any, int, int]) -> tuple[Any, dict[str, float]]:
    import torch

    die_with_parent()
    world, cfg, seed, threads = job
    torch.set_num_threads(threads)
    exp = world(cfg, log=lambda m: print(m, flush=True))
    return exp.seed(seed), exp.timings


def report_markdown(results: dict) -> str:
    lines = ["# SE-Bench in the micro-world", ""]
    pre = results.get("preconditions") or {}
    if pre:
        lines += ["Base preconditions (subset's test_single, pass@1): " + ", ".join(
            f"{k.replace('_', ' ')} {100 * v:.1f}%" for k, v in pre.items() if isinstance(v, (int, float))), ""]
    seeds = results["config"]["seeds"]
    if sc := results.get("scale"):
        lines += [f"Budget: SFT {sc['sft_epochs']:g} epochs at {sc['sft_lr']:g}; RL {sc['rl_steps']} steps of "
                  f"{sc['rl_prompts_per_step']} prompts x {sc['rl_group']} samples at lr {sc['rl_lr']:g}; self-play "
                  f"{sc['selfplay_tasks']} docs x {sc['selfplay_per_api']} written tasks."]
        full = MicroRunScale()
        if results["config"].get("quick"):
            lines[-1] += (f" **The quick budget**, smaller than the full run's (RL {full.rl_steps} steps, SFT "
                          f"{full.sft_epochs:g} epochs): its numbers are not the full run's.")
        lines.append("")
    lines += [f"pass@1 in percent, mean over {seeds} seed(s) [95% interval]", "",
              "| recipe | closed test_single | closed test_multi | open test_single | open test_multi |",
              "|---|---|---|---|---|"]
    for r, by_mode in results["recipes"].items():
        cells = [f"{by_mode[m][s]['mean']:.1f} [{by_mode[m][s]['ci95'][0]:.1f}, {by_mode[m][s]['ci95'][1]:.1f}]"
                 for m in MODES for s in SPLITS]
        lines.append(f"| {LABELS.get(r, r)} | " + " | ".join(cells) + " |")
    lines += ["", "## Findings", "",
              "Each is a difference A - B in closed-book test_single pass@1 (points), with a paired bootstrap "
              "95% interval over seeds and tasks.", "",
              "| finding | A - B | difference | 95% interval | verdict |", "|---|---|---|---|---|"]
    for name, f in results["findings"].items():
        lines.append(f"| {name} | {f['compares']} | {f['difference']:+.1f} | [{f['ci95'][0]:+.1f}, {f['ci95'][1]:+.1f}] "
                     f"| {f['verdict']} |")
    lines += [f"* {name}: *{F.NOT_TESTED}*: {f['why']}" for name, f in results["findings"].items() if "why" in f]
    lines += ["", f"Rule: *reproduced* when the interval lies above zero (the paper's direction); *not reproduced* when "
              f"it lies below zero or within ±{F.PRACTICALLY_ZERO:g} points of it; *inconclusive* otherwise; "
              f"*{F.NOT_TESTED}* when a side scores exactly as the model it started from on every task. "
              "The paper reports all three findings as reproduced; where a verdict here differs, the micro-world "
              "disagrees with the paper at this scale."]
    if seeds == 1:
        lines.append("With one seed the interval covers the tasks only, not the variation between training runs.")
    if "closed_rl_no_clip" in results["recipes"] or "closed_rl_positive_only" in results["recipes"]:
        train = results.get("training", {})

        def share(r: str, key: str) -> str:
            v = train.get(r, {}).get(key)
            return "n/a" if v is None else f"{100 * v:.2f}%"

        lines += ["", "RL-Gap ablations (closed-book test_single pass@1; mean over steps and seeds of the clipped "
                  "tokens and of the trained tokens with a negative advantage):", "",
                  "| recipe | closed test_single | clipped | negative |", "|---|---|---|---|"]
        lines += [f"| {LABELS[r]} | {results['recipes'][r]['closed']['test_single']['mean']:.1f} | "
                  f"{share(r, 'clip_fraction')} | {share(r, 'negative_share')} |"
                  for r in ("closed_rl", "closed_rl_positive_only", "closed_rl_2_passes", "closed_rl_no_clip")
                  if r in results["recipes"]]
    curves = {r: dict((int(k), v) for k, v in t["closed_curve"]) for r, t in results.get("training", {}).items()
              if t.get("closed_curve")}
    if curves:
        steps = sorted({k for c in curves.values() for k in c})
        lines += ["", "Closed-book test_single pass@1 against RL steps (mean over seeds; step 0 is the start's "
                  "score; `rl-curves.png` has these and the training reward):", "",
                  "| recipe | " + " | ".join(f"step {k}" for k in steps) + " |", "|---" * (len(steps) + 1) + "|"]
        lines += [f"| {LABELS.get(r, r)} | " + " | ".join(f"{c[k]:.1f}" if k in c else "" for k in steps) + " |"
                  for r, c in curves.items()]
        ends = [k for k in steps if k > 0]
        windows = list(zip([0, *ends[:-1]], ends, strict=True))
        lines += ["", "Training reward (the judge's pass rate of the RL samples), mean over seeds and over the logged "
                  "steps up to each of those steps since the one before (a run with 2 passes per generation batch "
                  "logs a reward every second step):", "",
                  "| recipe | " + " | ".join(f"steps {a + 1}-{b}" for a, b in windows) + " |",
                  "|---" * (len(ends) + 1) + "|"]
        for r in curves:
            reward = results["training"][r].get("reward") or []
            cells = []
            for a, b in windows:
                window = [v for k, v in reward if a < k <= b]
                cells.append(f"{sum(window) / len(window):.3f}" if window else "")
            lines.append(f"| {LABELS.get(r, r)} | " + " | ".join(cells) + " |")
    for r, per_seed in results.get("selfplay", {}).items():
        cells = [", ".join(f"written {x['written']}, parsed {x['parsed']}, kept {x['kept']}, "
                           + (f"trained {x['steps']} steps" if x["trained"] else "not trained") for x in rounds)
                 or "no stats" for rounds in per_seed]
        lines += ["", f"{LABELS.get(r, r)}, by seed: " + "; ".join(f"seed {i}: {c}" for i, c in enumerate(cells))]
    lines += ["", "Time per stage in this invocation (s; a stage reused from an earlier one costs nothing here): "
              + ", ".join(f"{k} {v:.0f}" for k, v in results["timings"].items()), ""]
    return "\n".join(lines)


def plots(results: dict, out: Path) -> None:
    rl_plot(results, out)
    recipes = list(results["recipes"])
    fig, axes = subplots(1, 2, figsize=(12, 4), sharey=True)
    for ax, split in zip(axes, SPLITS, strict=True):
        for j, mode in enumerate(MODES):
            xs = [i + (j - 0.5) * 0.38 for i in range(len(recipes))]
            cells = [results["recipes"][r][mode][split] for r in recipes]
            ys = [c["mean"] for c in cells]
            err = [[c["mean"] - c["ci95"][0] for c in cells], [c["ci95"][1] - c["mean"] for c in cells]]
            ax.bar(xs, ys, width=0.38, yerr=err, capsize=3, label=f"{mode}-book")
        ax.set_xticks(range(len(recipes)), [LABELS.get(r, r) for r in recipes], rotation=40, ha="right", fontsize=8)
        ax.set_title(split)
        ax.set_ylim(0, 100)
    axes[0].set_ylabel("pass@1 (%), 95% interval")
    axes[0].legend()
    save(fig, out / "recipes.png")
    runs = sorted(p.parent for p in out.glob("seed*/*/metrics.jsonl"))
    if runs:
        fig, axes = subplots(1, 2, figsize=(12, 4))
        for run in runs:
            rows = read_jsonl(run / "metrics.jsonl", tolerate_torn_tail=True)
            label = f"{run.parent.name}/{run.name}"
            loss = [(r["step"], r["loss"]) for r in rows if r.get("loss") is not None and r.get("step") is not None]
            reward = [(r["step"], r["reward_mean"]) for r in rows if r.get("reward_mean") is not None]
            if loss:
                axes[0].plot(*zip(*loss, strict=True), label=label, lw=1)
            if reward:
                axes[1].plot(*zip(*reward, strict=True), label=label, lw=1)
        axes[0].set_title("training loss")
        axes[1].set_title("RL reward (judge pass rate of the samples)")
        for ax in axes:
            ax.set_xlabel("step")
            ax.legend(fontsize=6)
        save(fig, out / "curves.png")
