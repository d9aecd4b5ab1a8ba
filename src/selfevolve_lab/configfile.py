"""``--config FILE``: a recipe file as the defaults of a command's options; the command's flags override it.

Every `train`, `exit` and `micro` command takes it (`enable` adds it to a Typer app's commands; the options
stay declared once, on the commands). A file is YAML, or JSON when its name ends in ``.json``:

* a mapping of options to values. A key is an option's flag without the dashes (``max-steps``, ``lr``;
  ``max_steps`` too) or its parameter's name; ``null`` leaves the option at its default. A key that is no
  option of the command is refused (exit 2, naming it), and so is a value of the wrong kind (a list, a
  mapping, a float for an integer, YAML's yes/no/on/off for a string or a number), which click would
  otherwise turn silently into another value.
* a run's ``config.json``. A command records all its options when its run starts, under ``"cli":
  {"command": "train sft", "options": {...}}``, and from such a file only that record is read. Its other
  keys are what the run derived from the options and from its environment (the recipe's resolved
  hyperparameters, task ids, the world size and per-device sizes, versions); they are ignored, not
  checked, because the new run derives them again, and on another number of processes legitimately to
  other values (``--resume`` still compares them with the run it continues). A record of another command
  is refused.

``--out``, ``--resume`` and ``--force`` are not recorded: where a run goes and whether it replaces one is
the invocation's choice, so ``--config RUN/config.json --out OTHER`` repeats RUN in OTHER. Path options are
recorded absolute; a ``--model`` given as a relative path is recorded as given.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import typing
from pathlib import Path
from typing import Any

import typer

from selfevolve_lab.errors import UserError

RECORD = "cli"  # the key of a run's config.json that holds the command's options
NOT_RECORDED = ("out", "resume", "force")
_running: contextvars.ContextVar[dict | None] = contextvars.ContextVar("selfevolve_command", default=None)


def enable(app: typer.Typer, group: str) -> None:
    """Give each command of ``app`` (``selfevolve GROUP NAME``) the ``--config`` option."""
    for info in app.registered_commands:
        if info.callback is not None and not getattr(info.callback, "_takes_config", False):
            info.callback = _with_config(info.callback, f"{group} {info.name}")


def recorded() -> dict[str, Any]:
    """The running command's options, as a run's config.json records them under ``"cli"`` ({} outside one)."""
    return dict(_running.get() or {})


def _flag(p: inspect.Parameter) -> str:
    decls = [d for d in getattr(p.default, "param_decls", None) or () if d.startswith("--")]
    return decls[0].split("/")[0][2:] if decls else p.name.replace("_", "-")


def _kind(annotation: Any) -> type | None:
    """The scalar type of an option (None for a list or anything else)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:  # a choice: the kind of its values
        kinds = {type(a) for a in args}
        return kinds.pop() if len(kinds) == 1 and args else None
    if typing.get_origin(annotation) is typing.Union or type(annotation).__name__ == "UnionType":
        return _kind(args[0]) if len(args) == 1 else None
    return annotation if annotation in (bool, int, float, str, Path) else None


def _with_config(fn, command: str):
    sig = inspect.signature(fn, eval_str=True)
    keys: dict[str, str] = {}  # a file's key -> the parameter's name
    flags: dict[str, str] = {}
    for p in sig.parameters.values():
        flags[p.name] = _flag(p)
        for key in {p.name, flags[p.name], flags[p.name].replace("-", "_")}:
            assert keys.setdefault(key, p.name) == p.name, f"{command}: {key} names two options"
    kinds = {p.name: _kind(p.annotation) for p in sig.parameters.values()}
    lists = {p.name for p in sig.parameters.values() if typing.get_origin(p.annotation) in (list, tuple)}

    def load(ctx: typer.Context, value: Path | None) -> Path | None:
        if value is not None:  # eager: read before the other options take their values
            given = _defaults(value, command, keys, flags, kinds, lists)
            params = {p.name: p for p in ctx.command.params}
            for name, v in given.items():  # a bad value names the file it came from, not only the option
                if name in params:
                    try:
                        params[name].process_value(ctx, v)
                    except Exception as e:  # typer's own click raises its BadParameter  # noqa: BLE001
                        if not hasattr(e, "format_message"):
                            raise
                        raise UserError(f"--config {value}: {e.format_message()}") from None
            ctx.default_map = {**(ctx.default_map or {}), **given}
        return value

    option = typer.Option(None, "--config", is_eager=True, callback=load, help="A recipe file (YAML, or JSON such "
                          "as a run's config.json) that sets this command's options; its flags override it.")

    @functools.wraps(fn)
    def run(*args: Any, config: Path | None = None, **kwargs: Any) -> Any:
        options = {flags[k]: _plain(v) for k, v in kwargs.items() if k not in NOT_RECORDED}
        token = _running.set({"command": command, "options": options})
        try:
            return fn(*args, **kwargs)
        finally:
            _running.reset(token)

    extra = inspect.Parameter("config", inspect.Parameter.KEYWORD_ONLY, default=option, annotation=Path | None)
    run.__signature__ = sig.replace(parameters=[*sig.parameters.values(), extra])
    run.__annotations__ = {**typing.get_type_hints(fn), "config": Path | None}
    run._takes_config = True
    return run


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value.absolute())
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def read(path: Path) -> dict:
    """A recipe file's mapping (UserError when it is missing, malformed or not a mapping)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"--config {path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        raise UserError(f"--config {path}: not valid {kind} ({' '.join(str(e).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"--config {path}: expected a mapping of options to values, not a {type(data).__name__}")
    return data


def _defaults(path: Path, command: str, keys: dict[str, str], flags: dict[str, str], kinds: dict[str, type | None],
              lists: set[str]) -> dict[str, Any]:
    data = read(path)
    if RECORD in data:
        rec = data[RECORD]
        if not isinstance(rec, dict) or not isinstance(rec.get("options"), dict) or not rec.get("command"):
            raise UserError(f"--config {path}: its run recorded no command-line options (it was not started by a "
                            f"`selfevolve` command)")
        if rec["command"] != command:
            raise UserError(f"--config {path}: a `selfevolve {rec['command']}` run, not `selfevolve {command}`")
        data = rec["options"]
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = keys.get(str(key))
        if name is None or name == "config":
            raise UserError(f"--config {path}: unknown key {key!r} (`selfevolve {command}` has no such option)")
        if name in out:
            raise UserError(f"--config {path}: {key!r} sets --{flags[name]} a second time")
        if value is None:
            continue
        _check(path, key, value, kinds[name], name in lists)
        out[name] = value
    return out


def _check(path: Path, key: Any, value: Any, kind: type | None, many: bool) -> None:
    if many:
        ok = isinstance(value, list) and all(not isinstance(v, dict | list | bool) for v in value)
        want = "a list of values"
    elif kind is bool:
        ok, want = isinstance(value, bool), "true or false"
    elif kind is int:
        ok, want = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif kind is float:
        ok = isinstance(value, int | float | str) and not isinstance(value, bool)  # YAML reads 1e-5 as a string
        want = "a number"
    elif kind in (str, Path):
        ok = isinstance(value, str | int | float) and not isinstance(value, bool)
        want = "a string (quote it: YAML reads yes/no/on/off as booleans)"
    else:
        ok, want = not isinstance(value, dict | list), "one value"
    if not ok:
        raise UserError(f"--config {path}: {key!r} takes {want}, not {json.dumps(value)}")
