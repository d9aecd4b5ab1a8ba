"""`build_bench`: library -> bench directory (manifest, mapping, docs, package), atomically.

Reproducible: the same (library version, seed, options) gives byte-identical files, which the
manifest's sha256 list shows.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from selfevolve_lab import __version__
from selfevolve_lab.bench import Bench
from selfevolve_lab.errors import UserError
from selfevolve_lab.jsonl import atomic_dir, check_out
from selfevolve_lab.obfuscate import docs as docs_mod
from selfevolve_lab.obfuscate import emit, official
from selfevolve_lab.obfuscate.surface import introspect
from selfevolve_lab.schema import BenchManifest


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_bench(library: str, out: str | Path, seed: int = 42, name: str = "zwc", mapping_file: str | Path | None = None,
                *, lint: bool = True, progress: bool = False, force: bool = False, allow_missing: bool = False) -> Bench:
    """Build the pseudo-novel bench of ``library`` into ``out`` and return it.

    With an official ``mapping_file``, mapping.json's ``official`` says which of its names went to a successor
    (``renamed``) and which were skipped (``skipped``, only with ``allow_missing``)."""
    t0 = time.perf_counter()
    check_out(out, force=force)  # before the build's minutes, not after
    if not name.isidentifier() or name == library:
        raise UserError(f"--name {name!r} must be a Python identifier other than the library's name")
    surface = introspect(library)
    off = official.load(mapping_file, surface, allow_missing=allow_missing) if mapping_file is not None else None
    naming = emit.choose_names(surface, seed, name, off.naming() if off else None)
    table = emit.build_table(surface, naming)
    out = Path(out).absolute()  # subprocesses (example runner, lint probe) start in other directories
    with atomic_dir(out) as tmp:
        pkg_dir = tmp / "package" / name
        params = surface.parameter_names()
        rewriter = docs_mod.Rewriter(naming.mapping, surface.library, name, table["words"], table["ambiguous"], params)
        # First pass: the package with rewritten prose, so examples can be re-executed in it.
        entries, runtime_docs = docs_mod.build_docs(surface, naming.mapping, rewriter, None, progress=progress)
        emit.write_package(pkg_dir, table, runtime_docs, {})
        entries, runtime_docs = docs_mod.build_docs(surface, naming.mapping, rewriter, tmp / "package",
                                                    progress=progress)
        _rmtree(pkg_dir)
        emit.write_package(pkg_dir, table, runtime_docs, {})
        (tmp / "docs.jsonl").write_text("".join(e.model_dump_json() + "\n" for e in entries))
        meta = {"library": library, "package": name, "modules": surface.modules, "kept_params": sorted(params),
                "names": dict(sorted(naming.mapping.items()))}
        if off is not None:  # in the experimenter's file: the lint never shows it to a model
            meta["official"] = {"renamed": off.renamed, "skipped": off.skipped}
        (tmp / "mapping.json").write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        counts = {}
        for it in surface.items:
            counts[it.kind] = counts.get(it.kind, 0) + 1
        files = {str(p.relative_to(tmp)): _sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()
                 and "__pycache__" not in p.parts}
        options = {"official_mapping": _sha256(Path(mapping_file)) if mapping_file else None}
        manifest = BenchManifest(library=library, library_version=surface.version, package=name, seed=seed,
                                 options=options, counts=dict(sorted(counts.items())), files=files,
                                 selfevolve_version=__version__)
        (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=1) + "\n")
        for cache in tmp.rglob("__pycache__"):
            _rmtree(cache)
        if lint:
            from selfevolve_lab.obfuscate.leaks import lint_bench

            findings = lint_bench(tmp, official_mode=off is not None)
            if findings:
                shown = "; ".join(f.describe() for f in findings[:5])
                raise UserError(f"leak lint found {len(findings)} leak(s) in the built bench: {shown}")
    bench = Bench.open(out)
    bench.__dict__["build_seconds"] = time.perf_counter() - t0
    return bench


def _rmtree(p: Path) -> None:
    import shutil

    shutil.rmtree(p, ignore_errors=True)
