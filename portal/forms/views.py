from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, flash, get_flashed_messages, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal import language
from portal.auth.service import current_resident, on_session_expiry, resident_required
from portal.extensions import db
from portal.forms import display, flow, pdf, service, uploads, wtf
from portal.forms.definitions import ATTACHMENTS_STEP
from portal.forms.models import Draft

bp = Blueprint("forms", __name__)


@bp.app_template_filter("shown_as")
def _shown_as(value: Any, spec: Any) -> str:
    """An answer as the summary shows it: 01.11.2026, 96,00 zł, 12,5 (portal/forms/display.py)."""
    return display.answer(spec, value, language.current())


@bp.app_template_global("draft_subject")
def _draft_subject(draft: Draft) -> str | None:
    """What tells a draft from the resident's other drafts of the same service (portal/forms/display.py)."""
    return display.subject(service.definition_of(draft.eservice), draft.values, language.current())


@on_session_expiry
def _keep_posted_answers(resident_id: int) -> None:
    """The session ended while a step was being posted: store what was sent, unchecked, in the draft."""
    if request.endpoint != "forms.step" or not request.view_args:
        return
    step_id = request.view_args.get("step_id")
    draft = db.session.get(Draft, request.view_args.get("draft_id"))
    if draft is None or draft.resident_id != resident_id or draft.submitted or step_id == ATTACHMENTS_STEP:
        return
    current = service.definition_of(draft.eservice).step(step_id)
    if current is not None:
        form = wtf.step_form(current, service.components(draft.eservice), draft.values or {}, request.form)
        service.save_step(draft, current, wtf.answers_of(form, current))


def _own_draft(draft_id: str) -> Draft:
    resident = current_resident()
    draft = service.draft_for(draft_id, resident) if resident else None
    if draft is None:
        abort(404)
    if draft.submitted:
        abort(410)
    return draft


def _after(draft: Draft, step_id: str) -> str:
    """Where 'Dalej' leads: the next visible step, or the summary."""
    definition = service.definition_of(draft.eservice)
    ids = flow.step_ids(definition, draft.values or {})
    if request.args.get("powrot") == "podsumowanie" or step_id not in ids or ids.index(step_id) + 1 == len(ids):
        return url_for("forms.review", draft_id=draft.id)
    return url_for("forms.step", draft_id=draft.id, step_id=ids[ids.index(step_id) + 1])


def _progress(draft: Draft, step_id: str) -> tuple[int, int, str | None]:
    ids = flow.step_ids(service.definition_of(draft.eservice), draft.values or {})
    number = ids.index(step_id) + 1 if step_id in ids else len(ids) + 1
    previous = ids[number - 2] if 1 < number <= len(ids) else None
    return number, len(ids) + 1, previous


@bp.get("/")
def home() -> Any:
    return render_template("forms/home.html", services=service.offered())


@bp.get("/uslugi")
def catalog() -> Any:
    return render_template("forms/catalog.html", services=service.offered())


@bp.get("/uslugi/<slug>")
def service_page(slug: str) -> Any:
    found = service.find(slug)
    if found is None:
        abort(404)
    eservice, definition = found
    return render_template("forms/service.html", eservice=eservice, definition=definition)


@bp.post("/uslugi/<slug>/rozpocznij")
@resident_required
def start(slug: str) -> Any:
    found = service.find(slug)
    if found is None:
        abort(404)
    if request.form.get("nowy") is None and service.open_drafts(current_resident(), slug):  # type: ignore[arg-type]
        # A draft of this service is open already: offer to resume it before starting one more.
        return redirect(url_for("forms.open_drafts", slug=slug), 303)
    draft = service.start_draft(current_resident(), found[0])  # type: ignore[arg-type]
    first = flow.step_ids(service.definition_of(draft.eservice), draft.values or {})[0]
    return redirect(url_for("forms.step", draft_id=draft.id, step_id=first))


@bp.get("/uslugi/<slug>/rozpoczete")
@resident_required
def open_drafts(slug: str) -> Any:
    """The resident's open drafts of a service, each with its subject and last change: resume one, or start anew."""
    found = service.find(slug)
    if found is None:
        abort(404)
    return render_template("forms/resume.html", definition=found[1],
                           drafts=service.open_drafts(current_resident(), slug))  # type: ignore[arg-type]


@bp.route("/wnioski/<draft_id>/krok/<step_id>", methods=["GET", "POST"])
@resident_required
def step(draft_id: str, step_id: str) -> Any:
    draft = _own_draft(draft_id)
    if step_id == ATTACHMENTS_STEP:
        return _attachments_step(draft)
    definition = service.definition_of(draft.eservice)
    current = definition.step(step_id)
    if current is None:
        abort(404)
    parts = service.components(draft.eservice)
    values = draft.values or {}
    if request.method == "GET":
        form = wtf.step_form(current, parts, values, extra_items=_extra_items())
        return _render_step(draft, current, form)

    form = wtf.step_form(current, parts, values, request.form)
    action = request.form.get("_akcja", "dalej")
    if request.args.get("autozapis") is not None:
        # The session is about to end: keep whatever has been typed, checked or not.
        service.save_step(draft, current, wtf.answers_of(form, current))
        return Response(status=204)
    if action.startswith(("dodaj:", "usun:")):
        answers = wtf.answers_of(form, current)
        kind, _, rest = action.partition(":")
        group_id, _, index = rest.partition(":")
        anchor = ""
        if kind == "usun" and isinstance(answers.get(group_id), list) and index.isdigit():
            items = answers[group_id]
            if int(index) < len(items):
                items.pop(int(index))
        service.save_step(draft, current, answers)
        extra = {}
        if kind == "dodaj":
            extra = {"dodaj": group_id}
            anchor = f"#{group_id}-{len(answers.get(group_id) or [])}"
        return redirect(url_for("forms.step", draft_id=draft.id, step_id=current.id, **extra,
                                **({"powrot": request.args["powrot"]} if "powrot" in request.args else {})) + anchor)
    if wtf.validate(form, current, values):
        service.save_step(draft, current, wtf.answers_of(form, current))
        return redirect(_after(draft, current.id))
    return _render_step(draft, current, form), 400


def _extra_items() -> dict[str, int]:
    group = request.args.get("dodaj")
    return {group: 1} if group else {}


def _render_step(draft: Draft, current: Any, form: Any) -> str:
    definition = service.definition_of(draft.eservice)
    number, total, previous = _progress(draft, current.id)
    answers = {**(draft.values or {})}
    return render_template(
        "forms/step.html", draft=draft, definition=definition, step=current, form=form, errors=wtf.errors(form),
        number=number, total=total, previous=previous, computed=flow.effective_answers(definition, answers),
        previews={f.id: flow.browser_formula(f) for f in current.fields if f.compute},
        visible={f.id for f in current.fields if f.show_if is None or _controlled_here(current, f)
                 or flow.field_visible(f, answers)},
    )


def _controlled_here(step: Any, field: Any) -> bool:
    """A condition on a question of this same step is decided in the browser (and checked on the server)."""
    return field.show_if is not None and any(f.id == field.show_if.field for f in step.fields)


def _attachments_step(draft: Draft) -> Any:
    definition = service.definition_of(draft.eservice)
    rules = flow.attachment_rules(definition, draft.values or {})
    problems: dict[str, str] = {}
    if request.method == "POST":
        action = request.form.get("_akcja", "dalej")
        if action.startswith("wyslij:"):
            rule_id = action.partition(":")[2]
            upload = request.files.get(f"plik-{rule_id}")
            if upload is None or not upload.filename:
                problems[rule_id] = _("Wybierz plik do dołączenia.")
            else:
                try:
                    kept = service.add_attachment(draft, rule_id, upload.filename, upload.read())
                    flash(_("Dołączono plik %(name)s.", name=kept.filename))
                    return redirect(url_for("forms.step", draft_id=draft.id, step_id=ATTACHMENTS_STEP))
                except uploads.Refused as refusal:
                    problems[rule_id] = refusal.message
        elif action.startswith("usun:") and action.partition(":")[2].isdigit():
            service.remove_attachment(draft, int(action.partition(":")[2]))
            return redirect(url_for("forms.step", draft_id=draft.id, step_id=ATTACHMENTS_STEP))
        else:
            missing = service.missing_attachments(draft)
            if not missing:
                return redirect(url_for("forms.review", draft_id=draft.id))
            for rule in missing:
                problems[rule.id] = _("Dołącz: %(what)s.", what=language.pick(rule.label).lower())
    number, total, previous = _progress(draft, ATTACHMENTS_STEP)
    http_status = 400 if problems else 200
    return render_template("forms/attachments.html", draft=draft, definition=definition, rules=rules,
                           problems=problems, number=number, total=total, previous=previous,
                           notices=get_flashed_messages(), allowed=uploads.allowed), http_status


@bp.get("/wnioski/<draft_id>/podsumowanie")
@resident_required
def review(draft_id: str) -> Any:
    draft = _own_draft(draft_id)
    unfinished = service.unfinished_steps(draft)
    if unfinished:
        return redirect(url_for("forms.step", draft_id=draft.id, step_id=unfinished[0]))
    definition = service.definition_of(draft.eservice)
    answers = draft.values or {}
    steps = [s for s in definition.steps if flow.step_visible(s, answers)]
    return render_template("forms/review.html", draft=draft, definition=definition, steps=steps,
                           answers=flow.effective_answers(definition, answers),
                           rule_labels={r.id: r.label for r in definition.attachments},
                           cancelled=request.args.get("anulowano") is not None)


@bp.get("/wnioski/<draft_id>/podglad.pdf")
@resident_required
def preview(draft_id: str) -> Any:
    draft = _own_draft(draft_id)
    response = Response(pdf.render_draft(draft), mimetype="application/pdf")
    response.headers["Content-Disposition"] = 'inline; filename="podglad-wniosku.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/wnioski/<draft_id>/usun")
@resident_required
def discard(draft_id: str) -> Any:
    draft = _own_draft(draft_id)
    service.discard(draft)
    return redirect(url_for("status.cases"))
