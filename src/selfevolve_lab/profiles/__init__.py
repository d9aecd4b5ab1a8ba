"""One `LibraryProfile` per library: all a bench knows of a library beyond what introspection finds.

obfuscate, tasks, judge and sandbox read it through `get`; a library without a profile gets an empty one
(its top-level module, no alias, the generic task patterns). Core level: imports nothing above it.
"""

from __future__ import annotations

import importlib
import warnings
from dataclasses import dataclass, field
from typing import Any

from selfevolve_lab.profiles.inputs import Override


@dataclass(frozen=True)
class LibraryProfile:
    name: str  # the import name
    alias: str | None = None  # the conventional import alias references and prose use ("np")
    license: str | None = None  # its SPDX id: a published bench's package and docs derive from it
    # the surface: submodules walked, dotted names (from the root) left out, how prose spells the library,
    # and a context manager of the library (and its arguments) under which reprs are taken
    submodules: tuple[str, ...] = ()
    skip: frozenset[str] = frozenset()
    display_names: tuple[str, ...] = ()
    print_options: tuple[str, dict] | None = None
    successors: dict[str, str] = field(default_factory=dict)  # official names replaced by a drop-in successor
    # the judge: calls that only build or convert data, the methods that turn a value into Python data, the
    # classes results are encoded from (an array turns into a list by ``tolist()``, a scalar by ``item()``;
    # their methods and operators can be an API under another name), and an API (by its object's __name__)
    # -> the operators that are the same computation
    trivial: tuple[str, ...] = ()
    to_plain: tuple[str, ...] = ()
    array_class: str | None = None
    scalar_class: str | None = None
    operators: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # the task specs: how a reference turns a plain input into the library's value, a context manager trials
    # run under, the submodule whose functions are tried seeded (with `random_kw`), and the tables for APIs
    # no generic pattern fits
    wrap: str = "{}"
    errstate: tuple[str, dict] | None = None
    random_module: str | None = None
    random_kw: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Override] = field(default_factory=dict)
    summaries: dict[str, str] = field(default_factory=dict)  # for APIs whose own summary names another API
    skip_reason: dict[str, str] = field(default_factory=dict)
    # the leak lint's probes, in original names: expressions whose reprs and error messages it checks
    probe_values: tuple[str, ...] = ()
    probe_errors: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return self.alias or self.name

    @property
    def aliases(self) -> tuple[str, ...]:
        return (self.alias,) if self.alias else ()

    @property
    def import_line(self) -> str:
        return f"import {self.name}" + (f" as {self.alias}" if self.alias else "")

    @property
    def value_classes(self) -> tuple[str, ...]:
        return tuple(c for c in (self.array_class, self.scalar_class) if c)

    def in_code(self, dotted: str) -> str:
        """``numpy.linalg.inv`` -> ``np.linalg.inv``."""
        return self.prefix + dotted[len(self.name):]


def resolve(dotted: str) -> Any:
    """The object a dotted name of an importable library names, or None."""
    parts = dotted.split(".")
    try:
        with warnings.catch_warnings():  # deprecated names warn when read
            warnings.simplefilter("ignore")
            obj = importlib.import_module(parts[0])
            for p in parts[1:]:
                obj = getattr(obj, p)
    except (ImportError, AttributeError):
        return None
    return obj


from selfevolve_lab.profiles import numpy, statistics  # noqa: E402  (they build on the class above)

PROFILES = {p.name: p for p in (numpy.PROFILE, statistics.PROFILE)}
DEFAULT = numpy.PROFILE.name  # the library a bench wraps unless told otherwise


def get(library: str) -> LibraryProfile:
    return PROFILES.get(library) or LibraryProfile(library)
