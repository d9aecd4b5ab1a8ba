"""The distribution's name, license and pins: what `pip install` of this project gets."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from selfevolve_lab.errors import DISTRIBUTION, missing_extra

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
PINS = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "constraints.txt").read_text(), re.M))


def test_the_distribution_is_ours_and_every_install_hint_names_it():
    assert PROJECT["name"] == DISTRIBUTION
    import selfevolve_lab

    assert selfevolve_lab.__name__ == DISTRIBUTION.replace("-", "_")  # the import name is the distribution's
    assert f"pip install '{DISTRIBUTION}[ray]'" in str(missing_extra("ray", "x"))
    texts = [p for p in [*ROOT.glob("src/**/*.py"), *ROOT.glob("docs/*.md"), ROOT / "README.md"]]
    stale = [str(p.relative_to(ROOT)) for p in texts if re.search(r"pip install\s+['\"]?selfevolve\[", p.read_text())]
    assert not stale, f"install hints naming PyPI's other 'selfevolve': {stale}"


def test_a_license_file_ships_and_pyproject_names_it():
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text()[:200]


def test_extras_hold_ranges_and_constraints_hold_the_exact_versions():
    # An exact pin in an extra cannot sit beside vLLM's or verl's own pins; constraints.txt is where they live.
    for extra, reqs in PROJECT["optional-dependencies"].items():
        assert not [r for r in reqs if "==" in r], (extra, reqs)
    from selfevolve_lab.train.grpo import TRL_VERSION

    assert PINS["trl"] == TRL_VERSION and "trl~=" + TRL_VERSION in PROJECT["optional-dependencies"]["train"]
    assert "torch" in PINS
