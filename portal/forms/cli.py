"""`okienko catalog` and `okienko drafts`: the e-service catalog and the residents' unfinished applications."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from portal import commands

# The domain's modules are imported inside the commands, when one runs: `okienko --help`, a group's --help
# and the commands that need no application must not pay for Flask and SQLAlchemy (docs/decisions.md).


@commands.group("catalog")
def catalog_group() -> None:
    """The e-service catalog."""


@catalog_group.command("load", light=True)
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), required=False)
def catalog_load(directory: Path | None) -> None:
    """Check every service folder in DIRECTORY and load new versions; broken ones are reported and skipped."""
    from portal.forms import service

    report = service.load_catalog(directory or Path(commands.app_config()["CATALOG_DIR"]))
    for label in report.added:
        click.echo(f"loaded     {label}")
    for label in report.unchanged:
        click.echo(f"unchanged  {label}")
    for error in report.errors:
        click.echo(f"REFUSED    {error}", err=True)
    if report.errors:
        sys.exit(1)


@catalog_group.command("import", with_appcontext=False)
@click.argument("xsd", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--id", "service_id", default=None, help="the service's id (default: the XSD's folder name)")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="write the draft here (default: print it)")
def catalog_import(xsd: Path, service_id: str | None, out: Path | None) -> None:
    """Draft a service definition from a CRWDE-style XSD, for an administrator to complete."""
    from portal.forms import importer, schemas

    try:
        text = importer.render(importer.draft_definition(xsd, service_id))
    except schemas.SchemaError as exc:
        click.echo(f"REFUSED    {xsd}: {exc}", err=True)
        sys.exit(1)
    if out:
        out.write_text(text, encoding="utf-8")
        click.echo(f"drafted {out}: replace every TODO, then run `okienko catalog load`")
    else:
        click.echo(text, nl=False)


@catalog_group.command("list", light=True)
@click.option("--json", "as_json", is_flag=True)
def catalog_list(as_json: bool) -> None:
    """The services offered now."""
    from portal.forms import service

    rows = [
        {"id": d.id, "version": d.version, "title": d.title, "procedure": d.procedure, "signature": d.signature}
        for _, d in service.offered()
    ]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        for row in rows:
            click.echo(f"{row['id']:<30} {row['version']:<10} {row['title']['pl']}")


@commands.group("drafts")
def drafts_group() -> None:
    """Unfinished applications."""


@drafts_group.command("purge")
def drafts_purge() -> None:
    """Delete drafts past the retention period; e-mail the reminders that are due (run daily)."""
    from portal.forms import service

    report = service.remind_and_purge()
    click.echo(f"reminded {len(report.reminded)}, deleted {len(report.deleted)}, reminders failed {len(report.failed)}")
    if report.failed:
        sys.exit(1)
