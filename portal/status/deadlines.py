"""When the office must settle a case: the statutory deadline, counted as the KPA counts it.

- The period depends on the service's procedure type: art. 35 KPA (immediately, 1 month, 2 months),
  art. 217 (certificates, 7 days), the FOI act art. 13 (14 days), art. 237 (complaints and motions,
  1 month), or N days of a special statute.
- Art. 57: a period in days starts the day after the filing and ends with its last day; a period in
  months ends on the day of the month matching the filing day (or the month's last day if it has no
  such day); an end on a Saturday or a public holiday (Sundays included) moves to the next working day.
- Art. 35 §5: days while a call to supplement is open (art. 64 §2) or the case is suspended do not
  count; the deadline moves by as many days. While such a pause lasts, there is no due date.
- Art. 36: a notice of delay sets a new date, which is then the deadline.

The filing day is the UPO's `DataDoreczenia` in Polish time.
"""

from __future__ import annotations

import calendar
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

import holidays

from portal.clock import WARSAW
from portal.status.events import (
    DELAY_NOTIFIED,
    IN_PROGRESS,
    RESUMED,
    STATUS_CHANGED,
    SUPPLEMENT_REQUESTED,
    SUPPLEMENTED,
    SUSPENDED,
    settles,
)

DAY_PERIODS = {"certificate-7d": 7, "foi-14d": 14}
MONTH_PERIODS = {"kpa-1m": 1, "kpa-2m": 2, "complaint-1m": 1}
PROCEDURES = ("immediate", "kpa-1m", "kpa-2m", "certificate-7d", "foi-14d", "complaint-1m", "days-N")


class UnknownProcedure(ValueError):
    pass


@dataclass(frozen=True)
class Pause:
    """Days that do not count: from `start` (the call or the suspension) to `end` (the answer or the
    resumption); `end` None while it lasts."""

    start: date
    end: date | None = None

    @property
    def days(self) -> int:
        return max(0, (self.end - self.start).days) if self.end else 0


@dataclass(frozen=True)
class Deadline:
    procedure: str
    filed_on: date
    statutory_end: date | None = None  # the period's last day before pauses and weekends
    due: date | None = None  # the day the office must settle by; None: no deadline, or paused now
    paused_days: int = 0
    paused_now: bool = False
    extended_to: date | None = None  # set by an art. 36 notice of delay
    moved_from: date | None = None  # the day the period ended, when a weekend or holiday moved it
    settled_on: date | None = None
    pauses: tuple[Pause, ...] = field(default=())

    @property
    def has_deadline(self) -> bool:
        return self.procedure != "notification"

    def overdue(self, today: date) -> bool:
        return self.settled_on is None and self.due is not None and today > self.due

    def settled_in_time(self) -> bool | None:
        if self.settled_on is None or self.due is None:
            return None
        return self.settled_on <= self.due

    def days_left(self, today: date) -> int | None:
        return (self.due - today).days if self.due is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "procedure": self.procedure,
            "filed_on": self.filed_on.isoformat(),
            "statutory_end": self.statutory_end.isoformat() if self.statutory_end else None,
            "paused_days": self.paused_days,
            "paused_now": self.paused_now,
            "extended_to": self.extended_to.isoformat() if self.extended_to else None,
            "moved_from": self.moved_from.isoformat() if self.moved_from else None,
            "due": self.due.isoformat() if self.due else None,
        }


@lru_cache(maxsize=64)
def _polish_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.Poland(years=year))


def is_working_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _polish_holidays(day.year)


def next_working_day(day: date) -> date:
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def add_months(day: date, months: int) -> date:
    """Art. 57 §3: the matching day of the month, or the last day of a month that has no such day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def statutory_end(procedure: str, filed_on: date) -> date | None:
    """The last day of the period (before pauses and the weekend rule); None when there is no period."""
    if procedure == "notification":
        return None
    if procedure == "immediate":
        return filed_on
    if procedure in DAY_PERIODS:
        return filed_on + timedelta(days=DAY_PERIODS[procedure])
    if procedure in MONTH_PERIODS:
        return add_months(filed_on, MONTH_PERIODS[procedure])
    if procedure.startswith("days-") and procedure[5:].isdigit() and int(procedure[5:]) > 0:
        return filed_on + timedelta(days=int(procedure[5:]))
    raise UnknownProcedure(f"unknown procedure {procedure!r}; expected one of {', '.join(PROCEDURES)}")


def compute(procedure: str, filed_at: datetime, pauses: Iterable[Pause] = (), extended_to: date | None = None,
            settled_on: date | None = None) -> Deadline:
    """The deadline of a case filed at `filed_at` (aware), given its pauses and any art. 36 notice."""
    if filed_at.tzinfo is None:
        raise ValueError("the filing time must carry its UTC offset")
    filed_on = filed_at.astimezone(WARSAW).date()
    end = statutory_end(procedure, filed_on)
    pauses = tuple(pauses)
    paused_now = any(p.end is None for p in pauses)
    paused_days = sum(p.days for p in pauses)
    base = Deadline(procedure=procedure, filed_on=filed_on, statutory_end=end, paused_days=paused_days,
                    paused_now=paused_now, extended_to=extended_to, settled_on=settled_on, pauses=pauses)
    if end is None:
        return base
    if extended_to is not None:
        return _replace(base, due=extended_to)
    if paused_now:
        return base
    moved = end + timedelta(days=paused_days)
    due = next_working_day(moved)
    return _replace(base, due=due, moved_from=moved if due != moved else None)


def _replace(deadline: Deadline, **changes: Any) -> Deadline:
    return replace(deadline, **changes)


def _day(moment: datetime) -> date:
    return moment.astimezone(WARSAW).date()


def for_case(procedure: str, filed_at: datetime, events: Iterable[Any]) -> Deadline:
    """The deadline from a case's events (`portal.status` CaseEvents, any order)."""
    pauses: list[Pause] = []
    supplement_from: date | None = None
    suspended_from: date | None = None
    extended_to: date | None = None
    settled_on: date | None = None
    for event in sorted(events, key=lambda e: (e.occurred_at, e.id or 0)):
        data, day = event.data or {}, _day(event.occurred_at)
        if settles(event.kind, data):
            settled_on = settled_on or day
        elif event.kind == SUPPLEMENT_REQUESTED and supplement_from is None:
            supplement_from = day
        elif event.kind == SUPPLEMENTED and supplement_from is not None:
            pauses.append(Pause(supplement_from, day))
            supplement_from = None
        elif event.kind == STATUS_CHANGED:
            state = data.get("status")
            if state == SUSPENDED and suspended_from is None:
                suspended_from = day
            elif state in (RESUMED, IN_PROGRESS) and suspended_from is not None:
                pauses.append(Pause(suspended_from, day))
                suspended_from = None
        elif event.kind == DELAY_NOTIFIED:
            with contextlib.suppress(ValueError):  # an EZD's free text: the statutory date stands
                extended_to = date.fromisoformat(str(data.get("new_date")))
    if supplement_from is not None:
        pauses.append(Pause(supplement_from))
    if suspended_from is not None:
        pauses.append(Pause(suspended_from))
    return compute(procedure, filed_at, pauses, extended_to, settled_on)


# --- periods that run from a letter's delivery ------------------------------------------------------------

APPEAL_DAYS = 14  # KPA art. 129 §2: an appeal within 14 days of the decision's delivery
FICTION_DAYS = 14  # a letter not collected counts as delivered 14 days after the notice (D.1)


def delivered_by_fiction_on(notice_at: datetime) -> date:
    """The day an e-Doręczenia letter that was not collected counts as delivered: 14 days after the day of
    the notice that it is in the resident's box (evidence D.1), in Polish time. A fiction is not a period for
    anyone's act, so a Saturday or a holiday does not move it."""
    if notice_at.tzinfo is None:
        raise ValueError("the notice time must carry its UTC offset")
    return _day(notice_at) + timedelta(days=FICTION_DAYS)


def appeal_due(delivered_on: date, days: int = APPEAL_DAYS) -> date:
    """The last day for an appeal (art. 129 §2), counted as art. 57 §1 and §4 count: from the day after the
    delivery, the period's last day moved to the next working day from a Saturday or a public holiday."""
    return next_working_day(delivered_on + timedelta(days=days))
