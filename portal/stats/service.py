"""The office's public figures, as the statistics page and the open data publish them (docs/statistics.md).

Everything covers the last 12 calendar months in Polish time, the current one included, and is counted
in SQL: submissions and residents per month and service version, and settled cases per service version,
filing day and settling day. Only cases with a pause or a notice of delay go through the deadline engine
one by one, with their events fetched a thousand cases at a time.

No figure may single anybody out: a count under 5 is hidden, so is every figure computed from fewer
than 5 cases, and so is one more count wherever a hidden one could otherwise be worked out as the
difference between a published total and its published parts.

The figures are sums over every submission, which no per-case function of the inbox or the status
tracker gives, so this module reads their tables itself (read only).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import Enum
from itertools import groupby
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import Date, and_, case, cast, func, literal_column, select, text
from sqlalchemy.sql.elements import ColumnElement

from portal.clock import WARSAW, WARSAW_ZONE_NAME
from portal.db_types import utcnow
from portal.extensions import db
from portal.forms import service as forms
from portal.forms.models import EService
from portal.inbox.models import Submission
from portal.status import deadlines, events
from portal.status.models import CaseEvent

MONTHS = 12
SMALLEST_SHOWN = 5
CACHE_SECONDS = 300
STREAM_BATCH = 5000
# The events the deadline engine reads (pauses, notices of delay, settlement); the others move no deadline.
DEADLINE_EVENTS = (events.SUPPLEMENT_REQUESTED, events.SUPPLEMENTED, events.STATUS_CHANGED, events.DELAY_NOTIFIED,
                   events.DECISION)


class Hidden(Enum):
    """Why a figure is not published."""

    FEW = "below_5"  # a count under 5 (0 included), or a figure computed from fewer than 5 cases
    COMPLEMENTARY = "complementary"  # 5 or more, hidden so that a hidden count cannot be worked out from a total


Count = int | Hidden


@dataclass(frozen=True)
class Service:
    id: str
    title: dict[str, str]
    procedure: str
    offered: bool

    @property
    def has_deadline(self) -> bool:
        return self.procedure != "notification"


@dataclass(frozen=True)
class Month:
    first_day: date
    submissions: Count
    residents: Count  # distinct residents who filed in the month
    by_service: dict[str, Count]  # service id → submissions
    partial: bool  # the current month, counted up to now

    @property
    def label(self) -> str:
        return self.first_day.strftime("%Y-%m")


@dataclass(frozen=True)
class Deadlines:
    settled: Count  # cases settled in the period (a decision, or closed)
    assessed: Count | None  # of them, those with a due date to compare with; None: no statutory deadline
    in_time_percent: float | Hidden | None  # settled on or before the due date, in % of `assessed`
    median_days: float | Hidden | None  # days from the filing day to the settling day; None: nothing settled


@dataclass(frozen=True)
class ServiceFigures:
    service: Service
    submissions: Count
    deadlines: Deadlines


@dataclass(frozen=True)
class Figures:
    generated_at: datetime
    first_day: date
    last_day: date
    offered: list[Service]
    months: list[Month]
    services: list[ServiceFigures]
    submissions: Count
    residents: Count  # distinct residents who filed in the whole period
    deadlines: Deadlines

    @property
    def first_month(self) -> str:
        return self.months[0].label

    @property
    def last_month(self) -> str:
        return self.months[-1].label


def figures() -> Figures:
    """The figures for the public page and the open data, computed at most once every CACHE_SECONDS
    per process: the page is public and a large office's figures take a while to count."""
    cache: _Cache = current_app.extensions.setdefault("okienko.stats", _Cache())
    return cache.get(compute)


def clear_cache() -> None:
    current_app.extensions.pop("okienko.stats", None)


class _Cache:
    """The figures last counted, and a lock held by the one request counting new ones."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: Figures | None = None
        self.expires = 0.0

    def get(self, make: Callable[[], Figures]) -> Figures:
        value = self.value
        if value is not None and time.monotonic() < self.expires:
            return value
        # One request counts anew; meanwhile the others are given the figures they had, or, when
        # there are none yet, wait for that count instead of starting one of their own.
        if not self.lock.acquire(blocking=value is None):
            assert value is not None  # without figures to give, acquire waits
            return value
        try:
            if self.value is None or time.monotonic() >= self.expires:
                self.value = make()
                self.expires = time.monotonic() + CACHE_SECONDS
            return self.value
        finally:
            self.lock.release()


def compute(now: datetime | None = None) -> Figures:
    """Count the figures of the 12 calendar months (Polish time) up to `now`, uncached."""
    now = now or utcnow()
    months = _months(now)
    labels = [m.strftime("%Y-%m") for m in months]
    start, end = _midnight(months[0]), _midnight(_next_month(months[-1]))
    local = _LocalTime(db.session.get_bind().dialect.name)
    versions, services = _catalog()
    filed = _filed(local, versions, start, end)
    outcome = _deadline_outcomes(local, versions, start)
    slugs = sorted({s.id for s in services.values() if s.offered} | set(filed.by_service) | set(outcome.days))

    counts: dict[Any, int] = {("total",): sum(filed.by_service.values())}
    for label in labels:
        counts["month", label] = sum(filed.cells[label, s] for s in slugs)
        counts.update({("cell", label, s): filed.cells[label, s] for s in slugs})
    counts.update({("service", s): filed.by_service[s] for s in slugs})
    shown = suppress(counts, [
        *([("cell", label, s) for s in slugs] + [("month", label)] for label in labels),
        *([("cell", label, s) for label in labels] + [("service", s)] for s in slugs),
        [("month", label) for label in labels] + [("total",)],
        [("service", s) for s in slugs] + [("total",)],
    ])
    residents = suppress({"": filed.residents, **{m: filed.residents_by_month[m] for m in labels}}, [])

    every = Counter[int]()
    for days in outcome.days.values():
        every.update(days)
    settled = suppress({"": every.total(), **{s: outcome.days[s].total() for s in slugs}}, [[*slugs, ""]])
    timed = [s for s in slugs if services[s].has_deadline]
    assessed = suppress({"": outcome.assessed.total(), **{s: outcome.assessed[s] for s in timed}}, [[*timed, ""]])

    return Figures(
        generated_at=now,
        first_day=months[0],
        last_day=now.astimezone(WARSAW).date(),
        offered=[services[s] for s in sorted(services) if services[s].offered],
        months=[Month(first_day=day, submissions=shown["month", label], residents=residents[label],
                      by_service={s: shown["cell", label, s] for s in slugs}, partial=day == months[-1])
                for day, label in zip(months, labels, strict=True)],
        services=[ServiceFigures(
            service=services[s], submissions=shown["service", s],
            deadlines=_deadlines(settled[s], assessed.get(s), outcome.in_time[s], outcome.days[s]),
        ) for s in slugs],
        submissions=shown[("total",)],
        residents=residents[""],
        deadlines=_deadlines(settled[""], assessed[""], outcome.in_time.total(), every),
    )


def suppress(counts: dict[Any, int], lines: Iterable[Collection[Any]]) -> dict[Any, Count]:
    """Hide the counts under 5; then, in each line (a published total together with its published
    parts) holding exactly one hidden count, hide the smallest shown one too, until no line does —
    else the hidden count would be the difference."""
    hidden = {key: Hidden.FEW for key, value in counts.items() if value < SMALLEST_SHOWN}
    lines = [list(line) for line in lines]
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(key in hidden for key in line) == 1:
                shown = [key for key in line if key not in hidden]
                if shown:
                    hidden[min(shown, key=lambda key: (counts[key], str(key)))] = Hidden.COMPLEMENTARY
                    changed = True
    return {key: hidden.get(key, value) for key, value in counts.items()}


class _LocalTime:
    """The day and the month in Poland of a timestamp column, in SQL.

    PostgreSQL converts with its own time-zone data. SQLite has none: a function computing the day
    with Python's is registered on the connection (the figures' transaction uses that one connection).
    Constants are written into the SQL, so that a GROUP BY repeats exactly the expression selected.
    """

    def __init__(self, dialect: str) -> None:
        self.postgresql = dialect == "postgresql"
        if not self.postgresql:
            connection = db.session.connection().connection.driver_connection
            connection.create_function("warsaw_day", 1, _warsaw_day, deterministic=True)

    def day(self, column: Any) -> ColumnElement[date]:
        if self.postgresql:
            return cast(_in_polish_time(column), Date)
        return func.warsaw_day(column, type_=Date)

    def month(self, column: Any) -> ColumnElement[str]:
        if self.postgresql:
            return func.to_char(_in_polish_time(column), literal_column("'YYYY-MM'"))
        return func.substr(func.warsaw_day(column), literal_column("1"), literal_column("7"))


def _in_polish_time(column: Any) -> ColumnElement[datetime]:
    """PostgreSQL: a timestamp with time zone → the wall-clock time in Poland."""
    return func.timezone(literal_column(f"'{WARSAW_ZONE_NAME}'"), column)


def _warsaw_day(stored: str | None) -> str | None:
    """SQLite: a UTC timestamp as SQLAlchemy stores it ("2026-03-31 22:30:00.000000") → its day in Poland."""
    if stored is None:
        return None
    return datetime.fromisoformat(stored).replace(tzinfo=UTC).astimezone(WARSAW).date().isoformat()


@dataclass
class _Filed:
    cells: Counter[tuple[str, str]]  # (month, service id) → submissions
    by_service: Counter[str]  # service id → submissions in the period
    residents_by_month: Counter[str]  # month → distinct residents filing
    residents: int  # distinct residents filing in the period


def _filed(local: _LocalTime, versions: dict[int, tuple[str, str]], start: datetime, end: datetime) -> _Filed:
    """The submissions of the period counted in SQL per month and service version, and their residents."""
    month = local.month(Submission.filed_at)
    # The e-services' statistics: items of another channel (e-Doręczenia) were filed under no e-service.
    in_period = and_(Submission.filed_at >= start, Submission.filed_at < end, Submission.eservice_id.is_not(None))
    filed = _Filed(Counter(), Counter(), Counter(), 0)
    for label, eservice_id, number in db.session.execute(
        select(month, Submission.eservice_id, func.count()).where(in_period).group_by(month, Submission.eservice_id)
    ):
        slug = versions[eservice_id][0]  # the versions of one service count together
        filed.cells[label, slug] += number
        filed.by_service[slug] += number
    for label, residents in db.session.execute(
        select(month, func.count(Submission.resident_id.distinct())).where(in_period).group_by(month)
    ):
        filed.residents_by_month[label] = residents
    filed.residents = db.session.scalar(select(func.count(Submission.resident_id.distinct())).where(in_period)) or 0
    return filed


class _Event(NamedTuple):
    """The parts of a CaseEvent the deadline engine reads."""

    id: int
    kind: str
    occurred_at: datetime
    data: dict[str, Any]


@dataclass
class _Outcomes:
    days: defaultdict[str, Counter[int]]  # service id → {days from filing to settling: cases}
    assessed: Counter[str]  # service id → cases settled that had a due date
    in_time: Counter[str]  # service id → of those, the cases settled by the due date

    def add(self, slug: str, filed_on: date, settled_on: date, due: date | None, cases: int = 1) -> None:
        self.days[slug][(settled_on - filed_on).days] += cases
        if due is not None:  # none: no statutory deadline, or a pause still open when the case was settled
            self.assessed[slug] += cases
            self.in_time[slug] += cases if settled_on <= due else 0


def _deadline_outcomes(local: _LocalTime, versions: dict[int, tuple[str, str]], start: datetime) -> _Outcomes:
    """Every case settled since `start` (its first decision or closing), held against its deadline.

    Most cases have neither a pause nor a notice of delay: their due date depends only on the
    procedure and the filing day, so SQL counts them per service version, filing day and settling
    day, and the deadline engine is asked once per procedure and filing day. The others go through
    the engine one by one with their events, fetched a thousand cases at a time.
    """
    outcome = _Outcomes(defaultdict(Counter), Counter(), Counter())
    due_dates: dict[tuple[str, date], date | None] = {}
    with_pauses: dict[str, tuple[int, datetime]] = {}
    for eservice_id, filed_on, settled_on, alone, filed_at, cases in _settled_cases(local, start):
        if alone is not None:
            with_pauses[alone] = eservice_id, filed_at
            continue
        slug, procedure = versions[eservice_id]
        if (procedure, filed_on) not in due_dates:
            due_dates[procedure, filed_on] = deadlines.compute(procedure, filed_at).due
        outcome.add(slug, filed_on, settled_on, due_dates[procedure, filed_on], cases)
    for eservice_id, deadline in _through_the_engine(versions, with_pauses):
        assert deadline.settled_on is not None  # it has a decision or a closing: that is how it was found
        outcome.add(versions[eservice_id][0], deadline.filed_on, deadline.settled_on, deadline.due)
    return outcome


def _settled_cases(local: _LocalTime, start: datetime) -> Iterable[Any]:
    """The cases whose first decision or closing came since `start`, counted per service version,
    filing day and settling day — except those with an event that may pause or move the deadline,
    which come one per row with their id (`alone`). Streamed in batches (a server-side cursor on
    PostgreSQL); each row also carries a filing moment of its group."""
    if local.postgresql:
        # Every row is read: plan for that, not for a quick first batch (the planner's default for a
        # cursor), which on a million submissions takes twice as long.
        db.session.execute(text("SET LOCAL cursor_tuple_fraction = 1"))
    settling = events.settling()
    settled_at = func.min(case((settling, CaseEvent.occurred_at)))
    per_case = (
        select(Submission.eservice_id, Submission.filed_at, settled_at.label("settled_at"),
               case((func.count(case((~settling, CaseEvent.id))) > 0, Submission.id)).label("alone"))
        .join(CaseEvent, CaseEvent.submission_id == Submission.id)
        .where(CaseEvent.kind.in_(DEADLINE_EVENTS), Submission.eservice_id.is_not(None))
        .group_by(Submission.id, Submission.eservice_id, Submission.filed_at)
        .having(settled_at >= start)
        .subquery()
    )
    filed_on, settled_on = local.day(per_case.c.filed_at), local.day(per_case.c.settled_at)
    return db.session.execute(
        select(per_case.c.eservice_id, filed_on, settled_on, per_case.c.alone, func.min(per_case.c.filed_at),
               func.count())
        .group_by(per_case.c.eservice_id, filed_on, settled_on, per_case.c.alone)
        .execution_options(yield_per=STREAM_BATCH)
    )


def _through_the_engine(versions: dict[int, tuple[str, str]],
                        cases: dict[str, tuple[int, datetime]]) -> Iterator[tuple[int, deadlines.Deadline]]:
    """(service version, deadline) of the given cases (id → service version, filing moment), from the
    events the deadline engine reads."""
    ids = list(cases)
    for first in range(0, len(ids), 1000):
        rows = db.session.execute(
            select(CaseEvent.submission_id, CaseEvent.id, CaseEvent.kind, CaseEvent.occurred_at,
                   CaseEvent.data["status"].as_string(), CaseEvent.data["new_date"].as_string())
            .where(CaseEvent.submission_id.in_(ids[first:first + 1000]), CaseEvent.kind.in_(DEADLINE_EVENTS))
            .order_by(CaseEvent.submission_id)
        )
        for submission_id, case_rows in groupby(rows, key=lambda row: row[0]):
            timeline = [_Event(row[1], row[2], row[3], {"status": row[4], "new_date": row[5]}) for row in case_rows]
            eservice_id, filed_at = cases[submission_id]
            yield eservice_id, deadlines.for_case(versions[eservice_id][1], filed_at, timeline)


def _deadlines(settled: Count, assessed: Count | None, in_time: int, days: Counter[int]) -> Deadlines:
    if isinstance(assessed, int):
        percent: float | Hidden | None = round(100 * in_time / assessed, 1)
    else:
        percent = assessed
    if isinstance(settled, Hidden):
        median: float | Hidden | None = settled
    else:
        median = float(statistics.median(days.elements())) if days else None
    return Deadlines(settled=settled, assessed=assessed, in_time_percent=percent, median_days=median)


def _catalog() -> tuple[dict[int, tuple[str, str]], dict[str, Service]]:
    """Each service version's (service id, procedure), and each service as its current version
    (or, once withdrawn, its last one) describes it."""
    versions: dict[int, tuple[str, str]] = {}
    services: dict[str, Service] = {}
    for row in db.session.scalars(select(EService).order_by(EService.current, EService.id)):
        definition = forms.definition_of(row)
        versions[row.id] = (row.slug, definition.procedure)
        services[row.slug] = Service(id=row.slug, title=definition.title, procedure=definition.procedure,
                                     offered=row.current)
    return versions, services


def _months(now: datetime) -> list[date]:
    """The first days of the last MONTHS calendar months in Poland, the current one last."""
    today = now.astimezone(WARSAW).date()
    index = today.year * 12 + today.month - 1
    return [date(i // 12, i % 12 + 1, 1) for i in range(index - MONTHS + 1, index + 1)]


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _midnight(day: date) -> datetime:
    """The moment `day` begins in Poland, in UTC."""
    return datetime(day.year, day.month, day.day, tzinfo=WARSAW).astimezone(UTC)
