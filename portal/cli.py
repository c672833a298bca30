"""`okienko`: every administrator's task, as a Flask CLI group over `create_app`."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

from portal import config as portal_config
from portal.auth.cli import clerks_group
from portal.db_types import utcnow


def _create_app() -> Flask:
    from portal import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False, load_dotenv=False)
def main() -> None:
    """Okienko — e-services portal of the office. Configuration: PORTAL_* variables (see README)."""


main.add_command(clerks_group)


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


@catalog_group.command("load")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False), required=False)
def catalog_load(directory: Path | None) -> None:
    """Check every service folder in DIRECTORY and load new versions; broken ones are reported and skipped."""
    from portal.forms import service

    report = service.load_catalog(directory or Path(current_app.config["CATALOG_DIR"]))
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


@catalog_group.command("list")
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


@trust_group.command("import")
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


@trust_group.command("add")
@click.argument("pem", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def trust_add(pem: Path) -> None:
    """Trust the CA certificate(s) in PEM in addition to the lists."""
    from portal.signing import trust

    for subject in trust.add_anchor(pem.read_bytes()):
        click.echo(f"added      {subject}")


@trust_group.command("list")
def trust_list() -> None:
    from sqlalchemy import select

    from portal.extensions import db
    from portal.signing.models import TrustAnchor

    for anchor in db.session.scalars(select(TrustAnchor).order_by(TrustAnchor.source, TrustAnchor.subject)):
        click.echo(f"{'active ' if anchor.active else 'retired'}  {anchor.source:<12} {anchor.subject}")


@main.group(name="signature")
def signature_group() -> None:
    """Signed documents."""


@signature_group.command("verify")
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
    from portal.signing import service as signing
    from portal.signing import verify

    policy = signing.policy()
    anchors = policy.trust_anchors + tuple(der for path in extra for der in verify.der_certificates(path.read_bytes()))
    policy = signing.policy(trust_anchors=anchors, revocation_mode="offline" if offline else policy.revocation_mode,
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
    from portal.signing import service as signing
    from portal.signing import verify

    policy = signing.policy()
    policy = replace(policy, trust_anchors=policy.trust_anchors + tuple(
        der for path in extra for der in verify.der_certificates(path.read_bytes())))
    issuer = receipts.office_issuer()
    issuer = replace(issuer, seals=issuer.seals + tuple(
        der for path in seal for der in verify.der_certificates(path.read_bytes())))
    return policy, issuer


@receipt_group.command("verify")
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


@receipt_group.command("verify-all")
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


@audit_group.command("verify")
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

    if problems := outbox.check_routes(current_app.config):
        raise click.ClickException("the delivery settings are wrong:\n  " + "\n  ".join(problems))
    if metrics_address:
        from portal.ops import metrics

        metrics.serve_worker_metrics(metrics_address)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo("outbox worker running")
    outbox.run_forever(poll, stop)


@outbox_group.command("status")
@click.option("--json", "as_json", is_flag=True)
def outbox_status(as_json: bool) -> None:
    """Counts per state and the age of the oldest waiting delivery."""
    from backoffice_adapter import outbox

    result = outbox.status()
    click.echo(json.dumps(result, indent=2) if as_json else result)


@outbox_group.command("check")
def outbox_check() -> None:
    """Check that every configured adapter is known and has its settings; exit status 1 if not."""
    from backoffice_adapter import outbox

    if problems := outbox.check_routes(current_app.config):
        raise click.ClickException("\n".join(problems))
    click.echo("delivery settings OK: " + ", ".join(outbox.configured_adapters(current_app.config)))


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

