from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from portal import config
from portal.auth.service import current_resident, resident_required
from portal.desk import letters
from portal.desk import service as desk
from portal.desk.models import OutgoingLetter
from portal.extensions import db
from portal.forms import flow
from portal.forms import service as forms
from portal.inbox import service as inbox
from portal.status import service
from portal.storage import service as storage

bp = Blueprint("status", __name__)


@bp.get("/moje-sprawy")
@resident_required
def cases() -> Any:
    resident = current_resident()
    submissions = inbox.submissions_of(resident)  # type: ignore[arg-type]
    rows = [(s, forms.definition_of(s.eservice), service.stage(service.timeline(s.id))) for s in submissions]
    drafts = [(d, forms.definition_of(d.eservice)) for d in forms.drafts_of(resident)]  # type: ignore[arg-type]
    retention = timedelta(days=int(current_app.config["DRAFT_RETENTION_DAYS"]))
    return render_template("status/cases.html", rows=rows, drafts=drafts, retention=retention)


@bp.get("/moje-sprawy/<submission_id>")
@resident_required
def case(submission_id: str) -> Any:
    submission = inbox.submission_for(submission_id, current_resident())  # type: ignore[arg-type]
    if submission is None:
        abort(404)
    inbox.ensure_receipt(submission)
    events = service.timeline(submission.id)
    return render_template(
        "status/case.html",
        submission=submission,
        definition=forms.definition_of(submission.eservice),
        events=events,
        case=service.summary(events),
        units=config.units(current_app.config),
        letters=desk.letters_for(submission.id),
        openings=desk.openings(submission.id),
        in_desk=desk.parcel_of(submission.id) is not None,
        access_code=inbox.access_code(submission.receipt_id),
        just_filed=request.args.get("zlozono") is not None,
    )


@bp.post("/moje-sprawy/<submission_id>/uzupelnij")
@resident_required
def supplement(submission_id: str) -> Any:
    """Answer the office's call to supplement: a general letter that joins the same case."""
    resident = current_resident()
    submission = inbox.submission_for(submission_id, resident)  # type: ignore[arg-type]
    if submission is None:
        abort(404)
    found = desk.case_of(submission.id)
    title = _("Uzupełnienie do sprawy %(ref)s", ref=found.reference) if found else \
        _("Uzupełnienie pisma %(id)s", id=submission.receipt_id)
    draft = forms.start_reply(resident, submission.id, title)  # type: ignore[arg-type]
    if draft is None:
        abort(404)
    first = flow.step_ids(forms.definition_of(draft.eservice), draft.values or {})[0]
    return redirect(url_for("forms.step", draft_id=draft.id, step_id=first))


def _letter(submission_id: str, letter_id: int) -> Any:
    submission = inbox.submission_for(submission_id, current_resident())  # type: ignore[arg-type]
    letter = db.session.get(OutgoingLetter, letter_id)
    if submission is None or letter is None or letter.case.submission_id != submission.id:
        abort(404)
    return letter


@bp.get("/moje-sprawy/<submission_id>/pisma/<int:letter_id>")
@resident_required
def letter(submission_id: str, letter_id: int) -> Any:
    """Opening the letter is its delivery: the first time, the office's UPD is made."""
    found = letters.open_letter(_letter(submission_id, letter_id), current_resident())  # type: ignore[arg-type]
    return send_file(io.BytesIO(storage.get(found.sha256)), mimetype=found.media_type, as_attachment=True,
                     download_name=found.filename)


@bp.get("/moje-sprawy/<submission_id>/pisma/<int:letter_id>/upd.xml")
@resident_required
def letter_upd(submission_id: str, letter_id: int) -> Any:
    found = _letter(submission_id, letter_id)
    if found.upd_sha256 is None:
        abort(404)
    return send_file(io.BytesIO(storage.get(found.upd_sha256)), mimetype="application/xml", as_attachment=True,
                     download_name=f"UPD-{found.id}.xml")
