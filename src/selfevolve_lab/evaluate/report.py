"""`selfevolve report`: pass@k, scores by kind, API and status, as Markdown, JSON and PNG plots.

With several run directories it compares them side by side (closed vs open, before vs after training).
A training run (`selfevolve train ...`: config.json and metrics.jsonl, no results.json) gets its training
curves instead: loss, reward and pass rate, and the step time split into generation, reward and update.
ExIt's K-step runs (`selfevolve exit iterate`: curve.json) are compared on one plot of their curves.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import atomic_write_text, read_jsonl


def subplots(*args, **kw):
    """matplotlib's subplots, on the backend that only writes files (pyplot is imported on the first plot)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kw)


def save(fig, path: Path, dpi: int = 120) -> None:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)


def load_run(rundir: Path) -> dict:
    results = rundir / "results.json"
    if not results.is_file():
        raise UserError(f"{rundir}: not a run directory (no results.json); run `selfevolve eval` first")
    run = json.loads(results.read_text())
    run["samples"] = read_jsonl(rundir / "samples.jsonl", tolerate_torn_tail=True)
    run["name"] = rundir.name
    return run


def per_api(run: dict, tasks_by_id: dict) -> dict[str, float]:
    hits: dict[str, list[bool]] = defaultdict(list)
    for s in run["samples"]:
        for api in tasks_by_id.get(s["task_id"], []):
            hits[api].append(s["verdict"]["passed"])
    return {a: sum(v) / len(v) for a, v in sorted(hits.items())}


def run_kind(rundir: Path) -> str:
    """eval (results.json), curve (`exit iterate`: curve.json) or train (metrics.jsonl)."""
    if not (rundir / "results.json").is_file():
        for kind, marker in (("curve", CURVE_FILE), ("train", "metrics.jsonl")):
            if (rundir / marker).is_file():
                return kind
    return "eval"  # load_run says what a directory without results.json lacks


def build_report(rundirs: list[Path], out: Path) -> dict:
    """The report of one kind of run, by `REPORTS`."""
    kinds = {run_kind(Path(r)) for r in rundirs}
    if len(kinds) > 1:
        raise UserError(f"report runs of one kind, not both at once: {' and '.join(sorted(kinds))} runs given")
    return REPORTS[kinds.pop()]([Path(r) for r in rundirs], out)


def eval_report(rundirs: list[Path], out: Path) -> dict:
    """pass@k, statuses and per-API pass rates of evaluation runs: report.md/json, runs.png, status.png,
    per_api.png."""
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.schema import Task

    runs = [load_run(Path(r)) for r in rundirs]
    out.mkdir(parents=True, exist_ok=True)
    summary = {}
    for run in runs:
        cfg = run["config"]
        tasks = read_jsonl(cfg["tasks_file"], Task) if cfg.get("tasks_file") else Bench.open(run["bench"]).tasks(cfg["split"])
        by_id = {t.id: t.apis for t in tasks}
        summary[run["name"]] = {"model": run["model"], "mode": cfg["mode"], "source": cfg["source"],
                                "metrics": run["metrics"], "per_api": per_api(run, by_id),
                                "status": dict(Counter(s["verdict"]["status"] for s in run["samples"]))}
    (out / "report.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    md = _markdown(summary)
    (out / "report.md").write_text(md)
    _plots(summary, out)
    return {"markdown": md, "summary": summary}


def _markdown(summary: dict) -> str:
    names = list(summary)
    ks = sorted({k for s in summary.values() for k in s["metrics"] if k.startswith("pass@")}, key=lambda k: (
        "/" in k, int(k.split("@")[1].split("/")[0]), k))
    # truncated: samples cut off at max_tokens ("-": a run from before it was counted)
    lines = ["| run | model | mode | source | samples | truncated | " + " | ".join(ks) + " |",
             "|" + "---|" * (6 + len(ks))]
    for n in names:
        s = summary[n]
        vals = " | ".join(f"{100 * s['metrics'][k]:.1f}%" if k in s["metrics"] else "-" for k in ks)
        lines.append(f"| {n} | {s['model']} | {s['mode']} | {s['source']} | {s['metrics']['n_samples']} | "
                     f"{s['metrics'].get('truncated', '-')} | {vals} |")
    statuses = sorted({st for s in summary.values() for st in s["status"]})
    lines += ["", "| run | " + " | ".join(statuses) + " |", "|" + "---|" * (1 + len(statuses))]
    for n in names:
        total = sum(summary[n]["status"].values()) or 1
        lines.append(f"| {n} | " + " | ".join(f"{100 * summary[n]['status'].get(st, 0) / total:.1f}%"
                                              for st in statuses) + " |")
    return "\n".join(lines) + "\n"


def _plots(summary: dict, out: Path) -> None:
    names = list(summary)
    # runs side by side: pass@1 overall and per task kind
    keys = [k for k in ("pass@1", "pass@1/single", "pass@1/multi") if any(k in s["metrics"] for s in summary.values())]
    fig, ax = subplots(figsize=(max(5, 1.6 * len(names) * len(keys)), 3.6))
    width = 0.8 / max(1, len(names))
    for i, n in enumerate(names):
        vals = [100 * summary[n]["metrics"].get(k, 0) for k in keys]
        bars = ax.bar([j + i * width for j in range(len(keys))], vals, width, label=n)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
    ax.set_xticks([j + width * (len(names) - 1) / 2 for j in range(len(keys))], keys)
    ax.set_ylabel("% passed")
    ax.set_ylim(0, 105)
    ax.set_title("runs side by side")
    ax.legend(fontsize=8)
    save(fig, out / "runs.png")
    # status breakdown, stacked
    statuses = sorted({st for s in summary.values() for st in s["status"]})
    fig, ax = subplots(figsize=(max(5, 1.2 * len(names) + 3), 3.6))
    bottom = [0.0] * len(names)
    for st in statuses:
        vals = [100 * summary[n]["status"].get(st, 0) / max(1, sum(summary[n]["status"].values())) for n in names]
        ax.bar(names, vals, bottom=bottom, label=st)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("% of samples")
    ax.set_title("verdict status")
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    save(fig, out / "status.png")
    # per-API pass rate of the first run, sorted
    first = summary[names[0]]["per_api"]
    if first:
        items = sorted(first.items(), key=lambda kv: kv[1])
        shown = items[:20] + items[-20:] if len(items) > 40 else items
        fig, ax = subplots(figsize=(7, max(3, 0.22 * len(shown))))
        ax.barh([a.split(".", 1)[-1] for a, _ in shown], [100 * v for _, v in shown], color="tab:blue")
        ax.set_xlabel("% passed")
        ax.set_xlim(0, 100)
        ax.set_title(f"per-API pass rate ({names[0]}; lowest and highest 20)" if len(items) > 40 else
                     f"per-API pass rate ({names[0]})")
        ax.tick_params(axis="y", labelsize=7)
        save(fig, out / "per_api.png")


CURVES = (("loss", "loss"), ("reward_mean", "reward (mean)"), ("pass_rate", "pass rate"),
          ("clip_fraction", "clip fraction"), ("kl", "KL"), ("tokens_per_s", "tokens/s"))


def train_report(rundirs: list[Path], out: Path) -> dict:
    """Training curves from each run's metrics.jsonl: train_curves.png, train_time.png, report.md/json."""
    out.mkdir(parents=True, exist_ok=True)
    runs = {}
    for r in rundirs:
        cfg = json.loads((r / "config.json").read_text()) if (r / "config.json").is_file() else {}
        runs[r.name] = {"recipe": cfg.get("recipe", "?"), "metrics": read_jsonl(r / "metrics.jsonl",
                                                                               tolerate_torn_tail=True)}
    shown = [(k, t) for k, t in CURVES if any(m.get(k) is not None for v in runs.values() for m in v["metrics"])]
    fig, axes = subplots(1, max(1, len(shown)), figsize=(3.6 * max(1, len(shown)), 3.2), squeeze=False)
    for ax, (key, title) in zip(axes[0], shown, strict=False):
        for name, v in runs.items():
            pts = [(m["step"], m[key]) for m in v["metrics"] if m.get(key) is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], label=f"{name} ({v['recipe']})")
        ax.set_title(title)
        ax.set_xlabel("step")
    axes[0][0].legend(fontsize=7)
    save(fig, out / "train_curves.png")
    lines = ["| run | recipe | steps | first loss | last loss | last pass rate | generation / reward / update (s per step) |",
             "|---|---|---|---|---|---|---|"]
    summary = {}
    for name, v in runs.items():
        ms = v["metrics"]
        split = {k: sum(m.get(f"time_{k}") or 0.0 for m in ms) / max(1, len(ms)) for k in ("generation", "reward",
                                                                                           "update")}
        summary[name] = {"recipe": v["recipe"], "steps": len(ms), "first": ms[0] if ms else None,
                         "last": ms[-1] if ms else None, "time_split": split}
        last = ms[-1] if ms else {}

        def fmt(x, pct=False):
            return "-" if x is None else (f"{100 * x:.1f}%" if pct else f"{x:.4g}")

        lines.append(f"| {name} | {v['recipe']} | {len(ms)} | {fmt(ms[0].get('loss') if ms else None)} | "
                     f"{fmt(last.get('loss'))} | {fmt(last.get('pass_rate'), True)} | "
                     f"{split['generation']:.3g} / {split['reward']:.3g} / {split['update']:.3g} |")
    fig, ax = subplots(figsize=(max(4, 1.4 * len(runs) + 2), 3.2))
    names = list(summary)
    bottom = [0.0] * len(names)
    for k in ("generation", "reward", "update"):
        vals = [summary[n]["time_split"][k] for n in names]
        ax.bar(names, vals, bottom=bottom, label=k)
        bottom = [b + x for b, x in zip(bottom, vals, strict=True)]
    ax.set_ylabel("seconds per step")
    ax.set_title("step time split")
    ax.legend(fontsize=7)
    save(fig, out / "train_time.png")
    md = "\n".join(lines) + "\n"
    (out / "report.md").write_text(md)
    (out / "report.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return {"markdown": md, "summary": summary, "files": ["train_curves.png", "train_time.png"]}


CURVE_FILE = "curve.json"


def save_curve(run_dir: str | Path, record: dict) -> None:
    """An `exit iterate` run's curve.json: its steps (step, mean, ci95, ...) and what they were measured on."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(run_dir) / CURVE_FILE, json.dumps(record, indent=1))


def load_curve(run_dir: str | Path) -> dict:
    """A run's curve.json; a UserError when it is unreadable or its steps lack step, mean and ci95."""
    try:
        data = json.loads((Path(run_dir) / CURVE_FILE).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{run_dir}: unreadable curve.json ({e})") from None
    steps = data.get("steps") if isinstance(data, dict) else None
    if not steps or not all(isinstance(s, dict) and {"step", "mean", "ci95"} <= set(s) for s in steps):
        raise UserError(f"{run_dir}: curve.json needs steps with step, mean and ci95")
    return data


def plot_curves(curves: Sequence[tuple[str, list[dict]]], out: str | Path, *, depth: float | None = None,
                title: str = "") -> Path:
    """The curves (label, curve records) on one plot, with intervals; ``depth``: a vertical line."""
    fig, ax = subplots(figsize=(6, 4))
    for label, recs in curves:
        k = [r["step"] for r in recs]
        ax.plot(k, [r["mean"] for r in recs], marker="o", label=label)
        ax.fill_between(k, [r["ci95"][0] for r in recs], [r["ci95"][1] for r in recs], alpha=0.2)
    if depth is not None:
        ax.axvline(depth, color="grey", linestyle="--", label=f"mean training depth {depth:.2f}")
    ax.set_xlabel("self-improvement step k")
    ax.set_ylabel("score (mean, 95% CI)")
    ax.set_title(title)
    ax.legend()
    save(fig, out, dpi=100)
    return Path(out)


def _labels(rundirs: list[Path]) -> list[str]:
    """Each run's shortest trailing path that no other run shares (seed0/exit/iterate vs seed0/grpo/iterate)."""
    parts = [Path(r).resolve().parts for r in rundirs]
    for n in range(1, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-n:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [str(r) for r in rundirs]


def curve_report(rundirs: list[Path], out: Path) -> dict:
    """`exit iterate` runs' K-step curves on one plot (curves.png; the first known mean training depth as a
    line) and a table of each run's score at step 0, at its last step, and at its best step."""
    out.mkdir(parents=True, exist_ok=True)
    runs, depth = {}, None
    for label, r in zip(_labels(rundirs), rundirs, strict=True):
        data = load_curve(r)
        runs[label] = {"model": data.get("model"), "mean_training_depth": data.get("mean_training_depth"),
                       "steps": data["steps"]}
        depth = depth if depth is not None else data.get("mean_training_depth")
    plot_curves([(label, v["steps"]) for label, v in runs.items()], out / "curves.png", depth=depth,
         title="K-step self-improvement")
    lines = ["| run | mean training depth | step 0 | last step | best step |", "|---|---|---|---|---|"]
    summary = {}
    for label, v in runs.items():
        first, last = v["steps"][0], v["steps"][-1]
        best = max(v["steps"], key=lambda s: s["mean"])
        summary[label] = {**v, "first": first["mean"], "last": last["mean"], "best_step": best["step"],
                          "best": best["mean"]}
        d = v["mean_training_depth"]
        lines.append(f"| {label} | {'-' if d is None else f'{d:.2f}'} | {first['mean']:.3f} | "
                     f"{last['mean']:.3f} (k={last['step']}) | {best['mean']:.3f} (k={best['step']}) |")
    md = "\n".join(lines) + "\n"
    (out / "report.md").write_text(md)
    (out / "report.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return {"markdown": md, "summary": summary, "files": ["curves.png"]}


REPORTS = {"eval": eval_report, "train": train_report, "curve": curve_report}
