"""The micro-world's RL budget sweep (issue 26): Closed-RL for increasing numbers of steps, from the base and
from a Closed-SFT model, at several learning rates, scored closed- and open-book every few passes.

    python scripts/micro_rl_sweep.py --run MICRO_RUN_DIR --out DIR [--jobs 2]

MICRO_RUN_DIR is a finished `selfevolve micro run` (its bench/, seed0/ Closed-SFT model and the base it
names). Each curve trains with the micro-world's RL scale (8 prompts x 8 samples, T=1.0, constant lr, weight
decay 0.01) and is extended by resuming its run with a larger --max-steps: with a constant learning rate that
is the same run as one to the larger budget. The learning rate is chosen per start on closed-book pass@1 of
the train tasks (the tasks RL trains on), never on a test split. Writes DIR/sweep.json, DIR/sweep.md and
DIR/sweep.png.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

PASS = 18  # steps per pass over the 144 train tasks at 8 prompts per step
LRS = (1e-4, 3e-4, 1e-3, 3e-3)
SWEEP_PASSES = (1, 3, 6)  # phase 1: every lr, official Closed-RL, from each start
LONG_PASSES = (1, 3, 6, 10, 15, 20)  # phase 2: the chosen lr, official and TIS
SLICES = (("closed", "train"), ("closed", "test_single"), ("open", "test_single"))


def curve(job: dict) -> list[dict]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    from selfevolve_lab.evaluate.run import EvalConfig, run_eval
    from selfevolve_lab.jsonl import read_jsonl
    from selfevolve_lab.micro.base import DOC_STYLE, MAX_TOKENS
    from selfevolve_lab.micro.experiment import MicroRunScale
    from selfevolve_lab.train.recipes import rl_recipe
    from selfevolve_lab.train.rl import train_rl
    from selfevolve_lab.train.run import CommonOptions, read_metrics

    out = Path(job["out"])
    scale = MicroRunScale(rl_lr=job["lr"])
    recipe = rl_recipe(job["recipe"])
    points = []
    done = out / "points.jsonl"
    seen = {r["steps"]: r for r in read_jsonl(done)} if done.exists() else {}
    for passes in job["passes"]:
        steps = passes * PASS
        if steps in seen:
            points.append(seen[steps])
            continue
        t0 = time.perf_counter()
        resume = (out / "run" / "config.json").is_file()
        opts = CommonOptions(max_steps=steps, seed=0, resume=resume, force=not resume, progress=False,
                             save_steps=10_000)
        train_rl(Path(job["bench"]), job["start"], recipe, out / "run", opts, scale.rl(), doc_style=DOC_STYLE)
        train_s = time.perf_counter() - t0
        point = {"start": job["start_name"], "recipe": job["recipe"], "lr": job["lr"], "steps": steps,
                 "passes": passes, "train_s": round(train_s, 1)}
        m = read_metrics(out / "run")[-PASS:]
        point["train_reward_last_pass"] = sum(r["reward_mean"] or 0 for r in m) / max(len(m), 1)
        point["clip_fraction_last_pass"] = sum(r["clip_fraction"] or 0 for r in m) / max(len(m), 1)
        for mode, split in SLICES:
            ev = out / f"eval-{steps}-{mode}-{split}"
            cfg = EvalConfig(bench=job["bench"], model=str(out / "run" / "model"), mode=mode, docs="task",
                             split=split, max_tokens=MAX_TOKENS, doc_style=DOC_STYLE)
            res = run_eval(cfg, ev, force=True, progress=False, workers=1, backend="transformers")
            point[f"{mode}_{split}"] = round(100 * res["metrics"]["pass@1"], 2)
        with done.open("a") as f:
            f.write(json.dumps(point) + "\n")
        print(json.dumps(point), flush=True)
        points.append(point)
    return points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--starts", default="base,closed_sft", help="which starts, in this order (comma-separated)")
    ap.add_argument("--lrs", default=",".join(f"{lr:g}" for lr in LRS), help="phase 1's learning rates")
    ap.add_argument("--report", action="store_true", help="only redraw DIR/sweep.md and sweep.png from DIR/sweep.json")
    a = ap.parse_args()
    if a.report:
        done = json.loads((a.out / "sweep.json").read_text())
        report(a.out, done["phase1"], done["phase2"], done["chosen_lr"])
        return
    cfg = json.loads((a.run / "results.json").read_text())["config"]
    bench = str(a.run / "bench")
    known = {"base": cfg["base"], "closed_sft": str(a.run / "seed0" / "sft-mode=closed" / "model")}
    starts = {s: known[s] for s in a.starts.split(",")}
    lrs = [float(x) for x in a.lrs.split(",")]
    for p in starts.values():
        if not (Path(p) / "config.json").is_file():
            raise SystemExit(f"error: {p}: no model")
    a.out.mkdir(parents=True, exist_ok=True)

    def jobs_for(specs):
        return [{"bench": bench, "start": starts[s], "start_name": s, "recipe": r, "lr": lr, "passes": ps,
                 "out": str(a.out / f"{s}-{r}-lr{lr:g}")} for s, r, lr, ps in specs]

    with ProcessPoolExecutor(a.jobs) as pool:
        phase1 = [p for ps in pool.map(curve, jobs_for([(s, "closed_rl", lr, SWEEP_PASSES) for s in starts
                                                        for lr in lrs])) for p in ps]
        chosen = {}
        for s in starts:
            last = [p for p in phase1 if p["start"] == s and p["passes"] == SWEEP_PASSES[-1]]
            best = max(last, key=lambda p: (p["closed_train"], p["train_reward_last_pass"], -p["lr"]))
            chosen[s] = best["lr"]
        print("chosen lr per start (closed-book train pass@1 after 6 passes):", chosen, flush=True)
        phase2 = [p for ps in pool.map(curve, jobs_for([(s, r, chosen[s], LONG_PASSES) for s in starts
                                                        for r in ("closed_rl", "closed_rl_tis")])) for p in ps]
    (a.out / "sweep.json").write_text(json.dumps({"phase1": phase1, "chosen_lr": chosen, "phase2": phase2},
                                                 indent=1) + "\n")
    report(a.out, phase1, phase2, chosen)


def report(out: Path, phase1: list[dict], phase2: list[dict], chosen: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = ("steps", "passes", "closed_train", "closed_test_single", "open_test_single", "train_reward_last_pass",
            "clip_fraction_last_pass", "train_s")
    lines = ["| start | recipe | lr | " + " | ".join(cols) + " |", "|" + "---|" * (len(cols) + 3)]
    for p in phase1 + phase2:
        lines.append(f"| {p['start']} | {p['recipe']} | {p['lr']:g} | " + " | ".join(
            f"{p[c]:.3g}" if isinstance(p[c], float) else str(p[c]) for c in cols) + " |")
    (out / "sweep.md").write_text(f"chosen lr: {chosen}\n\n" + "\n".join(lines) + "\n")
    # every curve measured so far in OUT (also those of earlier, partial runs), by start
    curves: dict[tuple, list[dict]] = {}
    for f in sorted(out.glob("*/points.jsonl")):
        for p in (json.loads(line) for line in f.read_text().splitlines() if line.strip()):
            curves.setdefault((p["start"], p["recipe"], p["lr"]), []).append(p)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, s in zip(axes, ("base", "closed_sft"), strict=True):
        for (start, r, lr), pts in sorted(curves.items()):
            if start != s:
                continue
            pts = sorted(pts, key=lambda p: p["steps"])
            ax.plot([p["steps"] for p in pts], [p["closed_test_single"] for p in pts],
                    "o-" if r == "closed_rl_tis" or chosen.get(s) == lr else "--", alpha=0.8,
                    label=f"{r} lr {lr:g}")
        ax.set_title(f"from {s}")
        ax.legend(fontsize=7)
        ax.set_xlabel("RL steps (18 = one pass over the train tasks)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("closed-book pass@1, test_single (%)")
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=120)


if __name__ == "__main__":
    main()
