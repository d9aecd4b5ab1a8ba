"""The `selfevolve` command line.

Each pipeline stage registers its own commands from its ``<stage>/cli.py`` (kept import-light: heavy
libraries are imported inside the command bodies). This file only assembles them and owns the error
convention: bad input (UserError) prints one line and exits 2; Ctrl-C exits 130 and leaves runs resumable.
"""

from __future__ import annotations

import io
import os
import sys
import threading
import warnings

import typer
import typer.main

from selfevolve_lab import __version__
from selfevolve_lab.errors import UserError

app = typer.Typer(
    name="selfevolve",
    help=(
        "Measure how language models internalize new knowledge (SE-Bench) and improve themselves (ExIt).\n\n"
        "Pipeline: build a pseudo-novel package -> generate tasks -> generate completions -> judge in the "
        "sandbox -> report."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"selfevolve {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    pass


def _register_all() -> None:
    from selfevolve_lab import demo
    from selfevolve_lab.evaluate import cli as evaluate_cli
    from selfevolve_lab.exit import cli as exit_cli
    from selfevolve_lab.judge import cli as judge_cli
    from selfevolve_lab.micro import cli as micro_cli
    from selfevolve_lab.obfuscate import cli as obfuscate_cli
    from selfevolve_lab.tasks import cli as tasks_cli
    from selfevolve_lab.train import cli as train_cli

    for mod in (obfuscate_cli, tasks_cli, judge_cli, evaluate_cli, demo, train_cli, exit_cli, micro_cli):
        mod.register(app)


_register_all()


def commands(cmd=None, path: tuple[str, ...] = (), groups: bool = False):
    """(path, command) of every leaf command (and with ``groups`` every group) of the click command that typer
    builds from ``app``."""
    cmd = typer.main.get_command(app) if cmd is None else cmd
    subs = getattr(cmd, "commands", None)
    if groups or not subs:
        yield path, cmd
    for name, sub in (subs or {}).items():
        yield from commands(sub, (*path, name), groups)


def command():
    """The click command of ``app``, its flags shown without a value: typer's rich help gives each flag a
    ``<bool>`` type, which reads as if ``--references true`` were asked for."""
    root = typer.main.get_command(app)
    ctx = typer.Context(root, help_option_names=["-h", "--help"])
    for _, cmd in commands(root, groups=True):
        for p in (*cmd.params, cmd.get_help_option(ctx)):
            if getattr(p, "is_flag", False) and p.metavar is None:
                p.metavar = ""
    return root


class _Lines(io.TextIOBase):
    """stderr when it is no terminal (a log file, a pipe): a progress bar's carriage returns end lines, so a
    log holds one line per refresh, not one line of every refresh joined by carriage returns."""

    def __init__(self, stream) -> None:
        self.stream, self.fresh = stream, True

    def write(self, text: str) -> int:
        lines = text.replace("\r", "\n")
        if self.fresh:
            lines = lines.lstrip("\n")
        if lines:
            self.stream.write(lines)
            self.fresh = lines.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", "utf-8")


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; returns on success, otherwise exits with the command's code."""
    # warnings a user cannot act on: TRL's notice on its experimental modules (the GRPO rollout hook uses them),
    # and transformers' deprecation of a name that TRL's GRPOTrainer still calls
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
    stderr = sys.stderr
    if not stderr.isatty():  # progress (tqdm, which the libraries use too) as plain lines, one every 10 s
        os.environ.setdefault("TQDM_MININTERVAL", "10")
        sys.stderr = _Lines(stderr)
    try:
        _main(argv)
    finally:
        sys.stderr = stderr


def _main(argv: list[str] | None) -> None:
    try:
        # Not standalone: a usage error (unknown command or option, a value out of range or not a choice) is
        # ours to print, in one line as a UserError is.
        code = command().main(args=argv, prog_name="selfevolve", standalone_mode=False)
    except typer.TyperException as e:  # click's usage errors (its ClickException derives from it)
        if not e.format_message():  # a group called without a command: its help is shown already
            sys.exit(e.exit_code)
        ctx = getattr(e, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        message = e.format_message().replace("Value error, ", "")  # typer's validation says so for a choice
        print(f"error: {message}{hint}", file=sys.stderr)
        sys.exit(e.exit_code)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        _interrupted()
    if code == 130:  # typer turns Ctrl-C inside a command into exit code 130
        _interrupted()
    if isinstance(code, int) and code:
        sys.exit(code)


def _interrupted() -> None:
    # Runs that checkpoint (train, exit train) continue with --resume; eval, judge and micro resume as they are.
    print("interrupted: partial results are kept; re-run the same command to resume (a training run: add --resume)",
          file=sys.stderr, flush=True)
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        # a generation still running in a worker thread (a local model) would hold the exit until it ends (up to
        # 20 s were seen); what a run keeps is on disk already, record by record
        sys.stdout.flush()
        os._exit(130)
    sys.exit(130)


if __name__ == "__main__":
    main()
