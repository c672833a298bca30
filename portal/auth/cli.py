"""`okienko clerks …`: the office's clerks, known to the desk before their first login."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from portal import config as portal_config

clerks_group = AppGroup("clerks", help="The office's clerks: the directory the desk offers in dekretacja.")

FIELDS = ("username", "name", "unit", "roles", "email")


def read_directory(text: str) -> list[dict[str, Any]]:
    """A directory file: CSV with the header `username,name,unit,roles,email` (`;` or `,` between
    columns, roles separated by spaces), as an export from the office's directory gives it."""
    text = text.lstrip("\ufeff")  # a spreadsheet's byte order mark
    header = text.split("\n", 1)[0]
    reader = csv.DictReader(io.StringIO(text), delimiter=";" if ";" in header else ",")
    missing = [f for f in ("username", "name") if f not in (reader.fieldnames or [])]
    if missing:
        raise click.ClickException(f"the header must name the columns {', '.join(FIELDS)}; missing: "
                                   f"{', '.join(missing)}")
    return [{**row, "roles": (row.get("roles") or "").split()} for row in reader]


def sandbox_directory() -> list[dict[str, Any]]:
    """The sandbox office provider's demo clerks (sandbox/people.py), as its claims describe them."""
    from sandbox import oidc, people

    return [{"username": c.username, "name": c.name, "unit": c.unit, "roles": list(c.roles),
             "email": oidc.clerk_claims(c)["email"]} for c in people.CLERKS]


@clerks_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path), required=False)
@click.option("--sandbox", is_flag=True, help="the sandbox provider's demo clerks (what `okienko demo` loads)")
def clerks_import(file: Path | None, sandbox: bool) -> None:
    """Add or update clerks from the office's directory FILE (CSV: username,name,unit,roles,email; `-` reads
    standard input). Entries with a fault are named and skipped; exit 1 when there was any."""
    from portal.auth import service

    if sandbox == (file is not None):
        raise click.UsageError("give a directory FILE or --sandbox")
    if sandbox:
        if not current_app.config["SANDBOX"]:
            raise click.ClickException("--sandbox loads the demo clerks, only in the sandbox (PORTAL_SANDBOX)")
        entries = sandbox_directory()
    else:
        assert file is not None
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        entries = read_directory(text)
    report = service.import_directory(entries, portal_config.units(current_app.config), first_line=1 if sandbox
                                      else 2)
    for error in report.errors:
        click.echo(f"REFUSED    {error}", err=True)
    click.echo(f"{report.added} added, {report.updated} updated, {len(report.errors)} refused")
    if report.errors:
        sys.exit(1)


@clerks_group.command("list")
def clerks_list() -> None:
    """Every clerk the portal knows, with unit, roles and whether they have signed in yet."""
    from portal.auth import service

    for clerk in service.clerks():
        seen = clerk.last_login_at.isoformat(timespec="minutes") if clerk.last_login_at else "never signed in"
        click.echo(f"{clerk.username:<20} {clerk.display_name:<30} {clerk.effective_unit or '-':<8} "
                   f"{','.join(clerk.roles) or '-':<30} {seen}")
