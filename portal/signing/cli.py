"""`okienko trust` and `okienko signature`: the trust anchors for signatures, and verifying a signed document
exactly as the portal does."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from portal import commands

# The domain's modules are imported inside the commands, when one runs: `okienko --help`, a group's --help
# and the commands that need no application must not pay for Flask and SQLAlchemy (docs/decisions.md).


@commands.group("trust")
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


@commands.group("signature")
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
