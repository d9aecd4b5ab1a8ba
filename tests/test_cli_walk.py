"""Every command, found by walking the typer app (a new command is covered without being listed here): its --help
renders, every option says what it is for, flags read as flags, every number has a range and every choice its
list, and a value out of range or not a choice is one line on stderr, exit 2, with nothing written."""

from __future__ import annotations

import os
import typing

import pytest

from selfevolve.cli import command, commands, main

ROOT = command()
LEAVES = [(path, cmd) for path, cmd in commands(ROOT)]
ALL = [(path, cmd) for path, cmd in commands(ROOT, groups=True)]


def _options(cmd):
    return [p for p in cmd.params if p.param_type_name == "option"]


def _number(p) -> type | None:
    ann = p.type_descriptor.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)] or [ann]  # Optional[int] -> int
    return args[0] if len(args) == 1 and args[0] in (int, float) else None


def _run(argv, capsys) -> tuple[int, str, str]:
    try:
        main([str(a) for a in argv])
        code = 0
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("path", [p for p, _ in ALL], ids=lambda p: " ".join(p) or "selfevolve")
def test_help_renders_every_option_with_its_help(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside a choice list
    code, out, err = _run([*path, "--help"], capsys)
    assert code == 0 and err == "", err
    assert "<bool>" not in out  # a flag takes no value: `--references true` is not a thing
    cmd = dict(ALL)[path]
    missing = [p.name for p in cmd.params if not (p.help or "").strip()]
    assert not missing, f"{' '.join(path)}: options without help: {missing}"
    for p in _options(cmd):
        assert p.opts[0] in out.replace("\n", " ") or p.hidden
        if p.type_descriptor.is_choice:  # the choices are on the option's line, not only in its prose
            assert "|".join(map(str, p.type_descriptor.choices)) in out, (p.name, out)


@pytest.mark.parametrize("path, cmd", LEAVES, ids=[" ".join(p) for p, _ in LEAVES])
def test_every_number_has_a_range(path, cmd):
    unbounded = [p.opts[0] for p in _options(cmd) if _number(p) and p.min is None and p.max is None]
    assert not unbounded, f"{' '.join(path)}: numbers without min/max: {unbounded}"


def _bad_values():
    """(path, option, value) for each bound of each number, each choice option, and the frictions of issue 24."""
    cases = []
    for path, cmd in LEAVES:
        for p in _options(cmd):
            kind = _number(p)
            if kind is not None:
                step = 1 if kind is int else 0.5
                if p.min is not None:
                    cases.append((path, p.opts[0], kind(p.min - step)))
                if p.max is not None:
                    cases.append((path, p.opts[0], kind(p.max + step)))
            elif p.type_descriptor.is_choice:
                cases.append((path, p.opts[0], "nosuch"))
    return cases


# what issue 24 found accepted, beside the bounds walked above
FRICTIONS = [(("eval",), "--limit", -3), (("eval",), "--n-samples", 0), (("eval",), "--max-tokens", 0),
             (("eval",), "--temperature", -1), (("eval",), "--workers", -2), (("eval",), "--concurrency", 0),
             (("eval",), "--backend", "hf")]  # hf silently meant transformers
BAD = _bad_values() + FRICTIONS


@pytest.mark.parametrize("path, option, value", BAD, ids=[f"{' '.join(p)} {o} {v}" for p, o, v in BAD])
def test_a_bad_value_is_one_line_and_exit_2_with_nothing_written(path, option, value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    has_out = any("--out" in p.opts for p in dict(LEAVES)[path].params)
    code, out, err = _run([*path, option, value, *(["--out", tmp_path / "out"] if has_out else [])], capsys)
    assert code == 2, (code, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and option in err, err
    assert os.listdir(tmp_path) == []
