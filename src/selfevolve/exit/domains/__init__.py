"""The domains behind the `Domain` protocol, by name."""

from __future__ import annotations

from typing import Any

from selfevolve.errors import UserError

DOMAINS = ("sebench", "math", "mle", "tools")


def open_domain(name: str, *, bench: str | None = None, **kw: Any):
    """The domain called ``name``; ``bench`` is the bench directory of the ``sebench`` domain."""
    if name == "math":
        from selfevolve.exit.domains.math import MathDomain

        return MathDomain(**kw)
    if name == "mle":
        from selfevolve.exit.domains.mle import MLEDomain

        return MLEDomain(**kw)
    if name == "tools":
        from selfevolve.exit.domains.tools import ToolsDomain

        return ToolsDomain(**kw)
    if name == "sebench":
        if bench is None:
            raise UserError("the sebench domain needs --bench DIR")
        from selfevolve.bench import Bench
        from selfevolve.exit.domains.sebench import SEBenchDomain

        return SEBenchDomain(Bench.open(bench), **kw)
    raise UserError(f"unknown domain {name!r}; choose one of {', '.join(DOMAINS)}")
