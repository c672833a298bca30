"""`okienko audit`: the hash-chained audit log."""

from __future__ import annotations

import json
import sys

import click

from portal import commands

# The domain's modules are imported inside the commands, when one runs: `okienko --help`, a group's --help
# and the commands that need no application must not pay for Flask and SQLAlchemy (docs/decisions.md).


@commands.group("audit")
def audit_group() -> None:
    """The hash-chained audit log."""


@audit_group.command("verify", light=True)
@click.option("--json", "as_json", is_flag=True)
def audit_verify(as_json: bool) -> None:
    """Walk the chain; exit status 1 if any entry was edited, removed or reordered."""
    from portal.audit import service

    report = service.verify()
    if as_json:
        click.echo(json.dumps({"entries": report.entries, "intact": report.intact, "problem": report.problem,
                               "head": report.head}))
    elif report.intact:
        click.echo(f"intact: {report.entries} entries, head {report.head}")
    else:
        click.echo(f"BROKEN after {report.entries} entries: {report.problem}", err=True)
    sys.exit(0 if report.intact else 1)
