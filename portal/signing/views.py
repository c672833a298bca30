from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, abort, current_app, redirect, render_template, request, session, url_for

from portal.auth import service as auth
from portal.auth.service import current_resident, resident_required
from portal.extensions import submissions
from portal.forms import service as forms
from portal.forms.document import DocumentInvalid
from portal.forms.models import Draft
from portal.signing import service
from portal.signing.tpsigning import SigningServiceError

log = logging.getLogger(__name__)
bp = Blueprint("signing", __name__)


def _own_draft(draft_id: str) -> Draft:
    resident = current_resident()
    draft = forms.draft_for(draft_id, resident) if resident else None
    if draft is None:
        abort(404)
    return draft


def _absolute(endpoint: str, **values: Any) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)


@bp.get("/wnioski/<draft_id>/podpis")
@resident_required
def choose(draft_id: str) -> Any:
    draft = _own_draft(draft_id)
    submitted = service.submitted_before(draft)
    if submitted is not None:
        return redirect(url_for("status.case", submission_id=submitted.id))
    if forms.unfinished_steps(draft):
        return redirect(url_for("forms.review", draft_id=draft.id))
    return _choose_page(draft)


def _choose_page(draft: Draft, problem: str | None = None, verdict: Any = None) -> str:
    return render_template("signing/choose.html", draft=draft, definition=forms.definition_of(draft.eservice),
                           problem=problem, verdict=verdict,
                           sandbox_signer=current_app.config["SANDBOX_URL"].rstrip("/") + "/kwalifikowany"
                           if current_app.config["SANDBOX"] else None)


def _login_check(draft: Draft) -> Any:
    """A legal act needs a recent login of the level the service asks for; otherwise sign in again first."""
    definition = forms.definition_of(draft.eservice)
    back = url_for("signing.choose", draft_id=draft.id)
    if not auth.level_satisfied(session.get("acr"), definition.loa):
        return render_template("signing/level.html", definition=definition,
                               login=url_for("auth.login", loa=definition.loa, next=back)), 403
    if auth.login_age_seconds() > int(current_app.config["SIGNING_REAUTH_MINUTES"]) * 60:
        return redirect(url_for("auth.login", ponownie=1, next=back))
    return None


@bp.post("/wnioski/<draft_id>/podpis/profil-zaufany")
@submissions
@resident_required
def trusted_profile(draft_id: str) -> Any:
    draft = _own_draft(draft_id)
    if draft.submitted or forms.unfinished_steps(draft):
        return redirect(url_for("signing.choose", draft_id=draft.id))
    refused = _login_check(draft)
    if refused is not None:
        return refused
    try:
        url = service.start_trusted_profile(
            draft,
            success_url=_absolute("signing.returned", draft_id=draft.id),
            failure_url=_absolute("signing.cancelled", draft_id=draft.id),
        )
    except DocumentInvalid:
        return render_template("signing/problem.html", draft=draft, problem="document"), 500
    except SigningServiceError as exc:
        log.warning("trusted-profile signing unavailable: %s", exc)
        return render_template("signing/problem.html", draft=draft, problem="service_down"), 503
    return redirect(url)


MAX_SIGNED = 10 * 1024 * 1024


@bp.get("/wnioski/<draft_id>/podpis/dokument.xml")
@resident_required
def document(draft_id: str) -> Any:
    """The exact document to sign with a qualified signature in the resident's own software."""
    draft = _own_draft(draft_id)
    if draft.submitted or forms.unfinished_steps(draft):
        return redirect(url_for("signing.choose", draft_id=draft.id))
    try:
        content = service.document_for_signing(draft)
    except DocumentInvalid:
        return render_template("signing/problem.html", draft=draft, problem="document"), 500
    response = Response(content, mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{draft.eservice.slug}-{draft.id[:8]}.xml"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/wnioski/<draft_id>/podpis/kwalifikowany")
@submissions
@resident_required
def qualified(draft_id: str) -> Any:
    """The resident uploads what their software produced: the signed document, or a detached signature."""
    draft = _own_draft(draft_id)
    submitted = service.submitted_before(draft)
    if submitted is not None:
        return redirect(url_for("status.case", submission_id=submitted.id))
    if forms.unfinished_steps(draft):
        return redirect(url_for("signing.choose", draft_id=draft.id))
    refused = _login_check(draft)
    if refused is not None:
        return refused
    upload = request.files.get("podpisany")
    if upload is None or not upload.filename:
        return _choose_page(draft, "no_file"), 400
    signed = upload.read(MAX_SIGNED + 1)
    if len(signed) > MAX_SIGNED:
        return _choose_page(draft, "too_large"), 400
    if draft.document is None:
        return _choose_page(draft, "not_downloaded"), 400
    filing = service.file_signed(draft, signed)
    if filing.outcome is service.Outcome.INVALID:
        return _choose_page(draft, "invalid", filing.verdict), 422
    return _filing_page(draft, filing)


@bp.get("/wnioski/<draft_id>/podpis/powrot")
@submissions  # each return asks TpSigning5 for the signed document (a signed SOAP call)
@resident_required
def returned(draft_id: str) -> Any:
    draft = _own_draft(draft_id)
    try:
        filing = service.file_from_trusted_profile(draft)
    except SigningServiceError as exc:
        log.warning("could not fetch the signed document: %s", exc)
        return render_template("signing/problem.html", draft=draft, problem="service_down"), 503
    return _filing_page(draft, filing)


@bp.post("/wnioski/<draft_id>/podpis/ponow")
@submissions
@resident_required
def retry(draft_id: str) -> Any:
    """File again the signed document kept after a failed attempt."""
    draft = _own_draft(draft_id)
    filing = service.file_kept(draft)
    if filing.outcome is service.Outcome.NOTHING_KEPT:
        return redirect(url_for("signing.choose", draft_id=draft.id))
    return _filing_page(draft, filing)


def _filing_page(draft: Draft, filing: service.Filing) -> Any:
    """Where a filing leads: the case ("submitted"), or the page saying why not and what next."""
    if filing.outcome is service.Outcome.FILED:
        assert filing.submission is not None
        return redirect(url_for("status.case", submission_id=filing.submission.id, zlozono=1))
    if filing.outcome is service.Outcome.NOT_SIGNED:
        return render_template("signing/problem.html", draft=draft, problem="not_signed"), 409
    if filing.outcome is service.Outcome.INVALID:
        return render_template("signing/problem.html", draft=draft, problem="invalid", verdict=filing.verdict), 422
    # Kept for a retry: the database or the document store failed, the signed bytes wait in the spool.
    return render_template("signing/problem.html", draft=draft, problem="inbox_down"), 503


@bp.get("/wnioski/<draft_id>/podpis/anulowano")
@resident_required
def cancelled(draft_id: str) -> Any:
    draft = _own_draft(draft_id)
    return redirect(url_for("forms.review", draft_id=draft.id, anulowano=1))
