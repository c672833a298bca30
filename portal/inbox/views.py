from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template

from portal.auth.service import current_resident, resident_required
from portal.inbox import service
from portal.inbox.models import Submission

bp = Blueprint("inbox", __name__)


def _own(submission_id: str) -> Submission:
    submission = service.submission_for(submission_id, current_resident())  # type: ignore[arg-type]
    if submission is None:
        abort(404)
    return submission


def _download(content: bytes, mimetype: str, filename: str) -> Response:
    response = Response(content, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _receipt_pending(submission: Submission) -> Any:
    """Filed, but the receipt could not be made yet (the store is full or unreachable): say exactly that."""
    return render_template("inbox/receipt_pending.html", submission=submission,
                           access_code=service.access_code(submission.receipt_id)), 503


@bp.get("/moje-sprawy/<submission_id>/upo.xml")
@resident_required
def upo_xml(submission_id: str) -> Any:
    submission = _own(submission_id)
    if not service.try_receipt(submission):
        return _receipt_pending(submission)
    if submission.channel != "okienko":  # the provider's evidence of the sending stands for the UPO
        return _download(submission.upo or b"", "application/xml", f"dowod-nadania-{submission.id[:8]}.xml")
    return _download(submission.upo or b"", "application/xml", f"UPO-{submission.receipt_id}.xml")


@bp.get("/moje-sprawy/<submission_id>/upo.pdf")
@resident_required
def upo_pdf(submission_id: str) -> Any:
    submission = _own(submission_id)
    if submission.channel != "okienko":
        abort(404)  # the portal issued no receipt for an item of another channel
    if not service.try_receipt(submission):
        return _receipt_pending(submission)
    return _download(service.receipt_pdf(submission), "application/pdf", f"UPO-{submission.receipt_id}.pdf")


@bp.get("/moje-sprawy/<submission_id>/podpis.xades")
@resident_required
def detached_signature(submission_id: str) -> Any:
    submission = _own(submission_id)
    if submission.detached_signature is None:
        abort(404)
    return _download(submission.detached_signature, "application/xml", f"podpis-{submission.receipt_id}.xades")


@bp.get("/moje-sprawy/<submission_id>/dokument.xml")
@resident_required
def document(submission_id: str) -> Any:
    submission = _own(submission_id)
    if submission.channel != "okienko":  # the message's own text; its files are kept as sent
        return _download(submission.document, "text/plain; charset=utf-8", f"tresc-{submission.id[:8]}.txt")
    return _download(submission.document, "application/xml", f"dokument-{submission.receipt_id}.xml")
