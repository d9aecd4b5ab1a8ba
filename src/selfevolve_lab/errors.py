"""The one exception type that means "the user gave us bad input".

The CLI turns it into a one-line message on stderr and exit code 2, with no traceback.
Everything else that escapes is a bug and keeps its traceback.
"""


class UserError(Exception):
    """Bad input (a missing file, a malformed record, an unreachable URL): report it in one line."""

    exit_code = 2


# `selfevolve` on PyPI is another project (with an import package of that name): ours installs as this.
DISTRIBUTION = "selfevolve-lab"


def missing_extra(extra: str, what: str) -> UserError:
    """The error for an optional dependency that is not installed, with the command that installs it."""
    return UserError(f"{what} needs the '{extra}' extra: pip install '{DISTRIBUTION}[{extra}]'")
