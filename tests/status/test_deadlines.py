from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.clock import WARSAW
from portal.status import deadlines
from portal.status.deadlines import Pause, compute


def filed(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=WARSAW)


@pytest.mark.parametrize(("procedure", "filed_on", "due", "why"), [
    ("foi-14d", "2026-11-25", "2026-12-09", "14 days from the next day"),
    ("certificate-7d", "2026-11-27", "2026-12-04", "7 days"),
    ("kpa-1m", "2026-03-16", "2026-04-16", "the matching day of the next month"),
    ("kpa-1m", "2026-01-31", "2026-03-02", "no 31 February: the 28th, a Saturday, moves to Monday"),
    ("kpa-1m", "2026-10-11", "2026-11-12", "11 November is a public holiday"),
    ("kpa-2m", "2026-10-24", "2026-12-28", "24 December (holiday since 2025), 25, 26 and a Sunday"),
    ("certificate-7d", "2026-04-30", "2026-05-07", "the holidays inside a period do not count; only its end moves"),
    ("complaint-1m", "2026-05-02", "2026-06-02", "a month"),
    ("days-30", "2026-11-25", "2026-12-28", "30 days end on Friday 25 December, a holiday: the next working day"),
    ("immediate", "2026-11-25", "2026-11-25", "immediately: the filing day itself"),
])
def test_statutory_deadlines(procedure: str, filed_on: str, due: str, why: str) -> None:
    assert compute(procedure, filed(filed_on)).due == date.fromisoformat(due), why


def test_the_filing_day_is_the_polish_day() -> None:
    late_evening_utc = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)  # 1 December, 00:30 in Warsaw
    assert compute("foi-14d", late_evening_utc).filed_on == date(2026, 12, 1)


def test_a_notification_has_no_deadline() -> None:
    result = compute("notification", filed("2026-11-25"))
    assert result.due is None and not result.has_deadline


def test_pauses_move_the_deadline_and_an_open_pause_has_no_date() -> None:
    start = filed("2026-11-02")  # kpa-1m → 2 December
    assert compute("kpa-1m", start).due == date(2026, 12, 2)
    supplemented = compute("kpa-1m", start, [Pause(date(2026, 11, 10), date(2026, 11, 20))])
    assert supplemented.paused_days == 10 and supplemented.due == date(2026, 12, 14)  # 12 Dec is a Saturday
    waiting = compute("kpa-1m", start, [Pause(date(2026, 11, 10))])
    assert waiting.paused_now and waiting.due is None


def test_a_notice_of_delay_sets_the_new_date() -> None:
    result = compute("kpa-1m", filed("2026-11-02"), extended_to=date(2027, 1, 15))
    assert result.due == date(2027, 1, 15) and not result.overdue(date(2027, 1, 15))
    assert result.overdue(date(2027, 1, 16))


def test_the_deadline_from_a_cases_events() -> None:
    def event(kind: str, day: str, **data: str) -> SimpleNamespace:
        return SimpleNamespace(kind=kind, occurred_at=filed(day, 12), id=None, data=data)

    events = [event("supplement_requested", "2026-11-10", message="x"), event("supplemented", "2026-11-13",
                                                                             receipt_id="r"),
              event("status_changed", "2026-11-16", status="suspended"),
              event("status_changed", "2026-11-18", status="resumed"),
              event("decision", "2026-12-03", summary="ok")]
    result = deadlines.for_case("kpa-1m", filed("2026-11-02"), events)
    assert result.paused_days == 5 and result.due == date(2026, 12, 7) and result.settled_in_time()


@given(st.sampled_from(["kpa-1m", "kpa-2m", "certificate-7d", "foi-14d", "complaint-1m", "days-45"]),
       st.dates(min_value=date(2025, 1, 1), max_value=date(2035, 12, 31)),
       st.integers(min_value=0, max_value=60))
def test_the_due_date_is_a_working_day_never_before_the_period_ends(procedure: str, day: date, paused: int) -> None:
    start = datetime(day.year, day.month, day.day, 9, tzinfo=WARSAW)
    result = compute(procedure, start, [Pause(day, day + timedelta(days=paused))] if paused else [])
    assert result.due is not None and deadlines.is_working_day(result.due)
    assert result.due >= result.statutory_end + timedelta(days=paused)
    # The longest run of days off: 24–28 December when the 24th (a holiday since 2025) is a Wednesday.
    assert (result.due - (result.statutory_end + timedelta(days=paused))).days <= 5


def test_the_command_prints_what_the_portal_shows() -> None:
    okienko = str(Path(sys.executable).with_name("okienko"))
    answer = subprocess.run([okienko, "deadline", "kpa-1m", "2026-01-31T09:15:00+01:00", "--pause",
                             "2026-02-05/2026-02-10", "--json"], capture_output=True, text=True, check=True)
    result = json.loads(answer.stdout)
    assert result["statutory_end"] == "2026-02-28" and result["paused_days"] == 5 and result["due"] == "2026-03-05"
    refused = subprocess.run([okienko, "deadline", "kpa-3m", "2026-01-31T09:15:00+01:00"], capture_output=True,
                             text=True)
    assert refused.returncode != 0 and "unknown procedure" in refused.stderr
