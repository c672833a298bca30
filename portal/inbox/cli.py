"""`okienko receipt`: checking the receipts (UPO) and delivery certificates (UPD) the office has issued."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from portal import commands

# The domain's modules are imported inside the commands, when one runs: `okienko --help`, a group's --help
# and the commands that need no application must not pay for Flask and SQLAlchemy (docs/decisions.md).


@commands.group("receipt")
def receipt_group() -> None:
    """Receipts (UPO) and delivery certificates (UPD)."""


def _receipt_settings(extra: tuple[Path, ...], seal: tuple[Path, ...]) -> tuple[Any, Any]:
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
