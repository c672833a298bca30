"""The clerk desk: the incoming register (RPW), assignment, cases and their work, to the decision.

Every act that the resident should see becomes a case event (`portal.status`) in the same
transaction as the act, with the source "desk" — the same events an EZD would send — so the
resident's page reads the same whichever back office the office uses.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import String, cast, func, literal, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer, selectinload

from backoffice_adapter.base import CaseUpdate, Envelope
from portal.audit import service as audit
from portal.auth.models import Clerk
from portal.clock import WARSAW
from portal.db_types import utcnow
from portal.desk import letters
from portal.desk.models import (
    CaseCounter,
    DeskCase,
    IncomingParcel,
    OutgoingLetter,
    RpwCounter,
    SupplementRequest,
)
from portal.edoreczenia import service as edoreczenia
from portal.extensions import db
from portal.status import deadlines
from portal.status import service as status
from portal.xmlsafe import UnsafeXml
from portal.xmlsafe import parse as parse_xml

SOURCE = "desk"
SUPPLEMENT_MIN_DAYS = 7  # KPA art. 64 §2: "not less than seven days"
WHOLE_OFFICE_ROLES = {"registry_clerk", "admin"}
CASE_WORK_ROLES = {"clerk", "head_of_unit"}


class DeskError(ValueError):
    """An act the desk refuses, with the message (Polish) the clerk sees next to the form."""


def today() -> date:
    """Today in the office's time zone: what deadlines are counted against."""
    return utcnow().astimezone(WARSAW).date()


# --- who may see and do what -------------------------------------------------------------------


def sees_whole_office(clerk: Clerk) -> bool:
    return bool(WHOLE_OFFICE_ROLES & set(clerk.roles))


def scope(clerk: Clerk) -> str | None:
    """The unit whose parcels and cases the clerk sees; None for the registry and administrators."""
    return None if sees_whole_office(clerk) else (clerk.effective_unit or "-")


def may_see_parcel(clerk: Clerk, parcel: IncomingParcel) -> bool:
    unit = scope(clerk)
    return unit is None or parcel.unit == unit


def may_see_case(clerk: Clerk, case: DeskCase) -> bool:
    unit = scope(clerk)
    return unit is None or case.unit == unit


def may_assign(clerk: Clerk, parcel: IncomingParcel) -> bool:
    """The registry assigns to any unit; a head of unit within the unit."""
    roles = set(clerk.roles)
    if roles & WHOLE_OFFICE_ROLES:
        return True
    return "head_of_unit" in roles and parcel.unit == clerk.effective_unit


def may_work(clerk: Clerk, unit: str | None) -> bool:
    """Case work (registering, status, calls, letters) is for the unit's case officers and its head."""
    return bool(CASE_WORK_ROLES & set(clerk.roles)) and unit is not None and unit == clerk.effective_unit


# --- the incoming register ---------------------------------------------------------------------


def _next_rpw_number(year: int) -> int:
    """The next number in the year's register; the row lock keeps concurrent registrations apart."""
    counter = db.session.get(RpwCounter, year, with_for_update=True)
    if counter is None:
        try:
            with db.session.begin_nested():
                db.session.add(RpwCounter(year=year, last_number=0))
        except IntegrityError:
            pass  # another registration created the year's counter first
        counter = db.session.get(RpwCounter, year, with_for_update=True, populate_existing=True)
    assert counter is not None
    counter.last_number += 1
    return counter.last_number


def _event(submission_id: str, kind: str, key: str, **data: str) -> None:
    status.add_update(SOURCE, CaseUpdate(key, submission_id, kind, utcnow(), data))
    parcel = parcel_of(submission_id)
    if parcel is not None:
        parcel.due_on = _due_on(parcel)  # a call to supplement, a suspension or a notice of delay moves it


def letter_subject(document: bytes) -> str | None:
    """The letter's own title: `Tytul` in `TrescDokumentu`, as the CRWDE general letter (and an ePUAP one)
    carries it. A dedicated service's form has none: its subject is the service itself."""
    try:
        root = parse_xml(document)
    except UnsafeXml:
        return None
    found = root.find(".//{*}TrescDokumentu/{*}Tytul")
    text = " ".join((found.text or "").split()) if found is not None else ""
    return text[:400] or None


def _due_on(parcel: IncomingParcel) -> date | None:
    """The day the office must settle the parcel's case by, as the resident's page counts it: the service's
    statutory period from the filing, moved by pauses (art. 35 §5) and notices of delay (art. 36); None
    while paused, for a supplement or ponaglenie (the answered case holds the deadline), or without a period."""
    if parcel.reply_to:
        return None
    from portal.inbox import service as inbox
    from portal.inbox.models import Submission

    submission = db.session.get(Submission, parcel.submission_id)
    if submission is None:
        return None
    procedure = inbox.definition_of(submission).procedure
    try:
        return deadlines.for_case(procedure, parcel.filed_at, status.timeline(parcel.submission_id)).due
    except (ValueError, OverflowError):  # a date the register cannot show must not stop a registration
        return None


def receive(envelope: Envelope) -> IncomingParcel:
    """Register a delivered submission; receiving the same submission again returns its first entry.

    A supplement (a submission answering an earlier one) joins the earlier one's case at once and
    settles the open call to supplement.
    """
    existing = db.session.scalar(select(IncomingParcel).where(IncomingParcel.submission_id == envelope.submission_id))
    if existing is not None:
        return existing
    year = envelope.filed_at.astimezone(WARSAW).year
    parcel = IncomingParcel(
        submission_id=envelope.submission_id,
        rpw_number=_next_rpw_number(year),
        rpw_year=year,
        filed_at=envelope.filed_at,
        receipt_id=envelope.receipt_id,
        sender_name=envelope.sender_name,
        channel=envelope.channel,
        sender_address=envelope.sender_address,
        service_id=envelope.service_id,
        service_title=envelope.service_title,
        unit=envelope.unit,
        jrwa_class=envelope.jrwa_class,
        signature={k: envelope.signature.get(k) for k in ("indication", "valid", "signer", "signing_time", "reasons",
                                                          "chain", "certificate", "detached", "form",
                                                          "signatures")},
        document=envelope.document,
        upo=envelope.upo,
        detached_signature=envelope.detached_signature,
        attachments=[{"name": a.name, "media_type": a.media_type, "size": len(a.content), "sha256": a.sha256,
                      **({"signature": a.signature} if a.signature is not None else {})}
                     for a in envelope.attachments],
        reply_to=envelope.reply_to,
        subject=envelope.subject or letter_subject(envelope.document),
    )
    parcel.due_on = _due_on(parcel)
    db.session.add(parcel)
    db.session.flush()
    audit.record("desk.registered", "submission", envelope.submission_id, actor=("system", None), rpw=parcel.rpw)
    if envelope.reply_to:
        _join_answered_case(parcel, envelope)
    return parcel


def _join_answered_case(parcel: IncomingParcel, envelope: Envelope) -> None:
    answered = db.session.scalar(select(IncomingParcel).where(IncomingParcel.submission_id == envelope.reply_to))
    case = answered.case if answered is not None else None
    if case is None:
        return
    parcel.case, parcel.unit, parcel.assigned_clerk_id = case, case.unit, case.handler_id
    request = case.open_supplement
    if request is not None:
        request.fulfilled_at, request.fulfilled_submission_id = utcnow(), envelope.submission_id
    _event(case.submission_id, status.SUPPLEMENTED, f"supplemented:{envelope.submission_id}",
           receipt_id=envelope.receipt_id)


SORTS = ("wplyw", "termin", "tytul")  # the register's sortable columns: filing date, deadline, subject


@dataclass
class RegisterFilter:
    text: str = ""
    unread: bool = False
    unassigned: bool = False
    mine: bool = False
    without_case: bool = False
    sort: str = "wplyw"
    descending: bool = True  # newest filing first, as the register opens


def _contains(column: Any, text: str) -> Any:
    # lower() on both sides: PostgreSQL's LIKE is case-sensitive, SQLite's folds ASCII only (portal/db_types.py
    # gives it a lower() that folds every letter). autoescape: a typed % or _ is looked for, not a wildcard.
    return func.lower(column).contains(text.lower(), autoescape=True)


def incoming(clerk: Clerk, what: RegisterFilter | None = None, limit: int = 500) -> list[IncomingParcel]:
    """The register as this clerk may see it, filtered and sorted (newest first unless asked otherwise)."""
    what = what or RegisterFilter()
    query = select(IncomingParcel).options(
        defer(IncomingParcel.document), defer(IncomingParcel.upo), defer(IncomingParcel.detached_signature),
        selectinload(IncomingParcel.assigned_clerk),
        selectinload(IncomingParcel.case).selectinload(DeskCase.supplements))
    if (unit := scope(clerk)) is not None:
        query = query.where(IncomingParcel.unit == unit)
    if what.unread:
        query = query.where(IncomingParcel.read_at.is_(None))
    if what.unassigned:
        query = query.where(IncomingParcel.assigned_clerk_id.is_(None))
    if what.mine:
        query = query.where(IncomingParcel.assigned_clerk_id == clerk.id)
    if what.without_case:
        query = query.where(IncomingParcel.case_id.is_(None))
    if text := what.text.strip():
        # No concat(): SQLite has it only from 3.44 (Debian 12 ships 3.40); `+` on strings is || on both.
        rpw = literal("RPW/") + cast(IncomingParcel.rpw_number, String) + "/" + cast(IncomingParcel.rpw_year, String)
        query = query.outerjoin(DeskCase, DeskCase.id == IncomingParcel.case_id).where(or_(
            _contains(IncomingParcel.sender_name, text),
            _contains(IncomingParcel.service_title, text),
            _contains(IncomingParcel.subject, text),
            _contains(IncomingParcel.receipt_id, text),
            _contains(DeskCase.reference, text),
            _contains(rpw, text),
        ))
    return list(db.session.scalars(query.order_by(*_order(what)).limit(limit)))


def _order(what: RegisterFilter) -> list[Any]:
    def way(column: Any) -> Any:
        return column.desc() if what.descending else column.asc()

    filed = [way(IncomingParcel.filed_at), way(IncomingParcel.id)]
    if what.sort == "termin":  # parcels without a deadline (or paused) come last either way
        return [way(IncomingParcel.due_on).nulls_last(), *filed]
    if what.sort == "tytul":
        return [way(func.lower(func.coalesce(IncomingParcel.subject, IncomingParcel.service_title))), *filed]
    return filed


def open_parcel(clerk: Clerk, parcel: IncomingParcel) -> None:
    """A clerk opened the parcel: read from now on, and the resident can see who and when."""
    if parcel.read_at is None:
        parcel.read_at = utcnow()
    audit.record("desk.opened", "submission", parcel.submission_id, actor=("clerk", str(clerk.id)), rpw=parcel.rpw)
    db.session.commit()


def assign(clerk: Clerk, parcel: IncomingParcel, unit: str, assignee: Clerk | None, units: dict[str, str]) -> None:
    """Dekretacja: the parcel goes to a unit and, optionally, to one of its clerks."""
    if not may_assign(clerk, parcel):
        raise DeskError(_("Nie możesz dekretować tej przesyłki."))
    if unit not in units:
        raise DeskError(_("Wybierz komórkę z listy."))
    if not sees_whole_office(clerk) and unit != clerk.effective_unit:
        raise DeskError(_("Kierownik dekretuje w obrębie swojej komórki."))
    if assignee is not None and assignee.effective_unit != unit:
        raise DeskError(_("Wybrany pracownik nie należy do tej komórki."))
    if parcel.case is not None:
        raise DeskError(_("Przesyłka jest już w sprawie; zmień prowadzącego sprawę."))
    parcel.unit, parcel.assigned_clerk_id, parcel.assigned_at = unit, assignee.id if assignee else None, utcnow()
    data = {"unit": unit}
    if assignee is not None:
        data["handler"] = assignee.display_name
    _event(parcel.submission_id, status.ASSIGNED, f"assigned:{parcel.id}:{uuid.uuid4().hex[:8]}", **data)
    audit.record("desk.assigned", "submission", parcel.submission_id, actor=("clerk", str(clerk.id)), unit=unit,
                 clerk=assignee.id if assignee else None)
    db.session.commit()


def clerks_of(unit: str) -> list[Clerk]:
    everyone = db.session.scalars(select(Clerk).order_by(Clerk.display_name))
    return [c for c in everyone if c.effective_unit == unit and CASE_WORK_ROLES & set(c.roles)]


# --- cases -------------------------------------------------------------------------------------


def _next_case_number(unit: str, jrwa_class: str, year: int) -> int:
    """The next number in a unit, JRWA class and year. The counter row is locked until commit, so
    clerks registering at the same moment get consecutive numbers, never the same one."""
    key = (unit, jrwa_class, year)
    counter = db.session.get(CaseCounter, key, with_for_update=True)
    if counter is None:
        try:
            with db.session.begin_nested():
                db.session.add(CaseCounter(unit=unit, jrwa_class=jrwa_class, year=year, last_number=0))
        except IntegrityError:
            pass  # created by a concurrent registration: lock theirs
        counter = db.session.get(CaseCounter, key, with_for_update=True, populate_existing=True)
    assert counter is not None
    counter.last_number += 1
    return counter.last_number


def case_reference(unit: str, jrwa_class: str, number: int, year: int) -> str:
    """Znak sprawy per the office manual: unit code . JRWA class . number . year (e.g. OR.1431.12.2026)."""
    return f"{unit}.{jrwa_class}.{number}.{year}"


def register_case(clerk: Clerk, parcel: IncomingParcel, title: str | None = None) -> DeskCase:
    """Open a new case for the parcel; the clerk becomes its handler."""
    if parcel.case is not None:
        raise DeskError(_("Przesyłka jest już w sprawie %(ref)s.", ref=parcel.case.reference))
    if not may_work(clerk, parcel.unit):
        raise DeskError(_("Sprawy zakłada pracownik komórki, do której zadekretowano przesyłkę."))
    if not parcel.jrwa_class:
        raise DeskError(_("Usługa nie ma klasy JRWA w katalogu; uzupełnij definicję usługi."))
    unit, year = str(parcel.unit), utcnow().astimezone(WARSAW).year
    number = _next_case_number(unit, parcel.jrwa_class, year)
    case = DeskCase(reference=case_reference(unit, parcel.jrwa_class, number, year), unit=unit,
                    jrwa_class=parcel.jrwa_class, number=number, year=year,
                    title=(title or parcel.service_title).strip()[:400], submission_id=parcel.submission_id,
                    handler_id=clerk.id, status="in_progress")
    db.session.add(case)
    parcel.case, parcel.assigned_clerk_id = case, parcel.assigned_clerk_id or clerk.id
    db.session.flush()
    _event(parcel.submission_id, status.CASE_OPENED, f"case:{case.id}:opened", case_reference=case.reference,
           unit=unit, handler=clerk.display_name)
    audit.record("desk.case_registered", "submission", parcel.submission_id, actor=("clerk", str(clerk.id)),
                 case=case.reference)
    db.session.commit()
    return case


def attach(clerk: Clerk, parcel: IncomingParcel, case: DeskCase) -> None:
    """Add the parcel to an existing case of the unit (a further letter in the same matter)."""
    if parcel.case is not None:
        raise DeskError(_("Przesyłka jest już w sprawie %(ref)s.", ref=parcel.case.reference))
    if not may_work(clerk, case.unit) or parcel.unit != case.unit:
        raise DeskError(_("Przesyłkę można dołączyć tylko do sprawy swojej komórki."))
    parcel.case = case
    _event(parcel.submission_id, status.CASE_OPENED, f"case:{case.id}:parcel:{parcel.id}",
           case_reference=case.reference, unit=case.unit)
    audit.record("desk.case_attached", "submission", parcel.submission_id, actor=("clerk", str(clerk.id)),
                 case=case.reference)
    db.session.commit()


def open_cases(unit: str | None) -> list[DeskCase]:
    query = select(DeskCase).where(DeskCase.status != "closed").order_by(DeskCase.opened_at.desc())
    if unit is not None:
        query = query.where(DeskCase.unit == unit)
    return list(db.session.scalars(query))


def cases(clerk: Clerk, include_closed: bool = False) -> list[DeskCase]:
    query = select(DeskCase).order_by(DeskCase.opened_at.desc())
    if (unit := scope(clerk)) is not None:
        query = query.where(DeskCase.unit == unit)
    if not include_closed:
        query = query.where(DeskCase.status != "closed")
    return list(db.session.scalars(query))


def view_case(clerk: Clerk, case: DeskCase) -> None:
    """Every opening of a case by a clerk is in the audit log, and shown to the resident."""
    audit.record("desk.case_viewed", "submission", case.submission_id, actor=("clerk", str(clerk.id)),
                 case=case.reference)
    db.session.commit()


def _require_work(clerk: Clerk, case: DeskCase) -> None:
    if not may_work(clerk, case.unit):
        raise DeskError(_("Tę sprawę prowadzi inna komórka."))
    if case.status == "closed":
        raise DeskError(_("Sprawa jest zakończona."))


def change_status(clerk: Clerk, case: DeskCase, new_status: str, reason: str) -> None:
    _require_work(clerk, case)
    if new_status not in status.CASE_STATUSES or new_status == "closed":
        raise DeskError(_("Wybierz stan z listy (sprawę kończy przycisk „Zakończ sprawę”)."))
    if not reason.strip():
        raise DeskError(_("Podaj powód zmiany stanu — mieszkaniec go zobaczy."))
    case.status = new_status
    _event(case.submission_id, status.STATUS_CHANGED, f"case:{case.id}:status:{uuid.uuid4().hex[:8]}",
           status=new_status, reason=reason.strip())
    audit.record("desk.status", "submission", case.submission_id, actor=("clerk", str(clerk.id)), status=new_status)
    db.session.commit()


def request_supplement(clerk: Clerk, case: DeskCase, message: str, due: date, today: date | None = None) -> None:
    """KPA art. 64 §2: what is missing and a period of at least seven days."""
    _require_work(clerk, case)
    today = today or utcnow().astimezone(WARSAW).date()
    if not message.strip():
        raise DeskError(_("Napisz, czego brakuje — mieszkaniec zobaczy tę treść."))
    if due < today + timedelta(days=SUPPLEMENT_MIN_DAYS):
        earliest = (today + timedelta(days=SUPPLEMENT_MIN_DAYS)).strftime("%d.%m.%Y")
        raise DeskError(_("Termin na uzupełnienie to co najmniej 7 dni (art. 64 § 2 KPA): najwcześniej %(date)s.",
                          date=earliest))
    if case.open_supplement is not None:
        raise DeskError(_("W tej sprawie czeka już wezwanie do uzupełnienia."))
    request = SupplementRequest(case=case, message=message.strip(), due_date=due, requested_by=clerk.id)
    db.session.add(request)
    db.session.flush()
    _event(case.submission_id, status.SUPPLEMENT_REQUESTED, f"supplement:{request.id}", message=request.message,
           due=due.isoformat(), case_reference=case.reference)
    audit.record("desk.supplement_requested", "submission", case.submission_id, actor=("clerk", str(clerk.id)),
                 due=due.isoformat())
    db.session.commit()


def notify_delay(clerk: Clerk, case: DeskCase, reason: str, new_date: date, today: date | None = None) -> None:
    """KPA art. 36: the reason for the delay and the new date of settling the case."""
    _require_work(clerk, case)
    today = today or utcnow().astimezone(WARSAW).date()
    if not reason.strip():
        raise DeskError(_("Podaj przyczynę zwłoki (art. 36 KPA)."))
    if new_date <= today:
        raise DeskError(_("Nowy termin musi być późniejszy niż dziś."))
    case.due_date = new_date
    _event(case.submission_id, status.DELAY_NOTIFIED, f"case:{case.id}:delay:{new_date.isoformat()}",
           reason=reason.strip(), new_date=new_date.isoformat())
    audit.record("desk.delay_notified", "submission", case.submission_id, actor=("clerk", str(clerk.id)),
                 new_date=new_date.isoformat())
    db.session.commit()


def send_letter(clerk: Clerk, case: DeskCase, kind: str, title: str, filename: str, content: bytes,
                summary: str = "") -> OutgoingLetter:
    """Deliver a signed answer or decision to the resident through the portal, once its signature is verified
    here (`content` may be up to one byte over the limit: so a larger upload is known to be too large)."""
    from portal.storage import service as storage

    if len(content) > letters.MAX_LETTER_BYTES:
        raise DeskError(_("Plik jest za duży (najwyżej 20 MB)."))
    verdict = letters.check_signed_file(content)
    if not verdict.get("valid"):
        raise DeskError(_("Podpis pisma nie jest ważny: %(reasons)s. Pismo nie zostało wysłane.",
                          reasons="; ".join(str(r) for r in verdict.get("reasons", [])) or "—"))
    _require_work(clerk, case)
    if kind not in ("answer", "decision"):
        raise DeskError(_("Wybierz rodzaj pisma."))
    if not title.strip():
        raise DeskError(_("Podaj tytuł pisma — mieszkaniec zobaczy go w portalu."))
    if kind == "decision" and not summary.strip():
        raise DeskError(_("Streść rozstrzygnięcie w jednym zdaniu — mieszkaniec zobaczy je w przebiegu sprawy."))
    media_type = "application/pdf" if content.startswith(b"%PDF") else "application/xml"
    # The channel rule runs again at sending (the form showed it, but an address may have been registered since);
    # asked before anything is written, so no transaction waits on the address database.
    choice = edoreczenia.plan(case)
    letter = OutgoingLetter(case=case, kind=kind, title=title.strip()[:400], filename=filename[:200],
                            media_type=media_type, sha256=storage.put(content), verdict=verdict, created_by=clerk.id)
    db.session.add(letter)
    edoreczenia.enqueue(letter, choice)  # the dispatch commits with the letter (the outbox's promise)
    db.session.flush()
    _event(case.submission_id, status.LETTER_SENT, f"letter:{letter.id}", title=letter.title,
           letter_id=str(letter.id))
    if kind == "decision":
        _event(case.submission_id, status.DECISION, f"letter:{letter.id}:decision", summary=summary.strip(),
               case_reference=case.reference)
    audit.record("desk.letter_sent", "submission", case.submission_id, actor=("clerk", str(clerk.id)),
                 letter=letter.id, kind=kind, sha256=letter.sha256)
    db.session.commit()
    return letter


def close_case(clerk: Clerk, case: DeskCase, reason: str) -> None:
    _require_work(clerk, case)
    if not reason.strip():
        raise DeskError(_("Podaj, jak sprawa została załatwiona."))
    if case.open_supplement is not None:
        raise DeskError(_("W sprawie czeka wezwanie do uzupełnienia; zmień je albo poczekaj na odpowiedź."))
    case.status, case.closed_at = "closed", utcnow()
    _event(case.submission_id, status.STATUS_CHANGED, f"case:{case.id}:closed", status="closed",
           reason=reason.strip())
    audit.record("desk.case_closed", "submission", case.submission_id, actor=("clerk", str(clerk.id)))
    db.session.commit()


# --- what the resident sees of the desk --------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    clerk_name: str
    unit: str | None
    first: datetime
    last: datetime
    count: int


def openings(submission_id: str) -> list[Opening]:
    """Who in the office opened this submission or its case, when first and last, how often (from the audit log)."""
    rows = db.session.execute(
        select(Clerk.display_name, Clerk.assigned_unit, Clerk.unit, func.min(audit.AuditEntry.at),
               func.max(audit.AuditEntry.at), func.count())
        .join(Clerk, audit.AuditEntry.actor_id == func.cast(Clerk.id, db.String))
        .where(audit.AuditEntry.actor_kind == "clerk", audit.AuditEntry.object_type == "submission",
               audit.AuditEntry.object_id == submission_id,
               audit.AuditEntry.action.in_(["desk.opened", "desk.case_viewed"]))
        .group_by(Clerk.id, Clerk.display_name, Clerk.assigned_unit, Clerk.unit)
        .order_by(func.max(audit.AuditEntry.at).desc())
    ).all()
    return [Opening(name, assigned or unit, first, last, count) for name, assigned, unit, first, last, count in rows]


def letters_for(submission_id: str) -> list[OutgoingLetter]:
    return list(db.session.scalars(
        select(OutgoingLetter).join(DeskCase).where(DeskCase.submission_id == submission_id)
        .order_by(OutgoingLetter.id)))


def parcel_of(submission_id: str) -> IncomingParcel | None:
    return db.session.scalar(select(IncomingParcel).where(IncomingParcel.submission_id == submission_id))


def has_parcel(submission_id: str) -> bool:
    """Whether the desk's register holds the submission. Only the id is read: the row also carries the
    signed document and the UPO, which the resident's case page would otherwise fetch on every view."""
    return db.session.scalar(
        select(IncomingParcel.id).where(IncomingParcel.submission_id == submission_id)) is not None


def case_of(submission_id: str) -> DeskCase | None:
    return db.session.scalar(select(DeskCase).where(DeskCase.submission_id == submission_id))


# --- exports -----------------------------------------------------------------------------------


def record_export(clerk: Clerk, case: DeskCase) -> None:
    audit.record("desk.case_exported", "submission", case.submission_id, actor=("clerk", str(clerk.id)),
                 case=case.reference)
    db.session.commit()


def register_csv(parcels: list[IncomingParcel]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(["numer_rpw", "data_wplywu", "nadawca", "usluga", "identyfikator_upo", "komorka",
                     "przydzielono", "znak_sprawy", "podpis_wazny", "zalaczniki", "przeczytana"])
    for p in parcels:
        writer.writerow([p.rpw, p.filed_at.astimezone(WARSAW).isoformat(timespec="seconds"), _csv_safe(p.sender_name),
                         _csv_safe(p.service_title), p.receipt_id, p.unit or "",
                         _csv_safe(p.assigned_clerk.display_name) if p.assigned_clerk else "",
                         p.case.reference if p.case else "", "tak" if (p.signature or {}).get("valid") else "nie",
                         len(p.attachments or []), "tak" if p.read_at else "nie"])
    return out.getvalue()


def _csv_safe(value: str) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas: a resident's name must stay text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
