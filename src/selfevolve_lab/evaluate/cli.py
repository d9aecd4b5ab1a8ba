"""`selfevolve eval`, `selfevolve report`, `selfevolve serve`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

from selfevolve_lab.bench import SPLITS
from selfevolve_lab.evaluate.prompts import DOC_STYLES
from selfevolve_lab.evaluate.run import PROTOCOLS
from selfevolve_lab.evaluate.run import EvalConfig as C  # each option's default is its field's
from selfevolve_lab.models import BACKENDS
from selfevolve_lab.models.server import MAX_N, MAX_TOKENS_CAP


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_cmd)
    app.command("report")(report_cmd)
    app.command("serve")(serve_cmd)


def eval_cmd(
    ctx: typer.Context,
    bench: Path = typer.Option(..., "--bench", help="Bench directory with tasks."),
    model: str = typer.Option(None, "--model", help="A local model path, or OpenAI-compatible URL(s), comma-separated."),
    out: Path = typer.Option(..., "--out", help="Run directory (samples.jsonl, results.json); re-run to resume."),
    mode: Literal["closed", "open"] = typer.Option(C.mode, "--mode", help="closed: no docs in the prompt; open: docs in the prompt."),
    docs: Literal["task", "all", "bm25"] = typer.Option(C.docs, "--docs", help="Open book: task (the task's APIs), all, or bm25."),
    split: Literal[SPLITS] = typer.Option(C.split, "--split", help="The bench's task set."),
    tasks_file: Path = typer.Option(None, "--tasks", help="A tasks JSONL instead of a split (e.g. imported SE-Bench)."),
    n_samples: int = typer.Option(C.n_samples, "--n-samples", min=1, help="Samples per task (pass@k up to this k)."),
    temperature: float = typer.Option(C.temperature, "--temperature", min=0.0, help="Sampling temperature (0: greedy)."),
    max_tokens: int = typer.Option(C.max_tokens, "--max-tokens", min=1, help="Longest completion, in tokens."),
    seed: int = typer.Option(C.seed, "--seed", min=0, help="Sampling seed, per (task, sample), so resumed runs match."),
    top_p: float = typer.Option(C.top_p, "--top-p", min=0.0, max=1.0, help="Nucleus sampling, sent to a server (default: the server's own)."),
    stop: list[str] = typer.Option(list(C.stop), "--stop", help="A string that ends a completion, sent to a server; "
                                                                 "repeat the flag or give a comma-separated list."),
    extra_body: str = typer.Option(None, "--extra-body", help="A JSON object merged into each request body (a "
                                   "server's own options), e.g. '{\"chat_template_kwargs\": {\"enable_thinking\": "
                                   "false}}'."),
    protocol: Literal[tuple(PROTOCOLS)] = typer.Option(C.protocol, "--protocol",
                                 help="sebench: the official sampling settings (" + ", ".join(
                                     f"{k.replace('_', '-')} {v}" for k, v in PROTOCOLS["sebench"].items())
                                      + ") for those of these flags not given."),
    api_key: str = typer.Option(None, "--api-key", envvar="OPENAI_API_KEY", show_envvar=True,
                                help="The model server's key (sent as 'Authorization: Bearer KEY')."),
    limit: int = typer.Option(0, "--limit", min=0, help="Only the first N tasks, for quick runs (0: all)."),
    concurrency: int = typer.Option(32, "--concurrency", min=1, help="Requests in flight to the model server."),
    prompt_style: Literal["default", "sebench"] = typer.Option(C.prompt_style, "--prompt-style",
                                                     help="sebench: the official wording."),
    doc_style: Literal[DOC_STYLES] = typer.Option(C.doc_style, "--doc-style", help="Open book: full docs, or summary (signature + first "
                                                              "paragraph)."),
    library_original: bool = typer.Option(False, "--library-original",
                                          help="Ask for the original library (e.g. numpy) instead of the package; the "
                                               "judge then requires it and forbids the package (the paper's 'same "
                                               "tasks in NumPy' row)."),
    backend: Literal[BACKENDS] = typer.Option("auto", "--backend", help="auto: openai for a URL, transformers "
                                              "for a local path."),
    references: bool = typer.Option(False, "--references", help="Score the tasks' own reference solutions."),
    original_names: bool = typer.Option(False, "--original-names",
                                        help="Score the references translated back to the original names "
                                             "(implies --references)."),
    workers: int = typer.Option(0, "--workers", min=0, help="Sandbox workers (0: one per core, plus one)."),
    force: bool = typer.Option(False, "--force", help="Start over when --out holds a run with another config."),
) -> None:
    """Evaluate a model closed-book or open-book: generate, judge in the sandbox as samples arrive, report.

    Samples are appended to OUT/samples.jsonl as they finish; Ctrl-C or a crash leaves a run that the
    same command resumes. --references / --original-names check the bench itself (about 100% / 0%).
    """
    import json

    from selfevolve_lab.errors import UserError
    from selfevolve_lab.evaluate.run import apply_protocol, run_eval

    # --original-names modifies --references (and implies it): the references, with the original names
    source = "original-names" if original_names else ("references" if references else "model")
    if library_original and (source != "model" or mode == "open"):
        raise UserError("--library-original scores a model closed-book in the original library; it does not combine "
                        "with --references, --original-names or --mode open")
    if source == "model" and not model:
        raise UserError("--model is required (or --references / --original-names)")
    try:
        body = None if extra_body is None else json.loads(extra_body)
    except ValueError as e:
        raise UserError(f"--extra-body: not JSON ({e})") from None
    if body is not None and not isinstance(body, dict):
        raise UserError("--extra-body: a JSON object, e.g. '{\"top_k\": 20}'")
    cfg = C(bench=str(bench), model=model or source, mode=mode, docs=docs, split=split,
            tasks_file=str(tasks_file) if tasks_file else None, n_samples=n_samples, temperature=temperature,
            max_tokens=max_tokens, seed=seed, limit=limit or None, prompt_style=prompt_style, source=source,
            doc_style=doc_style, target="library" if library_original else "package", top_p=top_p,
            stop=tuple(x for s in stop for x in s.split(",") if x), extra_body=body, protocol=protocol)
    # by name: typer may bring its own copy of click, whose ParameterSource is another class
    given = {n for n in ctx.params if ctx.get_parameter_source(n).name != "DEFAULT"}
    cfg = apply_protocol(cfg, given)
    results = run_eval(cfg, out, force=force, workers=workers or None, concurrency=concurrency, backend=backend,
                       api_key=api_key)
    m = results["metrics"]
    keys = [k for k in m if k.startswith("pass@")]
    typer.echo(f"{out}: {m['n_samples']} samples on {m['n_tasks']} tasks, " + ", ".join(
        f"{k} {100 * m[k]:.1f}%" for k in keys) + f"; statuses {m['status']}; sandbox {results['isolation']}"
        + (f"; {m['truncated']} cut off at --max-tokens" if m.get("truncated") else ""))


def report_cmd(
    rundirs: list[Path] = typer.Argument(..., help="One or more run directories."),
    out: Path = typer.Option(None, "--out", help="Where to write report.md/json and PNGs (default: RUNDIR/report)."),
    force: bool = typer.Option(False, "--force", help="Write into an --out that holds something else than a "
                               "report (a report is replaced)."),
) -> None:
    """pass@1/pass@k, by task kind, API and failure status; Markdown, JSON and PNG plots; runs compared."""
    from selfevolve_lab.evaluate.report import build_report
    from selfevolve_lab.jsonl import check_out

    target = out or (rundirs[0] / "report")
    check_out(target, force=force or (target / "report.json").is_file())
    rep = build_report(rundirs, target)
    typer.echo(rep["markdown"])
    files = rep.get("files", ["runs.png", "status.png", "per_api.png"])
    typer.echo(f"written: {target}/report.md, report.json, {', '.join(files)}")


def serve_cmd(
    model: Path = typer.Option(..., "--model", help="A local Hugging Face model directory."),
    host: str = typer.Option("127.0.0.1", "--host", help="The address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="The port to listen on (0: any free one)."),
    api_key: str = typer.Option(None, "--api-key", envvar="SELFEVOLVE_API_KEY", show_envvar=True,
                                help="Clients must send 'Authorization: Bearer KEY' (none: open to anyone who can "
                                     "reach the port)."),
    max_n: int = typer.Option(MAX_N, "--max-n", min=1, help="Most completions one request may ask for (n)."),
    max_tokens_cap: int = typer.Option(MAX_TOKENS_CAP, "--max-tokens-cap", min=1, help="Largest max_tokens a request may ask for."),
) -> None:
    """Serve a local transformers model over the OpenAI-compatible chat API (/v1/chat/completions)."""
    from selfevolve_lab.errors import UserError
    from selfevolve_lab.evaluate.serve import make_app
    from selfevolve_lab.models import check_model_dir
    from selfevolve_lab.models.server import open_warning, serve_forever

    warning = open_warning(host, api_key)
    if warning:
        typer.echo(warning, err=True)
    check_model_dir(model)
    app = make_app(str(model), api_key=api_key or None, max_n=max_n, max_tokens_cap=max_tokens_cap)
    try:
        serve_forever(app, host, port,
                      ready=lambda p: typer.echo(f"serving {model} on http://{host}:{p}/v1 (Ctrl-C stops)", err=True))
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None
    except KeyboardInterrupt:
        pass
