"""The clerk desk's registry: every delivered submission gets an entry and a number in the RPW."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backoffice_adapter.base import Envelope
from portal.audit import service as audit
from portal.desk.models import IncomingParcel, RpwCounter
from portal.extensions import db

WARSAW = ZoneInfo("Europe/Warsaw")


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


def receive(envelope: Envelope) -> IncomingParcel:
    """Register a delivered submission; receiving the same submission again returns its first entry."""
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
        service_id=envelope.service_id,
        service_title=envelope.service_title,
        unit=envelope.unit,
        signature={k: envelope.signature.get(k) for k in ("indication", "valid", "signer", "signing_time", "reasons",
                                                          "chain", "certificate", "detached")},
        document=envelope.document,
        upo=envelope.upo,
    )
    db.session.add(parcel)
    db.session.flush()
    audit.record("desk.registered", "incoming_parcel", str(parcel.id), actor=("system", None),
                 submission=envelope.submission_id, rpw=parcel.rpw)
    return parcel


def incoming(unit: str | None = None) -> list[IncomingParcel]:
    query = select(IncomingParcel).order_by(IncomingParcel.rpw_year.desc(), IncomingParcel.rpw_number.desc())
    if unit:
        query = query.where(IncomingParcel.unit == unit)
    return list(db.session.scalars(query))
