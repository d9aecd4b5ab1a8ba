"""The domains behind the `Domain` protocol, by name."""

from __future__ import annotations

from typing import Any

from selfevolve_lab.errors import UserError

DOMAINS = ("sebench", "math", "mle", "tools")


def open_domain(name: str, *, bench: str | None = None, **kw: Any):
    """The domain called ``name``; ``bench`` is the bench directory of the ``sebench`` domain."""
    if name == "math":
        from selfevolve_lab.exit.domains.math import MathDomain

        return MathDomain(**kw)
    if name == "mle":
        from selfevolve_lab.exit.domains.mle import MLEDomain

        return MLEDomain(**kw)
    if name == "tools":
        from selfevolve_lab.exit.domains.tools import ToolsDomain

        return ToolsDomain(**kw)
    if name == "sebench":
        if bench is None:
            raise UserError("the sebench domain needs --bench DIR")
        from selfevolve_lab.bench import Bench
        from selfevolve_lab.exit.domains.sebench import SEBenchDomain

        return SEBenchDomain(Bench.open(bench), **kw)
    raise UserError(f"unknown domain {name!r}; choose one of {', '.join(DOMAINS)}")
