"""A bench directory on disk, and how every stage opens it.

```
bench/
  manifest.json        BenchManifest
  mapping.json         {"library", "package", "names": {original dotted name: novel dotted name}}
  docs.jsonl           one ApiEntry per line
  package/<name>/...   the importable pseudo-novel package
  tasks/{train,test_single,test_multi}.jsonl
```

Opening a bench checks what is cheap to check (a readable manifest, the package's files); the mapping
is checked when first read, and ``check_package`` imports the package in a subprocess (run when a
sandbox will not start, to say why). Each problem is one `UserError` naming the file.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import iter_numbered, read_jsonl
from selfevolve_lab.schema import ApiEntry, BenchManifest, Task

SPLITS = ("train", "test_single", "test_multi")


@dataclass(frozen=True)
class Bench:
    root: Path

    @classmethod
    def open(cls, root: str | Path) -> Bench:
        root = Path(root).resolve()  # its package path reaches subprocesses that start in other directories
        if not (root / "manifest.json").is_file():
            raise UserError(f"{root}: not a bench directory (no manifest.json); create one with `selfevolve build`")
        bench = cls(root)
        pkg = bench.package
        if not pkg.isidentifier():
            raise UserError(f"{root / 'manifest.json'}: malformed: package {pkg!r} is not a Python name")
        if not ((bench.package_dir / pkg / "__init__.py").is_file() or (bench.package_dir / f"{pkg}.py").is_file()):
            raise UserError(f"{bench.package_dir / pkg}: no such package (a bench holds package/{pkg}/__init__.py); "
                            f"rebuild the bench with `selfevolve build`")
        bench.mapping  # noqa: B018  malformed types are reported here, not as a traceback from whoever reads it
        return bench

    @functools.cached_property
    def manifest(self) -> BenchManifest:
        try:
            return BenchManifest.model_validate_json((self.root / "manifest.json").read_text())
        except ValueError as e:
            raise UserError(f"{self.root / 'manifest.json'}: malformed: {str(e).splitlines()[0]}") from None

    @property
    def package(self) -> str:
        return self.manifest.package

    @property
    def library(self) -> str:
        return self.manifest.library

    @property
    def package_dir(self) -> Path:
        """The directory to put on sys.path to import the package."""
        return self.root / "package"

    @functools.cached_property
    def mapping(self) -> dict[str, str]:
        """Original dotted name -> novel dotted name, for every renamed thing."""
        path = self.root / "mapping.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise UserError(f"{path}: unreadable: {str(e).splitlines()[0]}") from None
        names = data.get("names") if isinstance(data, dict) else data
        if not isinstance(names, dict):
            got = "nothing" if names is None else type(names).__name__
            raise UserError(f"{path}: malformed: 'names' must map original names to novel names, got {got}")
        bad = next(((k, v) for k, v in names.items() if not isinstance(v, str)), None)
        if bad is not None:
            raise UserError(f"{path}: malformed: 'names' maps {bad[0]!r} to {type(bad[1]).__name__}, not a name")
        return names

    def check_tasks(self, tasks: list[Task], source: str | Path) -> None:
        """Tasks of another bench name APIs this one lacks, and would fail here whatever the model wrote: refused."""
        known = set(self.mapping.values())
        for t in tasks:
            if missing := [a for a in t.apis if a not in known]:
                raise UserError(f"{source}: task {t.id!r} uses {missing[0]!r}, which bench {self.root} does not have "
                                "(tasks of another bench?)")

    def check_package(self, timeout: float = 120.0) -> None:
        """Import the package in a fresh interpreter (writing no bytecode into the bench); a package that
        fails to import is a UserError naming it and its error. Costs about 0.4 s."""
        code = "import importlib, sys; sys.path.insert(0, sys.argv[1]); importlib.import_module(sys.argv[2])"
        try:
            r = subprocess.run([sys.executable, "-I", "-B", "-c", code, str(self.package_dir), self.package],
                               capture_output=True, text=True, errors="replace", timeout=timeout)
        except subprocess.TimeoutExpired:
            why = f"importing it took over {timeout:.0f} s"
        else:
            if r.returncode == 0:
                return
            lines = [line.strip() for line in r.stderr.splitlines() if line.strip()]
            why = lines[-1][:300] if lines else f"the interpreter exited with code {r.returncode}"
        raise UserError(f"{self.package_dir / self.package}: the package fails to import: {why}")

    @functools.cached_property
    def docs(self) -> list[ApiEntry]:
        return read_jsonl(self.root / "docs.jsonl", ApiEntry)

    @functools.cached_property
    def docs_by_novel(self) -> dict[str, ApiEntry]:
        return {d.novel: d for d in self.docs}

    def tasks_path(self, split: str) -> Path:
        if split not in SPLITS:
            raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
        return self.root / "tasks" / f"{split}.jsonl"

    def tasks(self, split: str) -> list[Task]:
        path = self.tasks_path(split)
        if not path.is_file():
            raise UserError(f"{self.root}: no tasks for split {split!r}; run `selfevolve tasks generate {self.root}`")
        return load_tasks(path)


def load_tasks(path: str | Path) -> list[Task]:
    """A task file's tasks; a duplicate id or a task without tests is a UserError naming the file and line."""
    tasks: list[Task] = []
    first: dict[str, int] = {}
    for lineno, task in iter_numbered(path, Task):
        if task.id in first:
            raise UserError(f"{path}:{lineno}: duplicate task id {task.id!r} (first on line {first[task.id]})")
        if not task.tests:
            raise UserError(f"{path}:{lineno}: task {task.id!r} has no tests")
        first[task.id] = lineno
        tasks.append(task)
    return tasks
