"""`okienko outbox`: the dispatcher that delivers submissions to the back office (backoffice_adapter.outbox),
its state and its settings.

Beside portal/delivery.py (what the portal hands the outbox at start-up), not in it: that module imports the
portal's domains, which `okienko outbox --help` must not pay for."""

from __future__ import annotations

import json
import signal

import click

from portal import commands
from portal.commands import app_config as _config

# The domain's modules are imported inside the commands, when one runs: `okienko --help`, a group's --help
# and the commands that need no application must not pay for Flask and SQLAlchemy (docs/decisions.md).


@commands.group("outbox")
def outbox_group() -> None:
    """Delivery of submissions to the back office."""


@outbox_group.command("run")
@click.option("--once", is_flag=True, help="deliver what is due now, then stop")
@click.option("--poll", default=1.0, show_default=True, help="seconds between looks when idle")
@click.option("--metrics-port", "metrics_address", metavar="[HOST:]PORT",
              help="serve the worker's Prometheus metrics here (default host 127.0.0.1; off when not given)")
def outbox_run(once: bool, poll: float, metrics_address: str | None) -> None:
    """The dispatcher: a long-running worker (several may run on PostgreSQL). It waits out database outages."""
    from backoffice_adapter import outbox

    if once:
        click.echo(f"handled {outbox.run_once()} message(s)")
        return
    import threading

    if problems := outbox.check_routes(_config()):
        raise click.ClickException("the delivery settings are wrong:\n  " + "\n  ".join(problems))
    if metrics_address:
        from portal.ops import metrics

        metrics.serve_worker_metrics(metrics_address)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo("outbox worker running")
    outbox.run_forever(poll, stop)


@outbox_group.command("status", light=True)
@click.option("--json", "as_json", is_flag=True)
def outbox_status(as_json: bool) -> None:
    """Counts per state and the age of the oldest waiting delivery."""
    from backoffice_adapter import outbox

    result = outbox.summary()
    click.echo(json.dumps(result, indent=2) if as_json else result)


@outbox_group.command("check", light=True)
def outbox_check() -> None:
    """Check that every configured adapter is known and has its settings; exit status 1 if not."""
    from backoffice_adapter import outbox

    if problems := outbox.check_routes(_config()):
        raise click.ClickException("\n".join(problems))
    click.echo("delivery settings OK: " + ", ".join(outbox.configured_adapters(_config())))


@outbox_group.command("resend")
@click.argument("message_id", type=int)
def outbox_resend(message_id: int) -> None:
    """Send a dead or failed delivery again (its attempts are counted afresh)."""
    from backoffice_adapter import outbox

    if outbox.resend(message_id) is None:
        raise click.ClickException(f"no dead or failed delivery {message_id}")
    click.echo(f"delivery {message_id} is due again")
