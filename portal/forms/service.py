"""The e-service catalog and drafts: what residents may file, and what they have started."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import defer, joinedload, selectinload

from portal.audit import service as audit
from portal.auth import service as auth
from portal.auth.models import Resident
from portal.clock import WARSAW
from portal.db_types import utcnow
from portal.extensions import db
from portal.forms import definitions, document, flow, schemas, uploads, wtf
from portal.forms.definitions import ATTACHMENTS_STEP, AttachmentRule, DefinitionError, ServiceDefinition, Step
from portal.forms.models import Draft, DraftAttachment, EService
from portal.storage import service as storage_service

log = logging.getLogger(__name__)

_parsed: dict[int, ServiceDefinition] = {}
_parsed_lock = threading.Lock()


@dataclass
class LoadReport:
    added: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[DefinitionError] = field(default_factory=list)


def load_catalog(directory: Path) -> LoadReport:
    """Read every service folder and record new versions; a broken definition is reported and skipped."""
    report = LoadReport()
    loaded, report.errors = definitions.read_catalog(directory)
    for item in loaded:
        d = item.definition
        label = f"{d.id} {d.version}"
        existing = db.session.scalar(select(EService).where(EService.slug == d.id, EService.version == d.version))
        if existing is not None:
            if existing.definition == d.raw and existing.schema_xsd == item.xsd_text:
                report.unchanged.append(label)
                continue
            report.errors.append(DefinitionError(
                item.folder / definitions.DEFINITION_FILE, "version",
                f"version {d.version} is already loaded with different content: raise the version number",
            ))
            continue
        for older in db.session.scalars(select(EService).where(EService.slug == d.id, EService.current)):
            older.current = False
        db.session.add(EService(slug=d.id, version=d.version, definition=d.raw, schema_xsd=item.xsd_text,
                                current=True))
        audit.record("catalog.loaded", "eservice", d.id, actor=("system", None), version=d.version)
        report.added.append(label)
    db.session.commit()
    return report


def definition_of(eservice: EService) -> ServiceDefinition:
    with _parsed_lock:
        parsed = _parsed.get(eservice.id)
        if parsed is None:
            parsed = definitions.parse(Path(f"{eservice.slug}@{eservice.version}"), eservice.definition)
            _parsed[eservice.id] = parsed
    return parsed


def schema_of(eservice: EService) -> schemas.Schema:
    return schemas.cached_schema(eservice.schema_xsd, schemas.files_key(eservice.schema_files))


_components: dict[int, dict[str, Any]] = {}


def components(eservice: EService) -> dict[str, Any]:
    """The XSD element or attribute behind each field ("group.field" inside groups), for the validators."""
    found = _components.get(eservice.id)
    if found is None:
        definition = definition_of(eservice)
        content = schemas.content_element(schema_of(eservice), definition.namespace, definition.root)
        found = {}
        for f in definition.fields:
            if f.is_group:
                row = schemas.resolve_element(content, f.xml, definition.namespace)
                for sub in f.fields:
                    found[f"{f.id}.{sub.id}"] = schemas.resolve_path(row, sub.xml, definition.namespace)
            else:
                found[f.id] = schemas.resolve_path(content, f.xml, definition.namespace)
        _components[eservice.id] = found
    return found


def offered() -> list[tuple[EService, ServiceDefinition]]:
    rows = db.session.scalars(select(EService).where(EService.current).order_by(EService.slug))
    return [(row, definition_of(row)) for row in rows]


def find(slug: str) -> tuple[EService, ServiceDefinition] | None:
    row = db.session.scalar(select(EService).where(EService.slug == slug, EService.current))
    return (row, definition_of(row)) if row else None


def _prefill(source: str, resident: Resident) -> str | None:
    if source == "resident.given_name":
        return resident.given_name
    if source == "resident.family_name":
        return resident.family_name
    if source.startswith("resident.address."):
        return (resident.address or {}).get(source.removeprefix("resident.address."))
    return None


def start_draft(resident: Resident, eservice: EService) -> Draft:
    draft = _new_draft(resident, eservice)
    db.session.commit()
    return draft


def _new_draft(resident: Resident, eservice: EService) -> Draft:
    """A draft with the answers known from the resident's identity already filled in (part of the caller's
    unit of work)."""
    definition = definition_of(eservice)
    values = {}
    for f in definition.fields:
        if f.prefill:
            value = _prefill(f.prefill, resident)
            if value:
                values[f.id] = value
    draft = Draft(resident_id=resident.id, eservice_id=eservice.id, values=values)
    db.session.add(draft)
    db.session.flush()
    audit.record("draft.started", "draft", draft.id, service=eservice.slug, version=eservice.version)
    return draft


REPLY_SERVICE = "pismo-ogolne"


def start_reply(resident: Resident, reply_to: str, title: str, kind: str = "wyjaśnienie",
                text: str | None = None) -> Draft | None:
    """A general letter answering an earlier submission (a supplement after a call from the office, a
    ponaglenie): its delivery joins the same case. None when the catalog does not offer the general letter."""
    found = find(REPLY_SERVICE)
    if found is None:
        return None
    draft = _new_draft(resident, found[0])
    draft.reply_to = reply_to
    draft.values = {**(draft.values or {}), "rodzaj": kind, "tytul": title[:250]}
    if text:
        draft.values["tresc"] = text
    db.session.commit()
    return draft


def draft_for(draft_id: str, resident: Resident) -> Draft | None:
    """A resident's own draft, or nothing: someone else's draft is indistinguishable from a missing one."""
    # The service, resident and attachments come along: every page of a draft needs them.
    draft = db.session.get(Draft, draft_id, options=[joinedload(Draft.eservice), selectinload(Draft.attachments)])
    if draft is None or draft.resident_id != resident.id:
        return None
    return draft


def save_step(draft: Draft, step: Step, values: dict[str, Any]) -> None:
    merged = dict(draft.values or {})
    for f in step.fields:
        merged[f.id] = values.get(f.id)
    draft.values = merged
    # Any change after a document was prepared invalidates it: what is signed must be what is shown.
    draft.document = None
    draft.signing_ref = None
    draft.state = "editing"
    db.session.commit()


def unfinished_steps(draft: Draft) -> list[str]:
    """Ids of visible steps whose stored answers do not pass the form's checks, in order.

    Stored answers are checked again before signing: a definition may have changed, a session may
    have ended mid-step (answers are then kept as typed), and what is signed must be valid.
    """
    definition = definition_of(draft.eservice)
    values = draft.values or {}
    parts = components(draft.eservice)
    unfinished = []
    for step_id in flow.step_ids(definition, values):
        if step_id == ATTACHMENTS_STEP:
            if missing_attachments(draft):
                unfinished.append(step_id)
            continue
        step = definition.step(step_id)
        assert step is not None
        form = wtf.step_form(step, parts, values, formdata=wtf.values_as_formdata(step, values), csrf=False)
        if not wtf.validate(form, step, values):
            unfinished.append(step_id)
    return unfinished


def missing_attachments(draft: Draft) -> list[AttachmentRule]:
    definition = definition_of(draft.eservice)
    have = {a.rule_id for a in draft.attachments}
    return [r for r in flow.attachment_rules(definition, draft.values or {}) if r.required and r.id not in have]


def add_attachment(draft: Draft, rule_id: str, filename: str, content: bytes) -> DraftAttachment:
    """Check the file against the rule by its content, store it content-addressed, attach it to the draft."""
    definition = definition_of(draft.eservice)
    rule = next((r for r in definition.attachments if r.id == rule_id), None)
    if rule is None:
        raise uploads.Refused("unknown attachment kind")
    name = uploads.safe_filename(filename)
    media_type = uploads.check(rule, name, content, sum(1 for a in draft.attachments if a.rule_id == rule_id))
    name = uploads.named_as(name, media_type)
    attachment = DraftAttachment(rule_id=rule_id, filename=name, media_type=media_type,
                                 sha256=storage_service.put(content), size=len(content))
    draft.attachments.append(attachment)
    draft.document = None
    draft.state = "editing"
    audit.record("draft.attachment_added", "draft", draft.id, rule=rule_id, sha256=attachment.sha256)
    db.session.commit()
    return attachment


def remove_attachment(draft: Draft, attachment_id: int) -> None:
    for attachment in list(draft.attachments):
        if attachment.id == attachment_id:
            draft.attachments.remove(attachment)
            draft.document = None
            draft.state = "editing"
    db.session.commit()


def office_addressee() -> document.Addressee:
    c = current_app.config
    return document.Addressee(c["OFFICE_NAME"], c["OFFICE_STREET"], c["OFFICE_BUILDING"], c["OFFICE_POSTCODE"],
                              c["OFFICE_TOWN"])


def prepare_document(draft: Draft) -> bytes:
    """Build (once) the exact XML the resident will sign, valid against the service's schema."""
    if draft.document is not None:
        return draft.document
    resident = draft.resident
    address = dict(resident.address or {})
    if address.get("street_address") and not address.get("street"):
        address["street"] = address["street_address"]
    sender = document.Sender(resident.given_name, resident.family_name, auth.resident_pesel(resident), address)
    definition = definition_of(draft.eservice)
    answers = draft.values or {}
    visible_rules = {r.id: r for r in flow.attachment_rules(definition, answers)}
    files = [document.AttachedFile(visible_rules[a.rule_id].label["pl"], a.filename, a.media_type, a.sha256)
             for a in draft.attachments if a.rule_id in visible_rules]
    xml = document.build(definition, schema_of(draft.eservice), flow.effective_answers(definition, answers), sender,
                         office_addressee(), draft.id, utcnow().astimezone(WARSAW).date(), files)
    draft.document = xml
    draft.state = "ready"
    db.session.commit()
    return xml


def discard(draft: Draft) -> None:
    audit.record("draft.discarded", "draft", draft.id)
    db.session.delete(draft)
    db.session.commit()


@dataclass
class RetentionReport:
    reminded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def deletion_date(draft: Draft) -> datetime:
    return draft.updated_at + timedelta(days=int(current_app.config["DRAFT_RETENTION_DAYS"]))


def remind_and_purge(now: datetime | None = None) -> RetentionReport:
    """Delete drafts left untouched for the retention period; remind residents (once) a few days before.

    A reminder goes only to a confirmed address and names the service and the date, nothing more.
    """
    from portal.notify import mail

    now = now or utcnow()
    retention = timedelta(days=int(current_app.config["DRAFT_RETENTION_DAYS"]))
    warn = timedelta(days=int(current_app.config["DRAFT_REMINDER_DAYS"]))
    report = RetentionReport()
    open_drafts = select(Draft).where(~Draft.submitted)
    for draft in db.session.scalars(open_drafts.where(Draft.updated_at < now - retention)).all():
        audit.record("draft.expired", "draft", draft.id, actor=("system", None))
        db.session.delete(draft)
        report.deleted.append(draft.id)
    db.session.commit()
    due = open_drafts.where(Draft.updated_at < now - retention + warn, Draft.reminded_at.is_(None))
    for draft in db.session.scalars(due).all():
        resident = draft.resident
        if not (resident.email and resident.email_confirmed_at):
            continue
        title = definition_of(draft.eservice).title["pl"]
        when = deletion_date(draft).astimezone(WARSAW).strftime("%d.%m.%Y")
        try:
            mail.send(resident.email, f"Niedokończony wniosek: {title}",
                      f"Dzień dobry,\n\nw portalu e-usług Urzędu Miasta Leszna masz niedokończony wniosek "
                      f"„{title}”.\nJeśli go nie dokończysz, usuniemy go {when}.\n\n"
                      f"Dokończysz go po zalogowaniu: {current_app.config['BASE_URL'].rstrip('/')}/moje-sprawy\n")
        except mail.MailNotSent:
            report.failed.append(draft.id)
            continue
        draft.reminded_at = now
        audit.record("draft.reminded", "draft", draft.id, actor=("system", None))
        db.session.commit()
        report.reminded.append(draft.id)
    return report


def open_drafts(resident: Resident, slug: str) -> list[Draft]:
    """The resident's unfinished drafts of one service (any version of it), newest first."""
    return [d for d in drafts_of(resident) if d.eservice.slug == slug]


def drafts_of(resident: Resident) -> list[Draft]:
    """The resident's unfinished drafts, newest first, with their services in one more query (the case list
    shows each draft's service: loaded one by one, that was a query per service). The prepared document's
    bytes, which the list does not show, stay in the database until read."""
    return list(db.session.scalars(
        select(Draft).where(Draft.resident_id == resident.id, ~Draft.submitted)
        .order_by(Draft.updated_at.desc())
        .options(selectinload(Draft.eservice), defer(Draft.document))
    ))
