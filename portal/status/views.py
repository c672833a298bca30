from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _

from portal import config
from portal.auth.service import current_resident, resident_required
from portal.clock import WARSAW
from portal.db_types import utcnow
from portal.desk import letters
from portal.desk import service as desk
from portal.desk.models import OutgoingLetter
from portal.edoreczenia import service as edoreczenia
from portal.extensions import csrf, db, receipt_lookup
from portal.forms import flow
from portal.forms import service as forms
from portal.inbox import receipts
from portal.inbox import service as inbox
from portal.status import service
from portal.storage import service as storage

bp = Blueprint("status", __name__)
# The case list shows this many submissions a page, newest first: a resident with hundreds of cases still
# gets the page at once, and the drafts below the table stay within reach.
CASES_PER_PAGE = 25


def _today() -> date:
    return utcnow().astimezone(WARSAW).date()


@bp.get("/moje-sprawy")
@resident_required
def cases() -> Any:
    resident = current_resident()
    total = inbox.count_submissions_of(resident)  # type: ignore[arg-type]
    pages = max(1, -(-total // CASES_PER_PAGE))
    page = min(max(request.args.get("strona", 1, type=int) or 1, 1), pages)
    submissions = inbox.submissions_of(resident, (page - 1) * CASES_PER_PAGE, CASES_PER_PAGE)  # type: ignore[arg-type]
    # A supplement names the case it answers, which may be on another page: its timeline comes along.
    answered = {s.reply_to for s in submissions if s.reply_to} - {s.id for s in submissions}
    events = service.timelines([s.id for s in submissions] + sorted(answered))
    summaries = {sid: service.summary(found) for sid, found in events.items()}
    rows = []
    for submission in submissions:
        definition = inbox.definition_of(submission)
        # A supplement or ponaglenie belongs to the case it answers: it has no deadline of its own.
        procedure = "notification" if submission.reply_to else definition.procedure
        deadline = service.deadline_of(procedure, submission.filed_at, events[submission.id])
        parent = summaries.get(submission.reply_to) if submission.reply_to else None
        rows.append((submission, definition, summaries[submission.id], deadline, parent))
    drafts = [(d, forms.definition_of(d.eservice)) for d in forms.drafts_of(resident)]  # type: ignore[arg-type]
    retention = timedelta(days=int(current_app.config["DRAFT_RETENTION_DAYS"]))
    return render_template("status/cases.html", rows=rows, drafts=drafts, retention=retention, today=_today(),
                           page=page, pages=pages, total=total)


def _case_context(submission: Any) -> dict[str, Any]:
    """What both case pages (the resident's and the public look-up) show."""
    definition = inbox.definition_of(submission)
    today = _today()
    state = service.case_state(submission, definition.procedure, today)
    # A supplement or ponaglenie shows the case it answers, which holds the deadline.
    parent = (submission.reply_to, service.summary(service.timeline(submission.reply_to))) \
        if submission.reply_to else None
    return {"submission": submission, "definition": definition, "events": state.events, "case": state.case,
            "deadline": state.deadline, "today": today, "next_step": state.next_step, "parent": parent,
            "units": config.units(current_app.config)}


@bp.get("/moje-sprawy/<submission_id>")
@resident_required
def case(submission_id: str) -> Any:
    submission = inbox.submission_for(submission_id, current_resident())  # type: ignore[arg-type]
    if submission is None:
        abort(404)
    receipt_ready = inbox.try_receipt(submission)  # filed either way; the receipt may wait for the store
    letters = desk.letters_for(submission.id)
    return render_template(
        "status/case.html",
        **_case_context(submission),
        letters=letters,
        letter_states=edoreczenia.letter_states(letters),
        openings=desk.openings(submission.id),
        in_desk=desk.has_parcel(submission.id),
        access_code=inbox.access_code(submission.receipt_id) if submission.receipt_id else None,
        just_filed=request.args.get("zlozono") is not None,
        receipt_pending=not receipt_ready,
    )


def _tried_in_form() -> tuple[str, str] | None:
    """The receipt id and code the look-up form posts (the form only, never the address), or None."""
    if request.method != "POST":
        return None
    receipt_id, code = request.form.get("upo", "")[:60], request.form.get("kod", "")[:30]
    return (receipt_id, code) if code else None


def _tried_in_api() -> tuple[str, str] | None:
    """The receipt id and code the JSON look-up is given (a JSON body, else the form or address), or None."""
    given = request.get_json(silent=True) if request.is_json else request.values
    receipt_id, code = (given.get("upo"), given.get("kod")) if isinstance(given, Mapping) else (None, None)
    if not isinstance(receipt_id, str) or not isinstance(code, str) or not receipt_id.strip() or not code.strip():
        return None
    return receipt_id[:60], code[:30]


@bp.route("/sprawdz-sprawe", methods=["GET", "POST"])
@receipt_lookup(_tried_in_form)
def lookup() -> Any:
    """Without logging in: the receipt id and access code from the UPO show where the case is — the
    timeline's steps and dates, never its texts or names. A wrong id and a wrong code answer alike."""
    if request.method == "GET":
        return render_template("status/lookup.html", found=None, failed=False)
    tried = _tried_in_form()
    found = receipts.find(*tried, inbox.access_code) if tried else None
    if found is None:
        return render_template("status/lookup.html", found=None, failed=True,
                               receipt_id=request.form.get("upo", "")[:60]), 404
    return render_template("status/lookup.html", found=found, failed=False, **_case_context(found))


@bp.route("/api/sprawy/sprawdz", methods=["GET", "POST"])
@csrf.exempt  # a public API without cookies: nothing a forged cross-site request could abuse
@receipt_lookup(_tried_in_api)
def api_lookup() -> Any:
    """The look-up as JSON, for the city's website and residents' apps: the same allowance, the same
    answer for a wrong id and a wrong code. POST (form or JSON) keeps the code out of address logs."""
    tried = _tried_in_api()
    if tried is None:
        return jsonify({"error": "give the receipt identifier 'upo' and the access code 'kod'"}), 400
    found = receipts.find(*tried, inbox.access_code)
    if found is None:
        return jsonify({"error": "no case with this receipt identifier and access code"}), 404
    return jsonify(service.public_case(found, forms.definition_of(found.eservice), _today(),
                                       config.units(current_app.config)))


@bp.post("/moje-sprawy/<submission_id>/ponaglenie")
@resident_required
def reminder(submission_id: str) -> Any:
    """KPA art. 37: once the office is late without a notice, the resident may file a ponaglenie —
    a general letter, pre-filled, answering this submission (it joins the same case)."""
    resident = current_resident()
    submission = inbox.submission_for(submission_id, resident)  # type: ignore[arg-type]
    if submission is None:
        abort(404)
    context = _case_context(submission)
    if context["next_step"] != "overdue":
        abort(409)
    reference = context["case"].case_reference or submission.receipt_id
    due = context["deadline"].due.strftime("%d.%m.%Y")
    text = _("Na podstawie art. 37 § 1 pkt 1 Kodeksu postępowania administracyjnego wnoszę ponaglenie w sprawie "
             "%(ref)s, wszczętej pismem złożonym %(filed)s (UPO %(receipt)s). Sprawa nie została załatwiona w "
             "terminie, który upłynął %(due)s.",
             ref=reference, filed=submission.filed_at.astimezone(WARSAW).strftime("%d.%m.%Y"),
             receipt=submission.receipt_id, due=due)
    draft = forms.start_reply(resident, submission.id, _("Ponaglenie (art. 37 KPA) — %(ref)s", ref=reference),  # type: ignore[arg-type]
                              kind="inne pismo", text=text)
    if draft is None:
        abort(404)
    first = flow.step_ids(forms.definition_of(draft.eservice), draft.values or {})[0]
    return redirect(url_for("forms.step", draft_id=draft.id, step_id=first))


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


@bp.get("/moje-sprawy/<submission_id>/pisma/<int:letter_id>/dowody/<int:evidence_id>")
@resident_required
def letter_evidence(submission_id: str, letter_id: int, evidence_id: int) -> Any:
    found = _letter(submission_id, letter_id)
    row = edoreczenia.evidence_file(evidence_id, {found.id: found})
    if row is None:
        abort(404)
    return send_file(io.BytesIO(storage.get(row.sha256)), mimetype="application/xml", as_attachment=True,
                     download_name=f"dowod-{row.code}-{row.evidence_id}.xml")


@bp.get("/moje-sprawy/<submission_id>/pisma/<int:letter_id>/upd.xml")
@resident_required
def letter_upd(submission_id: str, letter_id: int) -> Any:
    found = _letter(submission_id, letter_id)
    if found.upd_sha256 is None:
        abort(404)
    return send_file(io.BytesIO(storage.get(found.upd_sha256)), mimetype="application/xml", as_attachment=True,
                     download_name=f"UPD-{found.id}.xml")
