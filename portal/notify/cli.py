"""`okienko notify`: the e-mail to residents and the clerks' digest, sent now rather than by the worker."""

from __future__ import annotations

from datetime import date

import click

from portal import commands

# The domain's modules are imported inside the commands, when one runs: `okienko --help`, a group's --help
# and the commands that need no application must not pay for Flask and SQLAlchemy (docs/decisions.md).


@commands.group("notify")
def notify_group() -> None:
    """E-mail to residents about their cases and the clerks' daily digest (the worker runs both)."""


@notify_group.command("send")
def notify_send() -> None:
    """Send the e-mails owed to residents now."""
    from portal.notify import service as notify

    click.echo(f"sent {notify.send_pending(limit=10_000)} message(s); {notify.counts()['waiting']} still waiting")


@notify_group.command("digest")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="the day to count deadlines from (default: today)")
def notify_digest(day: str | None) -> None:
    """Send the clerks' digest of cases near their deadline, and the residents' overdue notices, now."""
    from portal.clock import WARSAW
    from portal.db_types import utcnow
    from portal.notify import service as notify

    today = date.fromisoformat(day) if day else utcnow().astimezone(WARSAW).date()
    overdue = notify.notify_overdue(today)
    click.echo(f"{notify.send_digests(today)} digest(s) sent; {overdue} overdue case(s) noted for residents")
