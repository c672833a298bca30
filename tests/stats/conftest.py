"""Submissions and case events for the figures: each made through the inbox by the factories, then
moved to the service, the resident and the moment a test needs (the figures read only those)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from portal.auth import pii
from portal.auth.models import Resident
from portal.clock import WARSAW
from portal.extensions import db
from portal.forms.models import EService
from portal.inbox.models import Submission
from portal.stats import service as stats
from portal.status import service as status
from tests.factories import make_resident, make_submission

SANDBOX_PESELS = ("80010112357", "92051702482", "01230804662", "75113001574")
NOW = datetime(2026, 7, 15, 10, tzinfo=UTC)  # the period: August 2025 to July 2026
MONTHS = [f"{year}-{month:02d}" for year, month in [(2025, m) for m in range(8, 13)] + [(2026, m) for m in range(1, 8)]]
LETTER, FOI, WASTE = "pismo-ogolne", "informacja-publiczna", "deklaracja-odpady"  # kpa-1m, foi-14d, notification
OTHERS = ("usuniecie-drzew", "zajecie-pasa-drogowego", "zaswiadczenie")


@pytest.fixture(autouse=True)
def _no_cached_figures(app: Flask) -> Iterator[None]:
    """The figures are cached per application, and the test application lives for the whole session."""
    with app.app_context():
        stats.clear_cache()
    yield
    with app.app_context():
        stats.clear_cache()


def warsaw(moment: str) -> datetime:
    """A moment written in Polish local time: "2026-03-02 10:00"."""
    return datetime.fromisoformat(moment).replace(tzinfo=WARSAW)


def residents(count: int) -> list[Resident]:
    """The sandbox's four residents first (the factories sign in their names), then made-up ones."""
    made = [make_resident(pesel) for pesel in SANDBOX_PESELS[:count]]
    for number in range(len(made), count):
        pesel = f"900101{number:05d}"
        made.append(Resident(pesel_index=pii.blind_index(pesel), pesel_encrypted=pii.encrypt(pesel),
                             given_name="Wiesława", family_name=f"Statystyczna-{number}"))
        db.session.add(made[-1])
    db.session.commit()
    return made


def submitted(pki: Path, resident: Resident, slug: str, at: datetime) -> Submission:
    """A real submission (signed, received, receipted), then set to `slug`, `resident` and the moment `at`."""
    submission = make_submission(pki, db.session.get(Resident, _signer(resident)))
    submission.eservice_id = db.session.query(EService.id).filter_by(slug=slug, current=True).scalar()
    submission.resident_id = resident.id
    submission.filed_at = at
    db.session.commit()
    return submission


def event(submission: Submission, kind: str, at: datetime, **data: Any) -> None:
    """A back-office event on the case, recorded as the status tracker records it."""
    status.record_event(submission.id, kind, f"test:{submission.id}:{kind}:{at.isoformat()}", at=at, **data)
    db.session.commit()


def _signer(resident: Resident) -> int:
    """The sandbox signs only for its own residents: made-up residents borrow the first one's signature."""
    if resident.family_name.startswith("Statystyczna-"):
        return db.session.query(Resident.id).filter_by(pesel_index=pii.blind_index(SANDBOX_PESELS[0])).scalar()
    return resident.id


@pytest.fixture
def office(app: Flask, ctx: None, catalog: None, pki: Path) -> dict[str, Submission]:
    """Seven residents, eighteen submissions, thirteen cases settled in the period.

    General letters (1 month, KPA art. 35), settled after … days, in time?
      L1–L3 filed Mon 2 March 2026, due Thu 2 April: decided 20 March (18, yes), 2 April (31, yes), 3 April (32, no)
      L4 filed 16 March, due 16 April; a call to supplement 20 → 30 March moves it by 10 days to Sun 26 April,
         so Mon 27 April: decided 24 April (39, yes — it would be late without the pause)
      L5 filed 16 March; a notice of delay sets 15 May: decided 10 May (55, yes)
      L6 filed 16 March, closed 18 March (2, yes)
      L7 filed 31 March 22:30 UTC, which is 1 April in Poland: open
      L8 filed 31 July 2025 23:59 in Poland (before the period), L9 one minute later (in August 2025): open
      O1 filed and decided before the period; O2 decided before it and closed in it: neither counts
    Public information (14 days): I1, I2 filed 1 April, due 15 April, decided 10 April (9, yes)
    Waste declarations (no statutory deadline): W1–W5 filed 7 April, closed after 3, 3, 4, 5 and 10 days
    """
    people = residents(7)
    made: dict[str, Submission] = {}

    def add(name: str, who: int, slug: str, at: datetime) -> Submission:
        made[name] = submitted(pki, people[who], slug, at)
        return made[name]

    for name, who, day in [("L1", 0, "02"), ("L2", 1, "02"), ("L3", 2, "02"), ("L4", 3, "16"), ("L5", 4, "16"),
                           ("L6", 5, "16")]:
        add(name, who, LETTER, warsaw(f"2026-03-{day} 1{who}:00"))
    add("L7", 0, LETTER, datetime(2026, 3, 31, 22, 30, tzinfo=UTC))
    add("L8", 0, LETTER, warsaw("2025-07-31 23:59"))
    add("L9", 1, LETTER, warsaw("2025-08-01 00:00"))
    add("O1", 6, LETTER, warsaw("2025-05-05 10:00"))
    add("O2", 6, LETTER, warsaw("2025-06-02 10:00"))
    add("I1", 0, FOI, warsaw("2026-04-01 10:00"))
    add("I2", 1, FOI, warsaw("2026-04-01 11:00"))
    for number in range(5):
        add(f"W{number + 1}", number, WASTE, warsaw("2026-04-07 10:00"))

    decided = {"L1": "2026-03-20", "L2": "2026-04-02", "L3": "2026-04-03", "L4": "2026-04-24", "L5": "2026-05-10",
               "I1": "2026-04-10", "I2": "2026-04-10", "O1": "2025-06-01", "O2": "2025-07-10"}
    for name, day in decided.items():
        event(made[name], status.DECISION, warsaw(f"{day} 12:00"), summary="Decyzja")
    event(made["L4"], status.SUPPLEMENT_REQUESTED, warsaw("2026-03-20 09:00"), message="Proszę o podpis.")
    event(made["L4"], status.SUPPLEMENTED, warsaw("2026-03-30 09:00"), receipt_id="OK-1")
    event(made["L5"], status.DELAY_NOTIFIED, warsaw("2026-04-10 09:00"), reason="Opinia", new_date="2026-05-15")
    event(made["L6"], status.STATUS_CHANGED, warsaw("2026-03-18 12:00"), status="closed")
    event(made["O2"], status.STATUS_CHANGED, warsaw("2025-08-05 12:00"), status="closed")
    for number, days in enumerate([3, 3, 4, 5, 10]):
        event(made[f"W{number + 1}"], status.STATUS_CHANGED, warsaw(f"2026-04-{7 + days:02d} 12:00"), status="closed")
    event(made["L7"], status.STATUS_CHANGED, warsaw("2026-04-02 12:00"), status="in_progress")
    return made
