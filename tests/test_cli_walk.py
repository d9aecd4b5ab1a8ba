"""Every command, found by walking the typer app (a new command is covered without being listed here): its --help
renders, every option says what it is for, flags read as flags, every number has a range and every choice its
list, and a value out of range or not a choice is one line on stderr, exit 2, with nothing written."""

from __future__ import annotations

import os
import typing

import pytest

from selfevolve_lab.cli import command, commands, main

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


# ---- paths: --out, failed starts, foreign tasks, hidden writes (issue 24, "Paths and numbers" 1-3, 6, 7)

def _one_line_error(code, err, *words):
    assert code == 2 and "Traceback" not in err, (code, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: "), err
    assert all(w in err for w in words), err


def _tasks_file(bench, path, n=2, apis=None):
    from selfevolve_lab.schema import Task, TestCase

    ref = "import zwc\n\ndef solve(x):\n    return zwc.falekef(x).gifune()\n"
    tasks = [Task(id=f"t/{i}", kind="single", apis=apis or ["zwc.falekef"], prompt="absolute values",
                  entry_point="solve", signature="def solve(x):", reference=ref,
                  tests=[TestCase(input={"x": [-i, 2]}, output=[i, 2])]) for i in range(n)]
    path.write_text("".join(t.model_dump_json() + "\n" for t in tasks))
    return path


def _with_tasks(mini_bench, tmp_path, split):
    """A copy of the mini bench with a task set (the fixture's own stays untouched)."""
    import shutil

    root = tmp_path / "bench"
    shutil.copytree(mini_bench.root, root)
    (root / "tasks").mkdir()
    _tasks_file(mini_bench, root / "tasks" / f"{split}.jsonl")
    return root


def test_build_refuses_an_existing_bench_without_force(tmp_path, capsys):
    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "manifest.json").write_text("{}")
    _one_line_error(*_run(["build", "--out", tmp_path / "bench"], capsys)[::2], "--force")
    assert os.listdir(tmp_path / "bench") == ["manifest.json"]  # its tasks/ would have been deleted


def test_tasks_generate_refuses_to_replace_task_sets_without_force(mini_bench, tmp_path, capsys):
    root = _with_tasks(mini_bench, tmp_path, "train")
    before = (root / "tasks" / "train.jsonl").read_text()
    _one_line_error(*_run(["tasks", "generate", root], capsys)[::2], "train.jsonl", "--force")
    _one_line_error(*_run(["tasks", "generate", root, "--llm", "http://127.0.0.1:9/v1", "--model", "m"], capsys)[::2],
                    "train.jsonl", "--force")
    assert (root / "tasks" / "train.jsonl").read_text() == before and os.listdir(root / "tasks") == ["train.jsonl"]


def test_out_gets_its_parents_and_an_existing_one_needs_force(mini_bench, tmp_path, capsys, monkeypatch):
    import selfevolve_lab.evaluate.report as report

    tasks_dir = _with_tasks(mini_bench, tmp_path, "test_single")
    out = tmp_path / "a" / "b" / "tasks.jsonl"
    assert _run(["tasks", "export", tasks_dir, "--out", out], capsys)[0] == 0 and out.is_file()
    _one_line_error(*_run(["tasks", "export", tasks_dir, "--out", out], capsys)[::2], "--force")
    assert _run(["tasks", "export", tasks_dir, "--out", out, "--force"], capsys)[0] == 0

    monkeypatch.setattr(report, "load_curve", lambda r: {"steps": []})
    monkeypatch.setattr(report, "plot_curves", lambda curves, out, **kw: out.write_bytes(b"png"))
    png = tmp_path / "c" / "d" / "curve.png"
    assert _run(["exit", "plot", tmp_path, "--out", png], capsys)[0] == 0 and png.read_bytes() == b"png"
    _one_line_error(*_run(["exit", "plot", tmp_path, "--out", png], capsys)[::2], "--force")


def test_a_failed_start_does_not_block_the_corrected_command_and_a_larger_limit_extends(mini_bench, tmp_path,
                                                                                        capsys):
    tasks = _tasks_file(mini_bench, tmp_path / "tasks.jsonl", n=2)
    run = tmp_path / "run"
    common = ["eval", "--bench", mini_bench.root, "--tasks", tasks, "--workers", "1", "--out", run]
    _one_line_error(*_run([*common, "--model", mini_bench.root], capsys)[::2], "not a model directory")
    _one_line_error(*_run([*common, "--model", tmp_path / "no-such-model"], capsys)[::2], "no such local path")
    assert not run.exists()  # a model that is no model is said before OUT is written
    assert _run([*common, "--references", "--limit", "1"], capsys)[0] == 0
    first = (run / "samples.jsonl").read_text()
    code, out, err = _run([*common, "--references", "--limit", "2"], capsys)
    assert code == 0 and "2 samples on 2 tasks" in out, err
    assert (run / "samples.jsonl").read_text().startswith(first)  # extended, not redone
    _one_line_error(*_run([*common, "--references", "--mode", "open"], capsys)[::2], "--force")


def test_tasks_of_another_bench_are_refused(mini_bench, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tasks = _tasks_file(mini_bench, tmp_path / "tasks.jsonl", apis=["zwc.kubuj"])  # a name of the seed-42 bench
    _one_line_error(*_run(["eval", "--bench", mini_bench.root, "--tasks", tasks, "--references", "--out", "run"],
                          capsys)[::2], "zwc.kubuj", "another bench")
    completions = tmp_path / "c.jsonl"
    completions.write_text('{"task_id": "t/0", "completion": "x"}\n')
    _one_line_error(*_run(["judge", "--bench", mini_bench.root, "--tasks", tasks, "--completions", completions,
                           "--out", "v.jsonl"], capsys)[::2], "another bench")
    assert sorted(os.listdir(tmp_path)) == ["c.jsonl", "tasks.jsonl"]


def test_serve_refuses_a_directory_that_is_no_model(mini_bench, capsys):
    _one_line_error(*_run(["serve", "--model", mini_bench.root, "--port", "0"], capsys)[::2], "not a model directory")


def test_train_data_and_micro_check_write_nowhere_else(mini_bench, tmp_path, capsys, monkeypatch):
    import sys
    from types import ModuleType, SimpleNamespace

    import selfevolve_lab.evaluate.run as run
    from selfevolve_lab.micro import base as micro_base

    tasks_dir = _with_tasks(mini_bench, tmp_path, "train")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    code, out, err = _run(["train", "data", "--bench", tasks_dir, "--from-references", "--out", "d/data.jsonl"], capsys)
    assert code == 0, err
    assert sorted(p.relative_to(work).as_posix() for p in work.rglob("*")) == ["d", "d/data.jsonl"]  # no .eval/

    base = tmp_path / "base"
    (base / "subset").mkdir(parents=True)
    for name in ("config.json", "pretrain.json", "subset/test_single.jsonl"):
        (base / name).write_text("{}")
    seen = []
    # the micro model's module registers with transformers (seconds to import); no model is loaded here
    monkeypatch.setitem(sys.modules, "selfevolve_lab.models.micro", ModuleType("selfevolve_lab.models.micro"))
    monkeypatch.setattr(run, "run_eval", lambda cfg, out, **kw: seen.append(out) or {
        "metrics": {"pass@1": 1.0, "status": {}}})
    micro_base.measure_preconditions(SimpleNamespace(root=tasks_dir), base)
    assert len(seen) == 3 and not any(base in p.parents for p in seen)
    assert sorted(os.listdir(base)) == ["config.json", "preconditions.json", "pretrain.json", "subset"]


def test_ctrl_c_does_not_wait_for_a_generation_thread():
    """A local model generates in a worker thread that Ctrl-C cannot stop: the exit does not wait for it."""
    import subprocess
    import sys
    import time

    code = ("import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n"
            "from selfevolve_lab.cli import _interrupted\n_interrupted()\n")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 130 and "re-run the same command" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 15  # the import takes a few seconds on a loaded machine; the thread 60


# ---- output noise (issue 24, "Paths and numbers" 8)

def test_progress_is_plain_lines_in_a_log_and_trl_is_quiet(monkeypatch, capsys):
    import io

    from selfevolve_lab.cli import _Lines

    log = io.StringIO()
    lines = _Lines(log)
    for text in ("\rjudging 1/3", "\rjudging 2/3", "\rjudging 3/3", "\n", "done\n"):
        lines.write(text)
    assert log.getvalue() == "judging 1/3\njudging 2/3\njudging 3/3\ndone\n"  # no carriage returns in a log
    monkeypatch.delenv("TRL_EXPERIMENTAL_SILENCE", raising=False)
    assert _run(["--version"], capsys)[0] == 0
    assert os.environ["TRL_EXPERIMENTAL_SILENCE"] == "1"
    import warnings

    with warnings.catch_warnings(record=True) as seen:
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning,
                      stacklevel=2)
    assert not seen  # transformers says so of a call inside TRL's GRPOTrainer


def test_training_arguments_raise_no_deprecation_warning(tmp_path):
    """Every training command opened with transformers' FutureWarning on gradient_checkpointing."""
    import warnings

    from transformers import TrainingArguments

    from selfevolve_lab.train.run import CommonOptions, trainer_args

    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        TrainingArguments(**trainer_args(CommonOptions(), tmp_path))
