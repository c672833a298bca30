"""The public verification of receipts: a page and a JSON API, with no login."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request

from portal import language
from portal.extensions import csrf, limiter, receipt_lookup
from portal.forms import service as forms
from portal.inbox import receipts
from portal.inbox import service as inbox
from portal.signing import service as signing

bp = Blueprint("receipts", __name__)
MAX_FILE = 10 * 1024 * 1024


def _uploaded_receipt() -> Any:
    upload = request.files.get("upo")
    return upload if upload is not None and upload.filename else None


def _check_uploaded(lang: str) -> receipts.ReceiptCheck | None:
    """Check an uploaded receipt. Its size is capped before it is read whole (a UPO is a few kilobytes),
    and a seal from a certificate that leads to no trusted authority is refused before any digest."""
    upload = _uploaded_receipt()
    if upload is None:
        return None
    document = request.files.get("dokument")
    content = document.read(MAX_FILE + 1) if document is not None and document.filename else None
    return receipts.check(upload.read(receipts.MAX_RECEIPT_BYTES + 1), signing.policy(), receipts.office_issuer(),
                          content, lang=lang)


def _verify_limit() -> str:
    return str(current_app.config["VERIFY_RATE_LIMIT"])


# Checking an uploaded receipt costs the portal a signature verification: one allowance per address
# for the page and the API together, counted only when a file is sent.
receipt_checks = limiter.shared_limit(_verify_limit, scope="receipt-check",
                                      exempt_when=lambda: _uploaded_receipt() is None)


def _tried_on_page() -> tuple[str, str] | None:
    """The receipt id and code the page looks up (from the address or the form), or None: an uploaded
    receipt is checked, not looked up. The look-up limit counts exactly these tries."""
    if request.method == "POST" and "upo" in request.files:
        return None
    code = request.values.get("kod", "")
    return (request.values.get("upo", ""), code) if code else None


def _code_in_address() -> str | None:
    return request.args.get("kod") or None


def _lookup(receipt_id: str, code: str) -> Any:
    if not receipt_id or not code:
        return None
    return receipts.find(receipt_id, code, inbox.access_code)


@bp.route("/weryfikacja", methods=["GET", "POST"])
@receipt_checks
@receipt_lookup(_tried_on_page)
def page() -> Any:
    result = found = None
    looked_up = False
    tried = _tried_on_page()
    if request.method == "POST" and "upo" in request.files:
        result = _check_uploaded(language.current())
    elif tried is not None:
        looked_up = True
        found = _lookup(*tried)
    http_status = 200
    if request.method == "POST" and result is None and not looked_up:
        http_status = 400
    return render_template("inbox/verify.html", result=result, found=found, looked_up=looked_up,
                           definition=forms.definition_of(found.eservice) if found else None,
                           receipt_id=request.values.get("upo", "")), http_status


@bp.post("/api/upo/weryfikacja")
@receipt_checks
@csrf.exempt  # a public API without cookies: nothing a forged cross-site request could abuse
def api_check() -> Any:
    result = _check_uploaded("en")  # machines read English
    if result is None:
        return jsonify({"error": "send the receipt as the multipart field 'upo' (and optionally 'dokument')"}), 400
    return jsonify(result.as_dict())


# Not merge_slashes: an id that begins with "/" (%2F0) would be redirected to /api/upo/0 instead of not found.
@bp.get("/api/upo/<receipt_id>", merge_slashes=False)
@receipt_lookup(_code_in_address)
def api_lookup(receipt_id: str) -> Any:
    found = _lookup(receipt_id, _code_in_address() or "")
    if found is None:
        return jsonify({"error": "no receipt with this identifier and access code"}), 404
    return jsonify({"receipt_id": found.receipt_id, "filed_at": found.filed_at.isoformat(timespec="milliseconds"),
                    "document_sha256": found.document_sha256,
                    "service": forms.definition_of(found.eservice).title["pl"]})


@bp.get("/weryfikacja/<receipt_id>/upo.xml")
@receipt_lookup(_code_in_address)
def download(receipt_id: str) -> Any:
    found = _lookup(receipt_id, _code_in_address() or "")
    if found is None:
        abort(404)
    inbox.ensure_receipt(found)
    response = Response(found.upo or b"", mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="UPO-{found.receipt_id}.xml"'
    return response
