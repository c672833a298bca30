"""`okienko`: every administrator's task.

The root group and entry point only: each domain brings its own commands in its `cli.py` (portal/forms/cli.py
has `catalog` and `drafts`, portal/signing/cli.py `trust` and `signature` …), built with portal/commands.py,
and `Main.lazy` below attaches them, imported only when one is asked for.

A plain click group: a command builds the application only when it runs, and only as much of it as it
needs. Three kinds:

- `with_appcontext=False`: no application at all (`keys init`, `sandbox`, `config`, `smoke`, `deadline`,
  `demo`, `catalog import`, `--help` everywhere): Flask and SQLAlchemy are not even imported.
- `light=True`: the settings and the database only (`create_app(web=False)`: no keys, no blueprints):
  verifying signatures and receipts, the trusted list, migrations, the catalog, the audit log, the outbox's
  state.
- the rest (the default, as for a command someone adds): the whole portal, as the web server builds it.

What a command needs and is missing is said as a one-line error: the keys ("run `okienko keys init`
first"), the tables ("run `okienko db upgrade` first"), a database that does not answer.
"""

from __future__ import annotations

from typing import Any

import click

from portal import config as portal_config
from portal.commands import Group, Portal, with_app


class Main(Group):
    # Every group and command with its line in --help, imported only when asked for: each domain brings its own
    # in its cli.py; Flask's and Flask-Migrate's commands are built below (__getattr__).
    lazy = {
        "db": ("portal.cli:migrations", "The database's migrations (Flask-Migrate): `okienko db upgrade`."),
        "shell": ("portal.cli:shell", "A Python shell in the portal's application context."),
        "routes": ("portal.cli:routes", "The portal's routes."),
        "clerks": ("portal.cli:clerks", "The office's clerks: the directory the desk offers in dekretacja."),

        "keys": ("portal.ops.cli:keys_group", "The portal's own secrets."),
        "config": ("portal.ops.cli:config_group", "The portal's settings."),
        "smoke": ("portal.ops.cli:smoke_command",
                  "File one submission through a running portal exactly as a resident would, and check the results."),
        "sandbox": ("portal.ops.cli:sandbox_group",
                    "The sandbox stand-ins for login.gov.pl, the office's IdP and TpSigning5."),
        "demo": ("portal.ops.cli:demo",
                 "Run the sandbox, the outbox worker and the portal together (what `make run` ends with)."),

        "catalog": ("portal.forms.cli:catalog_group", "The e-service catalog."),
        "drafts": ("portal.forms.cli:drafts_group", "Unfinished applications."),
        "trust": ("portal.signing.cli:trust_group",
                  "Trust anchors for signatures: trusted lists and the administrator's own certificates."),
        "signature": ("portal.signing.cli:signature_group", "Signed documents."),
        "receipt": ("portal.inbox.cli:receipt_group", "Receipts (UPO) and delivery certificates (UPD)."),
        "audit": ("portal.audit.cli:audit_group", "The hash-chained audit log."),

        "outbox": ("portal.delivery_cli:outbox_group", "Delivery of submissions to the back office."),
        "notify": ("portal.notify.cli:notify_group",
                   "E-mail to residents about their cases and the clerks' daily digest (the worker runs both)."),
        "deadline": ("portal.status.cli:deadline",
                     "The due date the portal shows for PROCEDURE (immediate, kpa-1m, kpa-2m, certificate-7d, "
                     "foi-14d, complaint-1m, days-N) and FILED_AT (ISO 8601 with its offset, as in the UPO)."),
    }

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            problem = _database_problem(exc)
            if problem is None:
                raise
            raise click.ClickException(problem) from None


def _database_problem(exc: BaseException) -> str | None:
    """What a database error means for the administrator, or None when it is no database error."""
    if not type(exc).__module__.startswith("sqlalchemy"):
        return None
    from sqlalchemy.exc import OperationalError, ProgrammingError  # SQLAlchemy is loaded: it raised the error

    text = str(getattr(exc, "orig", None) or exc)
    url = getattr(exc, "url", None) or portal_config.from_environment()["DATABASE_URL"]
    if isinstance(exc, OperationalError | ProgrammingError) and (
            "no such table" in text or ("relation" in text and "does not exist" in text)):
        return f"the database has no tables yet: run `okienko db upgrade` first ({text.splitlines()[0]})"
    if isinstance(exc, OperationalError):
        return f"cannot reach the database at {_without_password(url)}: {text.strip().splitlines()[0]}"
    return None


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url  # only after a database error, when SQLAlchemy is loaded anyway

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # a URL SQLAlchemy cannot read is shown as it came, minus nothing secret it could hold
        return url.split("@")[-1]


@click.group(cls=Main)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Okienko — e-services portal of the office. Configuration: PORTAL_* variables (see README)."""
    if ctx.obj is None:
        ctx.obj = Portal()


def flask_group(group: click.Group, light: bool = False, migrations: bool = False) -> click.Group:
    """A group of Flask-style commands (Flask-Migrate's `db`, a `flask.cli.AppGroup`): they find their
    application through a `ScriptInfo`, which here builds the light or the whole portal when one runs."""
    own = group.callback

    @click.pass_context
    def set_up(ctx: click.Context, /, **options: Any) -> Any:
        holder = ctx.find_object(Portal)
        if holder is not None:
            from flask.cli import ScriptInfo  # Flask only once one of these commands runs

            ctx.obj = ScriptInfo(create_app=lambda: holder.load(light, migrations), set_debug_flag=False,
                                 load_dotenv_defaults=False)
        return ctx.invoke(own, **options) if own else None

    return click.Group(group.name, commands=group.commands, callback=set_up, params=group.params,
                       help=group.help, short_help=group.short_help)


def flask_command(command: click.Command, light: bool = False) -> click.Command:
    """One of Flask's own commands (`shell`, `routes`), in this group's application context."""
    callback = getattr(command.callback, "__wrapped__", command.callback)  # without Flask's with_appcontext
    return click.Command(command.name, callback=with_app(light)(callback), params=command.params,
                         help=command.help, short_help=command.short_help)


def __getattr__(name: str) -> Any:
    # The lazy commands of Flask and its extensions (Main.lazy), built on first use: importing them imports Flask.
    if name == "migrations":
        from flask_migrate.cli import db

        return flask_group(db, light=True, migrations=True)
    if name == "clerks":
        from portal.auth.cli import clerks_group

        return flask_group(clerks_group)
    if name in ("shell", "routes"):
        from flask.cli import routes_command, shell_command

        return flask_command(shell_command if name == "shell" else routes_command)
    raise AttributeError(name)
