"""The micro-world's base: built into a HF model directory, and checked against its preconditions.

A base directory holds the model and tokenizer (``AutoModelForCausalLM`` loads it once
``selfevolve_lab.models.micro`` is imported), ``subset/{train,test_single,test_multi}.jsonl`` (the subset's tasks,
which ``selfevolve eval --tasks`` takes), ``pretrain.json`` (config, timings, sha256) and, once measured,
``preconditions.json``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from selfevolve_lab.bench import Bench
from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import atomic_write_text, write_jsonl
from selfevolve_lab.micro.pretrain import PretrainConfig, build_model, config_json, prepare, probe_sets, train

# (minimum or maximum, value) per precondition, on the subset's test_single (issue 14)
PRECONDITIONS = {"original_library": (">=", 0.80), "open_book": (">=", 0.60), "closed_book": ("<=", 0.02)}
DOC_STYLE = PretrainConfig.doc_style  # the docs the base learned to read: signature + first paragraph
MAX_TOKENS = 96  # a micro reply is about 40 tokens
DEFAULT_BASE = Path(__file__).resolve().parents[3] / "micro-base"  # the committed base, in a source checkout


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_base(bench: Bench, out: Path, cfg: PretrainConfig, log: Callable[[str], None] = print) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    subset, tok, data, _ = prepare(bench, cfg, log)
    t_prep = time.perf_counter() - t0
    log(f"subset: {len(subset.apis)} APIs, " + ", ".join(f"{len(v)} {k}" for k, v in subset.tasks.items())
        + f"; corpus {len(data)} examples ({t_prep:.0f} s)")
    (out / "subset").mkdir(exist_ok=True)
    for split, tasks in subset.tasks.items():
        write_jsonl(out / "subset" / f"{split}.jsonl", tasks)
    model = build_model(tok, cfg)
    sets = probe_sets(bench, subset, tok, cfg.doc_style)
    log_path = out / "pretrain_log.jsonl"
    log_path.unlink(missing_ok=True)
    params = sum(p.numel() for p in model.parameters())
    record = {"config": config_json(cfg), "bench": str(bench.root), "bench_seed": bench.manifest.seed,
              "subset_apis": subset.apis, "parameters": params, "corpus_examples": len(data)}
    started = time.process_time()

    def checkpoint(d: dict, m) -> None:
        """The model as of step d["step"], which is the run with --steps d["step"] (constant learning rate)."""
        log(f"step {d['step']}: loss {d['loss']:.3f}; exact original {d['original']['exact']:.2f} open "
            f"{d['open']['exact']:.2f} closed {d['closed']['exact']:.2f}; {d['tokens_per_s']} tokens/s")
        m.save_pretrained(out)
        tok.save_pretrained(out)
        info = {**record, "steps_done": d["step"], "timings": {"prepare_s": round(t_prep, 1), "train_s": d["seconds"],
                                                              "cpu_s": round(time.process_time() - started, 1)},
                "tokens_per_s": d["tokens_per_s"], "last_probe": d, "sha256": sha256_file(out / "model.safetensors")}
        atomic_write_text(out / "pretrain.json", json.dumps(info, indent=1) + "\n")
        record["info"] = info

    train(model, tok, data, sets, cfg, log_path, on_log=checkpoint)
    return record["info"]


def open_base(base: Path) -> dict:
    """The base's pretrain record; a directory that is not a micro base is bad input."""
    if not (base / "config.json").is_file() or not (base / "subset" / "test_single.jsonl").is_file():
        raise UserError(f"{base}: not a micro base (no config.json or subset/); build one with "
                        "`selfevolve micro pretrain`")
    try:
        return json.loads((base / "pretrain.json").read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{base / 'pretrain.json'}: unreadable: {e}") from None


def measure_preconditions(bench: Bench, base: Path, *, workers: int | None = None,
                          log: Callable[[str], None] = print, runs: Path | None = None) -> dict:
    """The three preconditions on the subset's test_single, each through the real eval (greedy): open and
    closed book with summary docs, and the original library (``--library-original``: the prompt asks for the
    library, the judge requires it and forbids the package). Written to preconditions.json; the eval runs go to
    ``runs`` (None: a temporary directory)."""
    with contextlib.ExitStack() as stack:
        runs = Path(runs) if runs is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        return _measure(bench, base, workers, log, runs)


def _measure(bench: Bench, base: Path, workers: int | None, log: Callable[[str], None], runs: Path) -> dict:
    import selfevolve_lab.models.micro  # noqa: F401  (registers the model class with the Auto classes)
    from selfevolve_lab.evaluate.run import EvalConfig, run_eval

    open_base(base)
    tasks_file = base / "subset" / "test_single.jsonl"
    values = {}
    for mode, target, key in (("open", "package", "open_book"), ("closed", "package", "closed_book"),
                              ("closed", "library", "original_library")):
        cfg = EvalConfig(bench=str(bench.root), model=str(base), mode=mode, docs="task", tasks_file=str(tasks_file),
                         max_tokens=MAX_TOKENS, doc_style=DOC_STYLE, target=target)
        res = run_eval(cfg, runs / key, force=True, progress=False, workers=workers, backend="transformers")
        values[key] = res["metrics"]["pass@1"]
        log(f"{key}: pass@1 {100 * values[key]:.1f}% ({res['metrics']['status']})")
    out = {}
    for key, (op, bound) in PRECONDITIONS.items():
        v = values[key]
        out[key] = {"value": v, "ok": v >= bound if op == ">=" else v <= bound, "needs": f"{op} {bound:.0%}"}
    atomic_write_text(base / "preconditions.json", json.dumps(out, indent=1) + "\n")
    return out


class PreconditionsFailed(UserError):
    exit_code = 1  # not bad input: the base is there, and fails what the experiments need


def check(bench: Bench, base: Path, log: Callable[[str], None] = print, runs: Path | None = None) -> dict:
    """`micro check`: the preconditions measured and the card written; PreconditionsFailed when one fails."""
    pre = measure_preconditions(bench, base, log=log, runs=runs)
    write_card(base)
    log(" ".join(f"{k} {100 * v['value']:.1f}% ({'ok' if v['ok'] else 'FAILS: needs ' + v['needs']})"
                 for k, v in pre.items()))
    if failed := [k for k, v in pre.items() if not v["ok"]]:
        raise PreconditionsFailed(f"preconditions not met: {', '.join(failed)} (see {base}/preconditions.json)")
    return pre


def pretrain(bench: Bench, out: Path, cfg: PretrainConfig, *, checked: bool = True,
             log: Callable[[str], None] = print) -> None:
    """`micro pretrain`: the base built into ``out`` with its card, and with ``checked`` its preconditions."""
    info = build_base(bench, out, cfg, log=log)
    log(f"{out}: base trained in {info['timings']['train_s']:.0f} s ({info['tokens_per_s']} tokens/s); "
        f"model sha256 {info['sha256'][:16]}")
    if checked:
        check(bench, out, log, runs=out / "eval")
    else:
        write_card(out)


def rebuild_command(info: dict) -> str:
    """The `micro pretrain` command that rebuilds this base: the checkpoint at step N is the run of N steps."""
    cfg, default = info["config"], PretrainConfig()
    flags = {"--apis": cfg["apis"], "--subset-seed": cfg["subset_seed"], "--seed": cfg["seed"],
             "--steps": info["steps_done"]}
    for flag, key in (("--hidden", "hidden"), ("--layers", "layers"), ("--examples", "examples"),
                      ("--threads", "threads")):
        if cfg[key] != getattr(default, key):
            flags[flag] = cfg[key]
    if tuple(cfg["draft_seeds"]) != default.draft_seeds:
        flags["--draft-seeds"] = ",".join(map(str, cfg["draft_seeds"]))
    return "selfevolve micro pretrain --bench BENCH --out BASE " + " ".join(f"{k} {v}" for k, v in flags.items())


def write_card(base: Path) -> None:
    """BASE.md: how the base was made (command, seed, sha256) and what it measured."""
    info = open_base(base)
    command = rebuild_command(info)
    pre_path = base / "preconditions.json"
    pre = json.loads(pre_path.read_text()) if pre_path.exists() else {}
    cfg = info["config"]
    rows = "\n".join(f"| {k} | {100 * v['value']:.1f}% | {v['needs']} | {'met' if v['ok'] else 'NOT met'} |"
                     for k, v in pre.items()) or "| (not measured) | | | |"
    probe = info.get("last_probe", {})
    text = f"""# The micro-world's base model

Rebuild it with (BENCH: `selfevolve build --library numpy --seed {info['bench_seed']} --name zwc --out BENCH` then
`selfevolve tasks generate BENCH`; the default bench, which `make demo` builds into `demo-out/bench`):

```bash
{command}
```

* bench: seed {info['bench_seed']} (built at `{info['bench']}`); subset: {len(info['subset_apis'])} function APIs,
  subset seed {cfg['subset_seed']}; pretraining seed {cfg['seed']}, {info['steps_done']} steps of batch {cfg['batch']}
  ({cfg['threads']} thread(s); the learning rate is constant after the warm-up, so `--steps {info['steps_done']}` is this model)
* model: `MicroForCausalLM` (Llama + token shift + line bag), hidden {cfg['hidden']}, {cfg['layers']} layers,
  {info['parameters']:,} parameters; tokenizer: byte-level BPE, {cfg['vocab']} tokens, built on the corpus
* `model.safetensors` sha256: `{info['sha256']}`
* training: {info['timings']['train_s']:.0f} s wall, {info['timings'].get('cpu_s', 0):.0f} s CPU of this process,
  {info['tokens_per_s']} tokens/s; corpus preparation {info['timings']['prepare_s']:.0f} s
* last teacher-forced probe (step {probe.get('step')}): """ + ", ".join(
        f"{k} exact {v['exact']:.2f} / log-prob {v['logprob']:.2f}" for k, v in probe.items() if isinstance(v, dict)) + f"""

## Preconditions (subset test_single, greedy, `selfevolve micro check`)

| precondition | measured | needs | |
| --- | --- | --- | --- |
{rows}
"""
    atomic_write_text(base / "BASE.md", text)
