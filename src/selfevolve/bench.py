"""A bench directory on disk, and how every stage opens it.

```
bench/
  manifest.json        BenchManifest
  mapping.json         {"library", "package", "names": {original dotted name: novel dotted name}}
  docs.jsonl           one ApiEntry per line
  package/<name>/...   the importable pseudo-novel package
  tasks/{train,test_single,test_multi}.jsonl
```
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from selfevolve.errors import UserError
from selfevolve.jsonl import read_jsonl
from selfevolve.schema import ApiEntry, BenchManifest, Task

SPLITS = ("train", "test_single", "test_multi")


@dataclass(frozen=True)
class Bench:
    root: Path

    @classmethod
    def open(cls, root: str | Path) -> Bench:
        root = Path(root).resolve()  # its package path reaches subprocesses that start in other directories
        if not (root / "manifest.json").is_file():
            raise UserError(f"{root}: not a bench directory (no manifest.json); create one with `selfevolve build`")
        return cls(root)

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
        try:
            return json.loads((self.root / "mapping.json").read_text())["names"]
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"{self.root / 'mapping.json'}: unreadable: {e}") from None

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
        return read_jsonl(path, Task)
