"""The clerk desk's pages: thin; what may be done and how lives in `portal.desk.service`."""

from __future__ import annotations

import io
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from wtforms.fields.choices import SelectChoice

from portal import config
from portal.auth.models import Clerk
from portal.auth.service import clerk_required, current_clerk
from portal.desk import exports, letters, service
from portal.desk.forms import (
    AssignForm,
    AttachForm,
    CloseForm,
    DelayForm,
    LetterForm,
    RegisterCaseForm,
    StatusForm,
    SupplementForm,
)
from portal.desk.models import DeskCase, IncomingParcel, OutgoingLetter
from portal.edoreczenia import service as edoreczenia
from portal.extensions import db
from portal.status import service as status
from portal.storage import service as storage

bp = Blueprint("desk", __name__, url_prefix="/urzad")


def _clerk() -> Clerk:
    clerk = current_clerk()
    assert clerk is not None  # @clerk_required
    return clerk


def _visible_parcel(parcel_id: int) -> IncomingParcel:
    parcel = db.session.get(IncomingParcel, parcel_id)
    if parcel is None or not service.may_see_parcel(_clerk(), parcel):
        abort(404)  # not 403: a clerk of another unit learns nothing about the parcel
    return parcel


def _visible_case(case_id: int) -> DeskCase:
    case = db.session.get(DeskCase, case_id)
    if case is None or not service.may_see_case(_clerk(), case):
        abort(404)
    return case


ORDERS = {"rosnaco": False, "malejaco": True}  # ?kolejnosc=: ascending, descending


def _filter() -> service.RegisterFilter:
    sort = request.args.get("sortuj", "wplyw")
    if sort not in service.SORTS:
        sort = "wplyw"
    order = request.args.get("kolejnosc")
    # Filing dates open newest first; a deadline or a subject is first read from the top (soonest, A to Z).
    descending = ORDERS.get(order or "", sort == "wplyw")
    return service.RegisterFilter(text=request.args.get("q", "")[:200], unread="nieprzeczytane" in request.args,
                                  unassigned="nieprzydzielone" in request.args, mine="moje" in request.args,
                                  without_case="bez_sprawy" in request.args, sort=sort, descending=descending)


def _sort_headers(what: service.RegisterFilter) -> dict[str, dict[str, str]]:
    """For each sortable column its aria-sort and the link that sorts by it (the sorted one the other way
    round), keeping the search and the filters."""
    kept = {k: v for k, v in request.args.items(multi=True) if k not in ("sortuj", "kolejnosc")}
    headers = {}
    for column in service.SORTS:
        if column == what.sort:
            aria, descending = ("descending" if what.descending else "ascending"), not what.descending
        else:
            aria, descending = "none", column == "wplyw"
        headers[column] = {"aria": aria, "href": url_for("desk.index", **kept, sortuj=column,
                                                         kolejnosc="malejaco" if descending else "rosnaco")}
    return headers


@bp.get("/")
@clerk_required
def index() -> Any:
    what = _filter()
    return render_template("desk/incoming.html", parcels=service.incoming(_clerk(), what), what=what,
                           sort_headers=_sort_headers(what), today=service.today())


@bp.get("/rejestr.csv")
@clerk_required
def register_csv() -> Any:
    parcels = service.incoming(_clerk(), _filter(), limit=100_000)
    response = Response("\ufeff" + service.register_csv(parcels), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="rejestr-przesylek-wplywajacych.csv"'
    return response


# --- a parcel ----------------------------------------------------------------------------------


def _parcel_forms(parcel: IncomingParcel) -> dict[str, Any]:
    units = config.units(current_app.config)
    assign = AssignForm(prefix="assign", unit=parcel.unit,
                        clerk=str(parcel.assigned_clerk_id or ""))
    assign.unit.choices = [SelectChoice(code, f"{code} — {name}") for code, name in units.items()]
    assign.clerk.choices = [SelectChoice("", _("— cała komórka —"))] + [
        SelectChoice(str(c.id), f"{c.display_name} ({c.effective_unit})")
        for code in units for c in service.clerks_of(code)]
    register = RegisterCaseForm(prefix="case", title=parcel.service_title)
    attach = AttachForm(prefix="attach")
    attach.case.choices = [SelectChoice(c.id, f"{c.reference} — {c.title}") for c in service.open_cases(parcel.unit)]
    return {"assign_form": assign, "register_form": register, "attach_form": attach}


def _parcel_page(parcel: IncomingParcel, forms: dict[str, Any] | None = None, error: str | None = None,
                 code: int = 200) -> Any:
    clerk = _clerk()
    all_forms = _parcel_forms(parcel)
    all_forms.update(forms or {})
    return render_template("desk/parcel.html", parcel=parcel, error=error, may_assign=service.may_assign(clerk, parcel),
                           may_work=service.may_work(clerk, parcel.unit), units=config.units(current_app.config),
                           **all_forms), code


@bp.get("/rpw/<int:parcel_id>")
@clerk_required
def parcel(parcel_id: int) -> Any:
    entry = _visible_parcel(parcel_id)
    service.open_parcel(_clerk(), entry)
    return _parcel_page(entry)


@bp.post("/rpw/<int:parcel_id>/dekretacja")
@clerk_required
def assign(parcel_id: int) -> Any:
    entry = _visible_parcel(parcel_id)
    form = _parcel_forms(entry)["assign_form"]
    if not form.validate_on_submit():
        return _parcel_page(entry, {"assign_form": form}, code=400)
    assignee = db.session.get(Clerk, int(form.clerk.data)) if form.clerk.data else None
    units = config.units(current_app.config)
    try:
        service.assign(_clerk(), entry, form.unit.data, assignee, units)
    except service.DeskError as exc:
        form.unit.errors = [str(exc)]
        return _parcel_page(entry, {"assign_form": form}, code=400)
    unit = f"{entry.unit} — {units[entry.unit]}"
    if assignee is not None:
        flash(_("Przydzielono przesyłkę %(rpw)s do: %(unit)s, %(clerk)s.", rpw=entry.rpw, unit=unit,
                clerk=assignee.display_name), "success")
    else:
        flash(_("Przydzielono przesyłkę %(rpw)s do: %(unit)s (cała komórka).", rpw=entry.rpw, unit=unit), "success")
    if not service.may_see_parcel(_clerk(), entry):
        return redirect(url_for("desk.index"))  # assigned away from the head's own unit
    return redirect(url_for("desk.parcel", parcel_id=entry.id))


@bp.post("/rpw/<int:parcel_id>/sprawa")
@clerk_required
def register_case(parcel_id: int) -> Any:
    entry = _visible_parcel(parcel_id)
    form = RegisterCaseForm(prefix="case")
    if not form.validate_on_submit():
        return _parcel_page(entry, {"register_form": form}, code=400)
    try:
        case = service.register_case(_clerk(), entry, form.title.data)
    except service.DeskError as exc:
        form.title.errors = [str(exc)]
        return _parcel_page(entry, {"register_form": form}, code=400)
    return redirect(url_for("desk.case", case_id=case.id))


@bp.post("/rpw/<int:parcel_id>/dolacz")
@clerk_required
def attach(parcel_id: int) -> Any:
    entry = _visible_parcel(parcel_id)
    form = _parcel_forms(entry)["attach_form"]
    if not form.validate_on_submit():
        return _parcel_page(entry, {"attach_form": form}, code=400)
    case = _visible_case(form.case.data)
    try:
        service.attach(_clerk(), entry, case)
    except service.DeskError as exc:
        form.case.errors = [str(exc)]
        return _parcel_page(entry, {"attach_form": form}, code=400)
    return redirect(url_for("desk.case", case_id=case.id))


@bp.get("/rpw/<int:parcel_id>/<kind>.xml")
@clerk_required
def parcel_file(parcel_id: int, kind: str) -> Any:
    entry = _visible_parcel(parcel_id)
    files = {"dokument": entry.document, "upo": entry.upo, "podpis": entry.detached_signature}
    content = files.get(kind)
    if content is None:
        abort(404)
    text = entry.channel != "okienko" and kind == "dokument"  # an e-Doręczenia message's own text
    response = Response(content, mimetype="text/plain" if text else "application/xml")
    response.headers["Content-Disposition"] = \
        f'attachment; filename="{kind}-{entry.rpw_number}-{entry.rpw_year}.{"txt" if text else "xml"}"'
    return response


@bp.get("/rpw/<int:parcel_id>/zalaczniki/<sha256>")
@clerk_required
def attachment(parcel_id: int, sha256: str) -> Any:
    entry = _visible_parcel(parcel_id)
    found = next((a for a in entry.attachments or [] if a["sha256"] == sha256), None)
    if found is None:
        abort(404)
    return send_file(io.BytesIO(storage.get(sha256)), mimetype=found["media_type"], as_attachment=True,
                     download_name=found["name"])


# --- cases -------------------------------------------------------------------------------------


@bp.get("/sprawy")
@clerk_required
def cases() -> Any:
    include_closed = "zakonczone" in request.args
    return render_template("desk/cases.html", cases=service.cases(_clerk(), include_closed),
                           include_closed=include_closed)


def _case_forms() -> dict[str, Any]:
    return {"status_form": StatusForm(prefix="status"), "supplement_form": SupplementForm(prefix="supplement"),
            "delay_form": DelayForm(prefix="delay"), "letter_form": LetterForm(prefix="letter"),
            "close_form": CloseForm(prefix="close")}


def _case_page(case: DeskCase, forms: dict[str, Any] | None = None, code: int = 200) -> Any:
    all_forms = _case_forms()
    all_forms.update(forms or {})
    events = status.timeline(case.submission_id)
    may_work = service.may_work(_clerk(), case.unit) and case.status != "closed"
    return render_template("desk/case.html", case=case, events=events, summary=status.summary(events),
                           letter_states=edoreczenia.letter_states(case.letters),
                           channel_plan=edoreczenia.plan(case) if may_work else None, may_work=may_work,
                           units=config.units(current_app.config), **all_forms), code


@bp.get("/sprawy/<int:case_id>")
@clerk_required
def case(case_id: int) -> Any:
    found = _visible_case(case_id)
    service.view_case(_clerk(), found)
    return _case_page(found)


def _act(case_id: int, form_name: str, act: Any) -> Any:
    """Validate one of the case page's forms, do the act, and come back to the page (or show why not)."""
    found = _visible_case(case_id)
    form = _case_forms()[form_name]
    if form.validate_on_submit():
        try:
            act(found, form)
        except service.DeskError as exc:
            first = next(f for f in form if f.name != "csrf_token" and f.type != "CSRFTokenField")
            first.errors = [str(exc)]
        else:
            return redirect(url_for("desk.case", case_id=found.id))
    return _case_page(found, {form_name: form}, code=400)


@bp.post("/sprawy/<int:case_id>/stan")
@clerk_required
def change_status(case_id: int) -> Any:
    return _act(case_id, "status_form",
                lambda case, form: service.change_status(_clerk(), case, form.status.data, form.reason.data))


@bp.post("/sprawy/<int:case_id>/wezwanie")
@clerk_required
def request_supplement(case_id: int) -> Any:
    return _act(case_id, "supplement_form",
                lambda case, form: service.request_supplement(_clerk(), case, form.message.data, form.due.data))


@bp.post("/sprawy/<int:case_id>/zwloka")
@clerk_required
def notify_delay(case_id: int) -> Any:
    return _act(case_id, "delay_form",
                lambda case, form: service.notify_delay(_clerk(), case, form.reason.data, form.new_date.data))


@bp.post("/sprawy/<int:case_id>/pismo")
@clerk_required
def send_letter(case_id: int) -> Any:
    def act(case: DeskCase, form: LetterForm) -> None:
        upload = form.file.data
        service.send_letter(_clerk(), case, form.kind.data, form.title.data, upload.filename or "pismo",
                            upload.read(letters.MAX_LETTER_BYTES + 1), form.summary.data or "")

    return _act(case_id, "letter_form", act)


@bp.post("/sprawy/<int:case_id>/zakoncz")
@clerk_required
def close_case(case_id: int) -> Any:
    return _act(case_id, "close_form", lambda case, form: service.close_case(_clerk(), case, form.reason.data))


def _letter(case_id: int, letter_id: int) -> OutgoingLetter:
    found = _visible_case(case_id)
    letter = db.session.get(OutgoingLetter, letter_id)
    if letter is None or letter.case_id != found.id:
        abort(404)
    return letter


@bp.get("/sprawy/<int:case_id>/pisma/<int:letter_id>")
@clerk_required
def letter_file(case_id: int, letter_id: int) -> Any:
    letter = _letter(case_id, letter_id)
    return send_file(io.BytesIO(storage.get(letter.sha256)), mimetype=letter.media_type, as_attachment=True,
                     download_name=letter.filename)


@bp.get("/sprawy/<int:case_id>/pisma/<int:letter_id>/dowody/<int:evidence_id>")
@clerk_required
def letter_evidence(case_id: int, letter_id: int, evidence_id: int) -> Any:
    letter = _letter(case_id, letter_id)
    found = edoreczenia.evidence_file(evidence_id, {letter.id: letter})
    if found is None:
        abort(404)
    return send_file(io.BytesIO(storage.get(found.sha256)), mimetype="application/xml", as_attachment=True,
                     download_name=f"dowod-{found.code}-{letter.case.reference}-{found.evidence_id}.xml")


@bp.get("/sprawy/<int:case_id>/pisma/<int:letter_id>/upd.xml")
@clerk_required
def letter_upd(case_id: int, letter_id: int) -> Any:
    letter = _letter(case_id, letter_id)
    if letter.upd_sha256 is None:
        abort(404)
    return send_file(io.BytesIO(storage.get(letter.upd_sha256)), mimetype="application/xml", as_attachment=True,
                     download_name=f"UPD-{letter.case.reference}-{letter.id}.xml")


@bp.get("/sprawy/<int:case_id>/akta.zip")
@clerk_required
def case_file(case_id: int) -> Any:
    found = _visible_case(case_id)
    content = exports.case_zip(found)
    service.record_export(_clerk(), found)
    return send_file(io.BytesIO(content), mimetype="application/zip", as_attachment=True,
                     download_name=f"akta-{found.reference.replace('/', '_')}.zip")
