"""The `selfevolve` command line.

Each pipeline stage registers its own commands from its ``<stage>/cli.py`` (kept import-light: heavy
libraries are imported inside the command bodies). This file only assembles them and owns the error
convention: bad input (UserError) prints one line and exits 2; Ctrl-C exits 130 and leaves runs resumable.
"""

from __future__ import annotations

import sys

import typer

from selfevolve import __version__
from selfevolve.errors import UserError

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
    from selfevolve import demo
    from selfevolve.evaluate import cli as evaluate_cli
    from selfevolve.exit import cli as exit_cli
    from selfevolve.judge import cli as judge_cli
    from selfevolve.micro import cli as micro_cli
    from selfevolve.obfuscate import cli as obfuscate_cli
    from selfevolve.tasks import cli as tasks_cli
    from selfevolve.train import cli as train_cli

    for mod in (obfuscate_cli, tasks_cli, judge_cli, evaluate_cli, demo, train_cli, exit_cli, micro_cli):
        mod.register(app)


_register_all()


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; returns on success, otherwise exits with the command's code."""
    try:
        # Standalone mode: typer itself shows a usage error (unknown command or option, missing value) in its
        # usual short form and exits 2, whichever click (its vendored copy or the package) raised it.
        app(args=argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except SystemExit as e:
        if e.code == 130:  # typer turns Ctrl-C inside a command into exit code 130
            _interrupted()
        if e.code not in (0, None):
            raise


def _interrupted() -> None:
    print("interrupted: partial results are kept; re-run the same command to resume", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    main()
