from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, redirect, render_template, request, url_for

from portal.auth.service import current_resident, resident_required
from portal.forms import service, wtf
from portal.forms.models import Draft

bp = Blueprint("forms", __name__)


def _own_draft(draft_id: str) -> Draft:
    resident = current_resident()
    draft = service.draft_for(draft_id, resident) if resident else None
    if draft is None:
        abort(404)
    if draft.state == "submitted":
        abort(410)
    return draft


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
    draft = service.start_draft(current_resident(), found[0])  # type: ignore[arg-type]
    first = service.definition_of(draft.eservice).steps[0]
    return redirect(url_for("forms.step", draft_id=draft.id, step_id=first.id))


@bp.route("/wnioski/<draft_id>/krok/<step_id>", methods=["GET", "POST"])
@resident_required
def step(draft_id: str, step_id: str) -> Any:
    draft = _own_draft(draft_id)
    definition = service.definition_of(draft.eservice)
    current = definition.step(step_id)
    if current is None:
        abort(404)
    form = wtf.step_form(current, draft.values, request.form if request.method == "POST" else None)
    if request.method == "POST" and form.validate():
        service.save_step(draft, current, wtf.answers(form, current))
        position = definition.steps.index(current)
        if request.args.get("powrot") == "podsumowanie" or position + 1 == len(definition.steps):
            return redirect(url_for("forms.review", draft_id=draft.id))
        return redirect(url_for("forms.step", draft_id=draft.id, step_id=definition.steps[position + 1].id))
    status = 400 if request.method == "POST" else 200
    return render_template("forms/step.html", draft=draft, definition=definition, step=current, form=form,
                           number=definition.steps.index(current) + 1), status


@bp.get("/wnioski/<draft_id>/podsumowanie")
@resident_required
def review(draft_id: str) -> Any:
    draft = _own_draft(draft_id)
    missing = service.missing_steps(draft)
    if missing:
        return redirect(url_for("forms.step", draft_id=draft.id, step_id=missing[0].id))
    definition = service.definition_of(draft.eservice)
    return render_template("forms/review.html", draft=draft, definition=definition,
                           cancelled=request.args.get("anulowano") is not None)
