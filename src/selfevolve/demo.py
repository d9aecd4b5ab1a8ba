"""`selfevolve demo`: the embedded default job that `make demo` runs."""

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo() -> None:
    """Build the NumPy bench, check it, and print a summary."""
    raise NotImplementedError
