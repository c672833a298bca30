from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from portal import config
from portal.auth.service import current_resident, resident_required
from portal.forms import service as forms
from portal.inbox import service as inbox
from portal.status import service

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
        access_code=inbox.access_code(submission.receipt_id),
        just_filed=request.args.get("zlozono") is not None,
    )
