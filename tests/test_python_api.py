"""The README's Python example, run as written (paths pointed at the test bench and the committed base)."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import selfevolve_lab

ROOT = Path(__file__).resolve().parents[1]


def _readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readme_example_runs(numpy_tasks, tmp_path):
    code = _readme_example()
    assert code.count("\n") <= 12  # "a 10-line example"
    code = (code.replace('"demo-out/bench"', repr(str(numpy_tasks.root)))
            .replace('"micro-base"', repr(str(ROOT / "micro-base"))).replace('"runs/py"', repr(str(tmp_path / "py"))))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().split()
    assert lines[:2] == ["passed", "not_using_package"]
    assert 0.0 <= float(lines[2]) <= 1.0
    assert (tmp_path / "py" / "results.json").exists() and (tmp_path / "py" / "samples.jsonl").exists()


def test_the_exported_names_resolve_and_are_documented():
    for name in selfevolve_lab.__all__:
        obj = getattr(selfevolve_lab, name)
        assert obj.__doc__, name
    try:
        selfevolve_lab.no_such_name  # noqa: B018
    except AttributeError as e:
        assert "no_such_name" in str(e)
    else:
        raise AssertionError("an unknown name resolved")


def test_no_exported_name_is_shadowed_by_a_subpackage():
    """``selfevolve_lab.evaluate`` is a subpackage: an export of that name turned into the module once it loaded."""
    import importlib
    import pkgutil

    subpackages = {m.name for m in pkgutil.iter_modules(selfevolve_lab.__path__)}
    assert not subpackages & set(selfevolve_lab.__all__)
    importlib.import_module("selfevolve_lab.evaluate.run")
    assert callable(selfevolve_lab.evaluate_model) and not isinstance(selfevolve_lab.evaluate_model, type(selfevolve_lab))
