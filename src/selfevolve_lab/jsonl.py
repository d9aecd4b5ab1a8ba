"""JSON Lines and atomic file writes: the I/O every stage shares.

Runs append records as they finish (`JsonlAppender`), so a crash loses at most the record being written;
readers skip a torn last line from a killed writer. Outputs that must never look valid half-written
(a bench, a task split) are written to a temporary sibling and renamed into place.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from selfevolve_lab.errors import UserError

M = TypeVar("M", bound=BaseModel)


def _short(err: Exception) -> str:
    if isinstance(err, ValidationError):
        e = err.errors()[0]
        where = ".".join(str(p) for p in e["loc"]) or "record"
        return f"{where}: {e['msg']}"
    return str(err).splitlines()[0]


def iter_jsonl(path: str | Path, model: type[M] | None = None, *, tolerate_torn_tail: bool = False) -> Iterator[Any]:
    """Yield records; a malformed line raises UserError naming the file and line number.

    With ``tolerate_torn_tail`` a last line without a newline that fails to parse is ignored: it is the
    record a killed writer was in the middle of.
    """
    for _, record in iter_numbered(path, model, tolerate_torn_tail=tolerate_torn_tail):
        yield record


def iter_numbered(path: str | Path, model: type[M] | None = None, *,
                  tolerate_torn_tail: bool = False) -> Iterator[tuple[int, Any]]:
    """``iter_jsonl`` with each record's line number (blank lines count), for errors about a record."""
    path = Path(path)
    if path.is_char_device() or path.is_block_device():  # /dev/zero has no end; a pipe (`<(...)`) is fine
        raise UserError(f"{path}: a device, not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot read: {_short(e)}") from None
    lines = text.split("\n")
    torn = not text.endswith("\n") and text != ""
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            record = model.model_validate(obj) if model is not None else obj
        except (ValueError, ValidationError) as e:
            if tolerate_torn_tail and torn and i == len(lines):
                return
            raise UserError(f"{path}:{i}: malformed record: {_short(e)}") from None
        yield i, record


def read_jsonl(path: str | Path, model: type[M] | None = None, **kw: Any) -> list[Any]:
    return list(iter_jsonl(path, model, **kw))


def dumps(record: Any) -> str:
    if isinstance(record, BaseModel):
        return record.model_dump_json()
    return json.dumps(record, ensure_ascii=False, allow_nan=False)


class JsonlAppender:
    """Appends records to a JSON Lines file as they finish; a context manager.

    Each record is written and flushed at once, so it reaches the kernel and survives the process being
    killed (SIGKILL, Ctrl-C, OOM). ``fsync`` (which only matters if the machine itself goes down) runs at
    most every ``sync_every`` seconds and on close: one per record would cost the harness about a
    millisecond per sample.
    """

    def __init__(self, path: str | Path, *, sync_every: float = 1.0):
        self.path = Path(path)
        self.sync_every = sync_every
        self._f: Any = None
        self._synced = 0.0

    def __enter__(self) -> JsonlAppender:
        # not a device (/dev/full's "tail" has no end) nor a FIFO (opening one waits for a reader)
        if self.path.exists() and not self.path.is_file():
            raise UserError(f"{self.path}: not a regular file; records are appended to files only")
        self._f = open(self.path, "a", encoding="utf-8")
        _repair_torn_tail(self._f, self.path)
        self._synced = time.monotonic()
        return self

    def write(self, record: Any) -> None:
        self._f.write(dumps(record) + "\n")
        self._f.flush()
        if time.monotonic() - self._synced >= self.sync_every:
            os.fsync(self._f.fileno())
            self._synced = time.monotonic()

    def __exit__(self, *exc: object) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())
        self._f.close()


def append_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """Append records and sync them to disk."""
    with JsonlAppender(path) as out:
        for r in records:
            out.write(r)


def _repair_torn_tail(f: Any, path: Path) -> None:
    """A writer killed mid-line leaves a partial last line. Cut it (its record was never reported finished
    and will be redone); a complete last record that only lacks its newline gets the newline."""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    start = data.rfind(b"\n") + 1
    try:
        json.loads(data[start:])
        f.write("\n")
    except ValueError:
        f.flush()
        os.truncate(path, start)


def write_jsonl(path: str | Path, records: Iterable[Any]) -> None:
    """Write a whole file atomically."""
    atomic_write_text(path, "".join(dumps(r) + "\n" for r in records))


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def check_out(out: str | Path, *, force: bool = False) -> None:
    """--out as every command takes it: a path still to create or an empty directory; anything else is refused
    unless ``force`` (its parents are created when it is written)."""
    out = Path(out)
    if force or not (out.exists() or out.is_symlink()) or (out.is_dir() and not any(out.iterdir())):
        return
    raise UserError(f"{out} exists; use --force to replace it")


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary directory beside ``final``; on success it replaces ``final`` in one rename.

    On any failure the temporary directory is removed and ``final`` is left as it was.
    """
    final = Path(final)
    parent = final.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=parent))
    except OSError as e:
        raise UserError(f"cannot write to {final}: {e.strerror or e}") from None
    try:
        yield tmp
        if final.exists():
            if not overwrite:
                raise UserError(f"{final} exists (use --force to replace it)")
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=parent))
            os.replace(final, old / "x")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
