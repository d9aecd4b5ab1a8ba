"""The README's Layout section names every package and module of the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "selfevolve_lab"


def _layout() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("\n## Layout\n", 1)[1].split("```", 2)[1]


def test_the_layout_names_every_package_and_module():
    layout = _layout()
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", layout))
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if path.name == "__init__.py" or "data" in rel.parts:
            continue
        assert path.stem in words, f"README Layout does not name {rel}"
    for d in SRC.iterdir():
        if d.is_dir() and (d / "__init__.py").exists():
            assert f"{d.name}/" in layout, f"README Layout does not name {d.name}/"

