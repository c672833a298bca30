"""The PDF picture of a filled form: every visible question and answer, groups and attachments.

It shows the document; the signed XML is the document. The same renderer serves the draft
preview and the copy kept with a submission.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from portal.forms import flow, service
from portal.forms.definitions import Field, ServiceDefinition
from portal.forms.models import Draft
from portal.pdf import Meta, document, facts, heading, p


def display(field: Field, value: Any) -> str:
    """An answer as a person reads it (in Polish: the document's language)."""
    if value is None or value == "":
        return "—"
    if field.type in ("choice", "select"):
        return next((c.label["pl"] for c in field.choices if c.value == str(value)), str(value))
    if field.type == "checkbox":
        return "tak" if value else "nie"
    return str(value)


def _story(definition: ServiceDefinition, answers: dict[str, Any], sender: str,
           files: list[tuple[str, str, str]], office: str) -> list[Markup]:
    story = [heading(definition.title["pl"]), p(f"Adresat: {office}. Nadawca: {sender}.", small=True)]
    for step in definition.steps:
        if not flow.step_visible(step, answers):
            continue
        story.append(heading(step.title["pl"], 2))
        rows: list[tuple[str, str]] = []
        for field in step.fields:
            if not flow.field_visible(field, answers):
                continue
            if field.is_group:
                for index, item in enumerate(answers.get(field.id) or [], start=1):
                    label = (field.item_label or field.label)["pl"]
                    for sub in field.fields:
                        rows.append((f"{label} {index}: {sub.label['pl']}", display(sub, item.get(sub.id))))
            else:
                rows.append((field.label["pl"], display(field, answers.get(field.id))))
        if rows:
            story.append(facts(rows))
    if files:
        story.append(heading("Załączniki", 2))
        story.append(facts([(label, f"{name}\nSHA-256: {digest}") for label, name, digest in files]))
    story.append(p("To jest wizualizacja dokumentu elektronicznego. Dokumentem jest podpisany plik XML.",
                   small=True, gap=True))
    return story


def render_draft(draft: Draft) -> bytes:
    definition = service.definition_of(draft.eservice)
    answers = flow.effective_answers(definition, draft.values or {})
    rules = {r.id: r.label["pl"] for r in definition.attachments}
    files = [(rules.get(a.rule_id, a.rule_id), a.filename, a.sha256) for a in draft.attachments]
    office = service.office_addressee().name
    return document(Meta(definition.title["pl"], draft.resident.full_name, definition.document_name),
                    _story(definition, answers, draft.resident.full_name, files, office))
