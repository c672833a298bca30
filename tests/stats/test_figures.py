"""The figures of portal/stats/service.py, checked against an office whose every number is worked out by hand."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

from portal.extensions import db
from portal.forms.models import EService
from portal.inbox.models import Submission
from portal.stats import service
from portal.stats.service import Deadlines, Hidden
from portal.status import deadlines
from portal.status import service as status
from tests.stats.conftest import FOI, LETTER, MONTHS, NOW, OTHERS, WASTE, event, residents, submitted, warsaw

FEW, COMPLEMENTARY = Hidden.FEW, Hidden.COMPLEMENTARY


def test_submissions_are_counted_per_polish_month_and_service(office: dict[str, Submission]) -> None:
    figures = service.compute(NOW)

    assert [m.label for m in figures.months] == MONTHS
    assert [m.partial for m in figures.months] == [False] * 11 + [True]
    by_month = {m.label: m.submissions for m in figures.months}
    assert by_month == {**{m: FEW for m in MONTHS}, "2026-03": 6, "2026-04": 8}  # 2025-08: L9 alone
    cells = {m.label: m.by_service for m in figures.months}
    assert cells["2026-03"] == {LETTER: 6, FOI: FEW, WASTE: FEW, **{s: FEW for s in OTHERS}}
    assert cells["2026-04"] == {LETTER: FEW, FOI: FEW, WASTE: 5, **{s: FEW for s in OTHERS}}  # L7 counts in April
    assert {s.service.id: s.submissions for s in figures.services} == {LETTER: 8, FOI: FEW, WASTE: 5,
                                                                         **{s: FEW for s in OTHERS}}
    assert figures.submissions == 15
    assert (figures.first_day, figures.last_day) == (date(2025, 8, 1), date(2026, 7, 15))


def test_residents_are_counted_once_per_month_and_once_in_the_period(office: dict[str, Submission]) -> None:
    figures = service.compute(NOW)

    by_month = {m.label: m.residents for m in figures.months}
    assert by_month == {**{m: FEW for m in MONTHS}, "2026-03": 6, "2026-04": 5}
    assert figures.residents == 6  # the seventh filed only before the period


def test_deadlines_kept_and_the_median_handling_time(office: dict[str, Submission]) -> None:
    figures = service.compute(NOW)
    by_service = {s.service.id: s.deadlines for s in figures.services}

    assert by_service[LETTER] == Deadlines(settled=6, assessed=6, in_time_percent=83.3, median_days=31.5)
    # A declaration has no statutory deadline: settled and timed, but not held against a deadline.
    assert by_service[WASTE] == Deadlines(settled=5, assessed=None, in_time_percent=None, median_days=4.0)
    assert by_service[FOI] == Deadlines(settled=FEW, assessed=FEW, in_time_percent=FEW, median_days=FEW)
    assert by_service["zaswiadczenie"] == Deadlines(settled=FEW, assessed=FEW, in_time_percent=FEW, median_days=FEW)
    # All of them: 13 settled (2, 3, 3, 4, 5, 9, 9, 10, 18, 31, 32, 39, 55 days), 8 with a deadline, 7 kept.
    assert figures.deadlines == Deadlines(settled=13, assessed=8, in_time_percent=87.5, median_days=9.0)


def test_the_offered_services_are_the_catalogs_current_ones(office: dict[str, Submission]) -> None:
    figures = service.compute(NOW)

    assert sorted(s.id for s in figures.offered) == sorted([LETTER, FOI, WASTE, *OTHERS])
    letter = next(s for s in figures.offered if s.id == LETTER)
    assert letter.title["pl"] == "Pismo ogólne do urzędu" and letter.procedure == "kpa-1m" and letter.offered


def test_the_versions_of_a_service_count_together(office: dict[str, Submission]) -> None:
    current = db.session.query(EService).filter_by(slug=LETTER, current=True).one()
    older = EService(slug=LETTER, version="0.9.0", definition=current.definition, schema_xsd=current.schema_xsd,
                     current=False)
    db.session.add(older)
    db.session.flush()
    office["L1"].eservice_id = older.id
    db.session.commit()

    figures = service.compute(NOW)

    assert {s.service.id: s.submissions for s in figures.services}[LETTER] == 8
    assert {s.service.id: s.deadlines.settled for s in figures.services}[LETTER] == 6


def test_a_month_begins_at_midnight_in_poland_in_winter_and_in_summer(app: Flask, ctx: None, catalog: None,
                                                                     pki: Path) -> None:
    person = residents(1)[0]
    for at in ["2026-02-28 23:59"] + ["2026-03-01 00:00"] * 5 + ["2026-06-30 23:59:59"] + ["2026-07-01 00:00"] * 5:
        submitted(pki, person, LETTER, warsaw(at))  # 23:00 and 22:00 UTC the day before: UTC+1, then UTC+2

    counts = {m.label: m.submissions for m in service.compute(NOW).months}

    assert (counts["2026-02"], counts["2026-03"], counts["2026-06"], counts["2026-07"]) == (FEW, 5, FEW, 5)


def test_cases_without_pauses_are_held_against_the_deadline_engines_due_date(app: Flask, ctx: None, catalog: None,
                                                                             pki: Path) -> None:
    """SQL counts the cases with neither a pause nor a notice of delay by filing and settling day; the result
    must be what the deadline engine says case by case (holidays, weekends, month ends)."""
    person = residents(1)[0]
    cases = []
    filed_on = date(2025, 12, 15)
    for number in range(24):  # across Christmas, New Year, the end of January and Easter
        filed_on += timedelta(days=5)
        submission = submitted(pki, person, LETTER, warsaw(f"{filed_on} 15:00"))
        due = deadlines.compute("kpa-1m", submission.filed_at).due
        assert due is not None
        settled_on = due + timedelta(days=(number % 3) - 1)  # a day early, on the day, a day late
        event(submission, status.DECISION, warsaw(f"{settled_on} 08:00"), summary="Decyzja")
        cases.append(submission)

    engine = [deadlines.for_case("kpa-1m", s.filed_at, status.timeline(s.id)) for s in cases]
    figures = service.compute(datetime(2026, 7, 15, tzinfo=UTC))

    letters = next(s.deadlines for s in figures.services if s.service.id == LETTER)
    kept = sum(bool(d.settled_in_time()) for d in engine)
    assert kept == 16
    assert letters.settled == letters.assessed == 24
    assert letters.in_time_percent == round(100 * kept / 24, 1)


def test_counts_under_five_are_hidden_and_a_total_does_not_give_one_away() -> None:
    counts = {"a": 10, "b": 3, "c": 7, "total": 20}

    shown = service.suppress(counts, [["a", "b", "c", "total"]])

    # b alone hidden would be 20 - 10 - 7: the smallest other count goes too.
    assert shown == {"a": 10, "b": FEW, "c": COMPLEMENTARY, "total": 20}


def test_hiding_a_second_count_can_call_for_a_third_in_the_crossing_line() -> None:
    # Rows x, y and their totals; columns p, q and theirs; the grand total.
    counts = {("x", "p"): 2, ("x", "q"): 20, ("y", "p"): 30, ("y", "q"): 6,
              "x": 22, "y": 36, "p": 32, "q": 26, "all": 58}
    lines = [[("x", "p"), ("x", "q"), "x"], [("y", "p"), ("y", "q"), "y"],
             [("x", "p"), ("y", "p"), "p"], [("x", "q"), ("y", "q"), "q"], ["x", "y", "all"], ["p", "q", "all"]]

    shown = service.suppress(counts, lines)

    hidden = {key for key, value in shown.items() if isinstance(value, Hidden)}
    assert shown[("x", "p")] is FEW
    for line in lines:  # no line is left with exactly one hidden count
        assert sum(key in hidden for key in line) != 1
    assert hidden == {("x", "p"), ("x", "q"), ("y", "p"), ("y", "q")}


def test_zero_is_hidden_too_and_five_is_shown() -> None:
    assert service.suppress({"none": 0, "four": 4, "five": 5}, []) == {"none": FEW, "four": FEW, "five": 5}


@dataclass
class _Counting:
    calls: int = 0

    def __call__(self) -> service.Figures:
        self.calls += 1
        return service.compute(NOW)


def test_the_figures_are_counted_once_for_a_few_minutes(app: Flask, ctx: None, catalog: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    first = service.figures()
    assert service.figures() is first

    later = time.monotonic() + service.CACHE_SECONDS
    monkeypatch.setattr(service, "time", SimpleNamespace(monotonic=lambda: later))
    assert service.figures() is not first


def test_while_one_request_counts_the_others_get_the_figures_they_had(app: Flask, ctx: None, catalog: None) -> None:
    cache = service._Cache()
    counting = _Counting()
    old = cache.get(counting)
    cache.expires = 0.0  # the figures are out of date…
    with cache.lock:  # …and another request is counting them anew
        assert cache.get(counting) is old
        assert counting.calls == 1

    waited: list[service.Figures] = []
    empty = service._Cache()
    with empty.lock:  # with nothing to show yet, a request waits for the count in progress
        thread = threading.Thread(target=lambda: waited.append(empty.get(lambda: old)))
        thread.start()
        thread.join(0.2)
        assert thread.is_alive()
    thread.join(5)
    assert waited == [old]
