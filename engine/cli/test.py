"""``passerelle test``: run the YAML test cases of maps and routes."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--root",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="repository root: case paths (inputs, expected files, configs) are relative to it",
)
@click.option("-q", "--quiet", is_flag=True, help="print failures and the summary only")
def test(paths: tuple[Path, ...], root: Path, quiet: bool) -> None:
    """Run test cases (default: mappings/*_test.yaml and tests/routes/*.yaml); exit 1 on failure.

    Each case gives an input and what must come out: the ACK code, the routes and
    destinations, and each output (exact JSON, a JSON subset, or text). A failure prints the
    case name, its file:line and a readable diff.
    """
    from engine.config.diagnostics import render
    from engine.testing.cases import CaseFile
    from engine.testing.runner import Runner

    runner = Runner(root.resolve())
    files = runner.discover([p.resolve() for p in paths])
    if not files:
        click.echo("no test case files found", err=True)
        sys.exit(1)
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for result in runner.run_files(files):
        if isinstance(result, CaseFile):
            counts["failed"] += 1
            click.echo(f"FAIL {os.path.relpath(result.path, runner.root)} (case file)")
            click.echo(render(result.diagnostics))
            continue
        counts[result.status] += 1
        if result.status != "passed" or not quiet:
            click.echo(result.describe())
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    click.echo(summary, err=counts["failed"] > 0)
    sys.exit(1 if counts["failed"] else 0)


COMMANDS = [test]
