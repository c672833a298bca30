"""The administrator's view of deliveries to the back office: what waits, what failed, re-send."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from backoffice_adapter import outbox
from backoffice_adapter.models import DEAD, FAILED, IN_PROGRESS, PENDING, SUCCESS, OutboxMessage
from portal.auth.service import clerk_required_role
from portal.extensions import db
from portal.inbox.models import Submission

bp = Blueprint("admin", __name__)

STATES = (PENDING, IN_PROGRESS, FAILED, DEAD, SUCCESS)


@bp.get("/urzad/admin/przekazania")
@clerk_required_role("admin")
def deliveries() -> Any:
    state = request.args.get("stan") or None
    if state is not None and state not in STATES:
        abort(404)
    shown = [state] if state else [PENDING, IN_PROGRESS, FAILED, DEAD]
    rows = db.session.execute(
        select(OutboxMessage, Submission.receipt_id)
        .join(Submission, Submission.id == OutboxMessage.submission_id)
        .where(OutboxMessage.state.in_(shown))
        .order_by(OutboxMessage.created_at.desc())
        .limit(200)
    ).all()
    return render_template("admin/deliveries.html", rows=rows, state=state, states=STATES,
                           summary=outbox.summary(), problems=outbox.check_routes(current_app.config),
                           alert_minutes=current_app.config["OUTBOX_ALERT_MINUTES"])


@bp.post("/urzad/admin/przekazania/<int:message_id>/ponow")
@clerk_required_role("admin")
def resend(message_id: int) -> Any:
    message = outbox.resend(message_id)
    if message is None:
        flash(_("Tej przesyłki nie można wysłać ponownie: nie czeka na ponowienie ani nie została wstrzymana."),
              "error")
    else:
        flash(_("Przesyłka %(id)s wróciła do kolejki i zostanie wysłana za chwilę.", id=message.submission_id),
              "success")
    return redirect(url_for("admin.deliveries", stan=request.form.get("stan") or None))
