"""`okienko deadline`: the due date the portal shows a resident, computed from the command line."""

from __future__ import annotations

import json
from datetime import date, datetime

import click

from portal.status import deadlines


@click.command("deadline")
@click.argument("procedure")
@click.argument("filed_at")
@click.option("--pause", "pauses", multiple=True, metavar="FROM/TO",
              help="days that do not count (an open call to supplement, a suspension); TO may be empty")
@click.option("--extended-to", metavar="DATE", help="the new date of an art. 36 notice of delay")
@click.option("--json", "as_json", is_flag=True)
def deadline(procedure: str, filed_at: str, pauses: tuple[str, ...], extended_to: str | None, as_json: bool) -> None:
    """The due date the portal shows for PROCEDURE (immediate, kpa-1m, kpa-2m, certificate-7d, foi-14d,
    complaint-1m, days-N) and FILED_AT (ISO 8601 with its offset, as in the UPO)."""
    try:
        moment = datetime.fromisoformat(filed_at)
        spans = []
        for text in pauses:
            start, _, end = text.partition("/")
            spans.append(deadlines.Pause(date.fromisoformat(start), date.fromisoformat(end) if end else None))
        result = deadlines.compute(procedure, moment, spans,
                                   date.fromisoformat(extended_to) if extended_to else None)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    elif result.due is None:
        click.echo("no due date: " + ("a pause is open" if result.paused_now else "no statutory deadline"))
    else:
        click.echo(f"{result.due.isoformat()} ({result.due:%A})")
