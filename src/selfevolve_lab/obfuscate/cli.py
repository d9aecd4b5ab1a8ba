"""`selfevolve build` and `selfevolve lint-leaks`."""

from __future__ import annotations

from pathlib import Path

import typer

from selfevolve_lab import profiles


def register(app: typer.Typer) -> None:
    app.command("build")(build_cmd)
    app.command("lint-leaks")(lint_cmd)


def build_cmd(
    out: Path = typer.Option(..., "--out", help="Bench directory to write (replaced atomically)."),
    library: str = typer.Option(profiles.DEFAULT, "--library", help="Any importable library whose API can be introspected."),
    seed: int = typer.Option(42, "--seed", min=0, help="Seed of the name generator: same seed, same names."),
    name: str = typer.Option("zwc", "--name", help="Name of the pseudo-novel package."),
    mapping: Path = typer.Option(None, "--mapping", help="An official SE-Bench mappings.json: reproduce its names."),
    force: bool = typer.Option(False, "--force", help="Replace an existing bench at --out."),
    allow_missing: bool = typer.Option(False, "--allow-missing",
                                       help="With --mapping: skip (and list) the names the library does not have."),
) -> None:
    """Turn a library into a pseudo-novel package: renamed API, rewritten docs, re-executed examples.

    Writes OUT/manifest.json, mapping.json, docs.jsonl and package/NAME/, then runs the leak lint and
    fails if anything a user can see still names the original library. With --mapping, names that NumPy 2
    renamed (trapz -> trapezoid, ...) give their novel name to the successor; other names the library lacks
    stop the build unless --allow-missing.
    """
    import time

    from selfevolve_lab.obfuscate.build import build_bench
    from selfevolve_lab.obfuscate.official import recorded

    t0 = time.perf_counter()
    bench = build_bench(library, out, seed=seed, name=name, mapping_file=mapping, progress=True, force=force,
                        allow_missing=allow_missing)
    notes = recorded(bench.root)
    for old, new in notes["renamed"].items():
        typer.echo(f"mapping: {old} is gone from {library} {bench.manifest.library_version}: its name goes to its "
                   f"successor {new}")
    for skipped, why in notes["skipped"].items():
        typer.echo(f"mapping: skipped {skipped}: {why}")
    counts = bench.manifest.counts
    apis = sum(v for k, v in counts.items() if k != "module")
    typer.echo(f"built {bench.root} in {time.perf_counter() - t0:.1f}s: package '{bench.package}' wrapping "
               f"{library} {bench.manifest.library_version}, {apis} APIs")
    for kind, n in counts.items():
        typer.echo(f"  {kind:<10} {n}")
    typer.echo("leak lint: 0 findings")


def lint_cmd(bench: Path = typer.Argument(..., help="A bench directory.")) -> None:
    """Scan a bench for anything that names the original library: files, dir(), help(), reprs, errors.

    Exit code 0 when clean, 1 when a leak is found, 2 on bad input.
    """
    from selfevolve_lab.bench import Bench
    from selfevolve_lab.obfuscate.leaks import lint_bench

    b = Bench.open(bench)
    findings = lint_bench(b.root)
    for f in findings:
        typer.echo(f.describe())
    typer.echo(f"{len(findings)} finding(s)")
    raise typer.Exit(1 if findings else 0)
