"""`okienko`: every administrator's task.

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

import base64
import functools
import importlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from portal import config as portal_config

if TYPE_CHECKING:
    from flask import Flask


class Portal:
    """The applications this run of `okienko` has built; the test runner's ScriptInfo stands in for it."""

    def __init__(self) -> None:
        self.apps: dict[bool, Flask] = {}

    def load(self, light: bool, migrations: bool = False) -> Flask:
        from portal import KeysMissing, create_app, init_migrations

        app = self.apps.get(False) or (self.apps.get(True) if light else None)
        if app is None:
            try:
                app = self.apps[light] = create_app(web=not light)
            except KeysMissing as exc:
                raise click.ClickException(str(exc)) from None
        if migrations and "migrate" not in app.extensions:
            init_migrations(app)
        return app


def _app_for(ctx: click.Context, light: bool) -> Flask:
    holder = ctx.find_object(Portal)
    if holder is not None:
        return holder.load(light)
    from flask.cli import ScriptInfo  # `app.test_cli_runner()` passes the test's application this way

    return ctx.ensure_object(ScriptInfo).load_app()


def with_app(light: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Run the command inside an application context (built when the command runs, not before)."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def run(*args: Any, **kwargs: Any) -> Any:
            from flask import current_app

            ctx = click.get_current_context()
            if not current_app:
                ctx.with_resource(_app_for(ctx, light).app_context())
            return command(*args, **kwargs)

        return run

    return decorate


class Group(click.Group):
    """A group whose commands get their application context when they run (see the module's docstring),
    and whose `db`, `clerks`, `shell` and `routes` are imported only when asked for."""

    lazy: dict[str, tuple[str, str]] = {}

    def command(self, *args: Any, with_appcontext: bool = True, light: bool = False,  # type: ignore[override]
                **kwargs: Any) -> Callable[[Callable[..., Any]], click.Command]:
        outer = super().command

        def decorate(f: Callable[..., Any]) -> click.Command:
            return outer(*args, **kwargs)(with_app(light)(f) if with_appcontext else f)

        return decorate

    def group(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", Group)
        return super().group(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            module, attribute = self.lazy[name][0].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The list in --help, without importing the lazy commands for their one-line help.
        rows = [(name, self.lazy[name][1] if name in self.lazy and name not in self.commands
                 else (self.get_command(ctx, name) or click.Command(name)).get_short_help_str(formatter.width))
                for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class Main(Group):
    lazy = {
        "db": ("portal.cli:migrations", "The database's migrations (Flask-Migrate): `okienko db upgrade`."),
        "clerks": ("portal.cli:clerks", "The office's clerks: the directory the desk offers in dekretacja."),
        "shell": ("portal.cli:shell", "A Python shell in the portal's application context."),
        "routes": ("portal.cli:routes", "The portal's routes."),
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
    from sqlalchemy.exc import OperationalError, ProgrammingError

    text = str(getattr(exc, "orig", None) or exc)
    url = getattr(exc, "url", None) or portal_config.from_environment()["DATABASE_URL"]
    if isinstance(exc, OperationalError | ProgrammingError) and (
            "no such table" in text or ("relation" in text and "does not exist" in text)):
        return f"the database has no tables yet: run `okienko db upgrade` first ({text.splitlines()[0]})"
    if isinstance(exc, OperationalError):
        return f"cannot reach the database at {_without_password(url)}: {text.strip().splitlines()[0]}"
    return None


def _without_password(url: str) -> str:
    from sqlalchemy.engine import make_url

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
            from flask.cli import ScriptInfo

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
    # The lazy commands (Main.lazy), built on first use.
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


def _config() -> Any:
    from flask import current_app

    return current_app.config


# --- commands that work before the application can start -------------------------------------------

@main.group(name="keys")
def keys_group() -> None:
    """The portal's own secrets."""


@keys_group.command("init", with_appcontext=False)
def keys_init() -> None:
    """Create instance/secrets.json (session key, PESEL encryption key) unless it exists."""
    path = portal_config.SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = portal_config.load_secrets()
    made = {
        "SECRET_KEY": existing.get("SECRET_KEY") or secrets.token_hex(32),
        "PII_KEY": existing.get("PII_KEY") or base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    if made != existing:
        path.write_text(json.dumps(made, indent=2))
        path.chmod(0o600)
        click.echo(f"created secrets in {path}")
    else:
        click.echo(f"kept the secrets in {path}")


@keys_group.command("rotate-pii")
def keys_rotate_pii() -> None:
    """Re-encrypt every stored PESEL under PORTAL_PII_KEY; PORTAL_PII_KEY_PREVIOUS holds the old key."""
    from portal.auth import service

    click.echo(f"re-encrypted {service.rotate_pii_key()} resident record(s); PORTAL_PII_KEY_PREVIOUS may now go")


@main.group(name="sandbox")
def sandbox_group() -> None:
    """The sandbox stand-ins for login.gov.pl, the office's IdP and TpSigning5."""


@sandbox_group.command("pki", with_appcontext=False)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=portal_config.INSTANCE_DIR / "pki")
@click.option("--port", default=5001, show_default=True,
              help="the sandbox's port (its CRL address goes into certificates)")
def sandbox_pki(directory: Path, port: int) -> None:
    """Create the sandbox test PKI (CA, office seal, trusted-profile seal, TSA, residents)."""
    subprocess.run([sys.executable, "-m", "sandbox", "pki", str(directory), "--crl-url",
                    f"http://127.0.0.1:{port}/pki/ca.crl"], check=True)


@sandbox_group.command("run", with_appcontext=False)
@click.option("--port", default=5001, show_default=True)
@click.option("--portal-url", default=None, help="the portal's address (default: PORTAL_BASE_URL)")
def sandbox_run(port: int, portal_url: str | None) -> None:
    """Serve the sandbox on 127.0.0.1 (a separate process: it shares no code with the portal)."""
    portal_url = portal_url or portal_config.from_environment()["BASE_URL"]
    command = [sys.executable, "-m", "sandbox", "run", "--port", str(port), "--portal-url", portal_url,
               "--pki", str(portal_config.INSTANCE_DIR / "pki")]
    os.execv(sys.executable, command)  # noqa: S606 - this process becomes the sandbox


@main.group(name="config")
def config_group() -> None:
    """The portal's settings."""


@config_group.command("docs", with_appcontext=False)
@click.option("--write", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="replace the table between the settings-table markers in this file (README.md)")
def config_docs(write: Path | None) -> None:
    """Print the table of every PORTAL_* setting (the one in README.md)."""
    table = portal_config.markdown_table()
    if write is None:
        click.echo(table)
        return
    text = write.read_text(encoding="utf-8")
    start = text.index("\n", text.index("<!-- settings table")) + 1
    end = text.index("<!-- end of settings table -->")
    write.write_text(text[:start] + table + "\n" + text[end:], encoding="utf-8")
    click.echo(f"updated the settings table in {write}")


@config_group.command("check", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True)
@click.option("--strict", is_flag=True, help="exit 1 on warnings too")
def config_check_command(as_json: bool, strict: bool) -> None:
    """List every unsafe or missing production setting; exit 1 on any error (the web server would not start)."""
    from portal.ops import config_check

    report = config_check.check(portal_config.from_environment(), os.environ)
    click.echo(report.as_json() if as_json else report.text())
    if report.errors or (strict and report.warnings):
        sys.exit(1)


@main.command("smoke", with_appcontext=False)
@click.option("--base-url", required=True, help="address of the running portal")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for the three files")
@click.option("--resident", default="80010112357", show_default=True, help="PESEL of the sandbox resident")
@click.option("--trust", type=click.Path(path_type=Path), default=portal_config.INSTANCE_DIR / "pki" / "ca.pem",
              show_default=True, help="PEM of the CA that issued the office's seal")
def smoke_command(base_url: str, out: Path, resident: str, trust: Path) -> None:
    """File one submission through a running portal exactly as a resident would, and check the results."""
    from portal import smoke

    try:
        report = smoke.run(base_url, out, resident, trust)
    except smoke.SmokeFailed as failure:
        click.echo(f"FAILED at step '{failure.step}': {failure}", err=True)
        sys.exit(1)
    for line in report:
        click.echo(f"ok  {line}")


# --- commands that need the application ------------------------------------------------------------

@main.group(name="catalog")
def catalog_group() -> None:
    """The e-service catalog."""


@catalog_group.command("load", light=True)
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), required=False)
def catalog_load(directory: Path | None) -> None:
    """Check every service folder in DIRECTORY and load new versions; broken ones are reported and skipped."""
    from portal.forms import service

    report = service.load_catalog(directory or Path(_config()["CATALOG_DIR"]))
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


@main.group(name="trust")
def trust_group() -> None:
    """Trust anchors for signatures: trusted lists and the administrator's own certificates."""


@trust_group.command("import", light=True)
@click.argument("source")
def trust_import(source: str) -> None:
    """Import a trusted list (TSL XML) from a FILE or an https URL; its signature is checked first."""
    import requests

    from portal.signing import trust

    if source.startswith("http://"):
        raise click.ClickException("a trusted list is fetched over https only (or give a file)")
    if source.startswith("https://"):
        answer = requests.get(source, timeout=30, allow_redirects=False)
        if answer.status_code != 200:
            raise click.ClickException(f"{source} answered {answer.status_code} (redirects are not followed)")
        data = answer.content
    else:
        data = Path(source).read_bytes()
    try:
        report = trust.import_tsl(data)
    except trust.TrustListRefused as refusal:
        click.echo(f"REFUSED    {source}: {refusal}", err=True)
        sys.exit(1)
    click.echo(f"trusted list {report.territory} #{report.sequence}: {len(report.added)} added, "
               f"{len(report.kept)} kept, {len(report.withdrawn)} withdrawn")


@trust_group.command("add", light=True)
@click.argument("pem", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def trust_add(pem: Path) -> None:
    """Trust the CA certificate(s) in PEM in addition to the lists."""
    from portal.signing import trust

    for subject in trust.add_anchor(pem.read_bytes()):
        click.echo(f"added      {subject}")


@trust_group.command("list", light=True)
def trust_list() -> None:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.signing.models import TrustAnchor

    for anchor in db.session.scalars(select(TrustAnchor).order_by(TrustAnchor.source, TrustAnchor.subject)):
        click.echo(f"{'active ' if anchor.active else 'retired'}  {anchor.source:<12} {anchor.subject}")


@main.group(name="signature")
def signature_group() -> None:
    """Signed documents."""


@signature_group.command("verify", light=True)
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--content", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="the signed document, for a detached signature (or to compare an enveloped one with)")
@click.option("--json", "as_json", is_flag=True)
@click.option("--offline", is_flag=True, help="the integrity of the file only: the embedded certificate is its own "
                                              "anchor; trust, revocation and validity period are not checked")
@click.option("--trust", "extra", type=click.Path(path_type=Path, exists=True, dir_okay=False), multiple=True,
              help="an additional trust anchor (PEM)")
def signature_verify(file: Path, content: Path | None, as_json: bool, offline: bool, extra: tuple[Path, ...]) -> None:
    """Verify a signed XML document exactly as the portal does; exit status 0 only when valid."""
    from portal.signing import verify
    from portal.signing.policy import policy as office_policy

    policy = office_policy()
    anchors = policy.trust_anchors + tuple(der for path in extra for der in verify.der_certificates(path.read_bytes()))
    policy = office_policy(trust_anchors=anchors, revocation_mode="offline" if offline else policy.revocation_mode,
                            accept_embedded_certificate=offline)
    data = file.read_bytes()
    given = content.read_bytes() if content else None
    verdict = verify.verify(data, policy, require_person=False, detached_content=given,
                            expected_document=given)
    report = verdict.report()
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{verdict.indication}: {report['signer'] or 'unknown signer'}")
        for one in verdict.signatures[1:]:
            click.echo(f"  also signed ({one.role}): {one.signer.name if one.signer else 'unknown signer'}")
        for reason in report["reasons"]:
            click.echo(f"  - {reason}")
        if verdict.certificate:
            click.echo(f"  certificate valid from {verdict.certificate['not_before']} "
                       f"to {verdict.certificate['not_after']}")
        if verdict.integrity_only:
            click.echo("  integrity of the file only: the certificate was not checked against a trust anchor, "
                       "revocation or its validity period")
    sys.exit(0 if verdict.valid else 1)


@main.group(name="receipt")
def receipt_group() -> None:
    """Receipts (UPO) and delivery certificates (UPD)."""


def _receipt_settings(extra: tuple[Path, ...], seal: tuple[Path, ...]) -> tuple[Any, Any]:
    from dataclasses import replace

    from portal.inbox import receipts
    from portal.signing import verify
    from portal.signing.policy import policy as office_policy

    policy = office_policy()
    policy = replace(policy, trust_anchors=policy.trust_anchors + tuple(
        der for path in extra for der in verify.der_certificates(path.read_bytes())))
    issuer = receipts.office_issuer()
    issuer = replace(issuer, seals=issuer.seals + tuple(
        der for path in seal for der in verify.der_certificates(path.read_bytes())))
    return policy, issuer


@receipt_group.command("verify", light=True)
@click.argument("upo_file", metavar="UPO.xml", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--document", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
              help="the filed document, to check it is the one the receipt covers")
@click.option("--trust", "extra", type=click.Path(path_type=Path, exists=True, dir_okay=False), multiple=True,
              help="an additional trust anchor (PEM)")
@click.option("--seal", type=click.Path(path_type=Path, exists=True, dir_okay=False), multiple=True,
              help="another certificate (PEM) of the office's seal to accept, beside the configured and stored ones")
@click.option("--json", "as_json", is_flag=True)
def receipt_verify(upo_file: Path, document: Path | None, extra: tuple[Path, ...], seal: tuple[Path, ...],
                   as_json: bool) -> None:
    """Check a UPO's (or UPD's) seal is the office's and what it states; exit status 0 only when valid
    (and the document matches)."""
    from portal.inbox import receipts

    policy, issuer = _receipt_settings(extra, seal)
    result = receipts.check(upo_file.read_bytes(), policy, issuer, document.read_bytes() if document else None)
    if as_json:
        click.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))
    else:
        verdict = "VALID" if result.valid else "INVALID"
        click.echo(f"{verdict}: {result.kind or 'receipt'} {result.receipt_id or '-'}, filed {result.filed_at or '-'}"
                   + (f", sealed by {result.sealed_by}" if result.sealed_by else ""))
        for reason in result.reasons:
            click.echo(f"  - {reason}")
    sys.exit(0 if result.valid else 1)


@receipt_group.command("verify-all", light=True)
@click.option("--trust", "extra", type=click.Path(path_type=Path, exists=True, dir_okay=False), multiple=True,
              help="an additional trust anchor (PEM)")
@click.option("--seal", type=click.Path(path_type=Path, exists=True, dir_okay=False), multiple=True,
              help="another certificate (PEM) of the office's seal to accept")
@click.option("--json", "as_json", is_flag=True)
def receipt_verify_all(extra: tuple[Path, ...], seal: tuple[Path, ...], as_json: bool) -> None:
    """Check every stored receipt's seal against the document it covers (after a restore: docs/operations.md);
    exit status 1 if any fails."""
    from portal.inbox import receipts

    policy, issuer = _receipt_settings(extra, seal)
    report = receipts.verify_all(policy, issuer)
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"{report.valid} of {report.checked} receipt(s) valid; {report.without_receipt} submission(s) "
                   "without a receipt yet")
        for problem in report.problems:
            click.echo(f"INVALID {problem['receipt_id']} ({problem['submission_id']}): {problem['problem']}", err=True)
    sys.exit(0 if report.intact else 1)


@main.group(name="audit")
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


@main.group(name="drafts")
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


@main.group(name="outbox")
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

    result = outbox.status()
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


@main.group(name="notify")
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
    from datetime import date

    from portal.db_types import utcnow
    from portal.notify import service as notify
    from portal.status.deadlines import WARSAW

    today = date.fromisoformat(day) if day else utcnow().astimezone(WARSAW).date()
    overdue = notify.notify_overdue(today)
    click.echo(f"{notify.send_digests(today)} digest(s) sent; {overdue} overdue case(s) noted for residents")


@main.command("deadline", with_appcontext=False)
@click.argument("procedure")
@click.argument("filed_at")
@click.option("--pause", "pauses", multiple=True, metavar="FROM/TO",
              help="days that do not count (an open call to supplement, a suspension); TO may be empty")
@click.option("--extended-to", metavar="DATE", help="the new date of an art. 36 notice of delay")
@click.option("--json", "as_json", is_flag=True)
def deadline(procedure: str, filed_at: str, pauses: tuple[str, ...], extended_to: str | None, as_json: bool) -> None:
    """The due date the portal shows for PROCEDURE (immediate, kpa-1m, kpa-2m, certificate-7d, foi-14d,
    complaint-1m, days-N) and FILED_AT (ISO 8601 with its offset, as in the UPO)."""
    from datetime import date, datetime

    from portal.status import deadlines

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


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@main.command("demo", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--sandbox-port", default=5001, show_default=True)
def demo(host: str, port: int, sandbox_port: int) -> None:
    """Run the sandbox, the outbox worker and the portal together (what `make run` ends with)."""
    # The three processes share one configuration: the portal's addresses follow the chosen ports.
    env = {**os.environ, "PORTAL_BASE_URL": f"http://{host}:{port}", "PORTAL_SANDBOX_URL": f"http://{host}:{sandbox_port}"}
    base_url = env["PORTAL_BASE_URL"]
    bin_dir = Path(sys.executable).parent
    # The office's directory: dekretacja offers every demo clerk before they have signed in.
    subprocess.run([str(bin_dir / "okienko"), "clerks", "import", "--sandbox"], env=env, check=True)
    processes = [
        subprocess.Popen([sys.executable, "-m", "sandbox", "run", "--host", host, "--port", str(sandbox_port),
                          "--portal-url", base_url, "--pki", str(portal_config.INSTANCE_DIR / "pki")], env=env),
        subprocess.Popen([str(bin_dir / "okienko"), "outbox", "run"], env=env),
        # The production settings file (metrics across workers, one access line per request written by the
        # portal itself, in text since make run is http), with a smaller server for a laptop.
        subprocess.Popen([str(bin_dir / "gunicorn"), "-c", str(portal_config.REPO_ROOT / "gunicorn.conf.py"),
                          "--bind", f"{host}:{port}", "--workers", "2", "--threads", "4", "portal.wsgi:app"], env=env),
    ]
    time.sleep(1.5)
    click.echo("")
    click.echo(f"  Okienko portal:        {base_url}/")
    click.echo(f"  Clerk desk:            {base_url}/urzad/")
    click.echo(f"  Sandbox services:      {env['PORTAL_SANDBOX_URL']}/")
    click.echo("  Demo residents and clerks: listed on the sandbox page; choose one when signing in.")
    click.echo("  Stop with Ctrl+C.")
    # Stopped by `kill` as by Ctrl+C: the three processes go with it, never left holding the ports.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        stopped = next(p for p in processes if p.poll() is not None)
        click.echo(f"{' '.join(map(str, stopped.args[:3]))} stopped (exit code {stopped.returncode}): "
                   "stopping the others (is the port already taken?)", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

