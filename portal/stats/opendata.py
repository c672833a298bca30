"""The figures as open data, JSON and CSV; every field is described in docs/statistics.md."""

from __future__ import annotations

import csv
import io
from typing import Any

from portal.clock import WARSAW_ZONE_NAME
from portal.stats.service import SMALLEST_SHOWN, Count, Deadlines, Figures, Hidden

SUPPRESSION = {
    "pl": "Liczby mniejsze niż 5 (także 0) i wskaźniki obliczone z mniej niż 5 spraw nie są publikowane. "
          "Gdy ukrytą liczbę dałoby się obliczyć z sumy i pozostałych jej składników, ukrywana jest też jedna "
          "z tych liczb (najmniejsza). Ukryte wartości mają wartość null (JSON) albo puste pole (CSV).",
    "en": "Counts under 5 (0 included) and figures computed from fewer than 5 cases are not published. Where a "
          "hidden count could be worked out from a total and its other parts, one of those (the smallest) is "
          "hidden too. Hidden values are null (JSON) or empty (CSV).",
}
CSV_FIELDS = ("generated_at", "measure", "period", "service", "service_title", "value", "suppressed")


def as_json(figures: Figures, publisher: str) -> dict[str, Any]:
    return {
        "generated_at": figures.generated_at.isoformat(timespec="seconds"),
        "publisher": publisher,
        "period": {
            "first_day": figures.first_day.isoformat(),
            "last_day": figures.last_day.isoformat(),
            "months": [m.label for m in figures.months],
            "time_zone": WARSAW_ZONE_NAME,
        },
        "suppression": {"smallest_published_count": SMALLEST_SHOWN, "rule": SUPPRESSION},
        "eservices_offered": {
            "count": len(figures.offered),
            "services": [{"id": s.id, "title": s.title, "procedure": s.procedure} for s in figures.offered],
        },
        "submissions": {
            "total": _value(figures.submissions),
            "by_month": [{"month": m.label, "partial": m.partial, "count": _value(m.submissions),
                          "by_service": {s: _value(v) for s, v in m.by_service.items()}} for m in figures.months],
            "by_service": [{"service": s.service.id, "title": s.service.title, "offered": s.service.offered,
                            "count": _value(s.submissions)} for s in figures.services],
        },
        "residents": {
            "total": _value(figures.residents),
            "by_month": [{"month": m.label, "partial": m.partial, "count": _value(m.residents)}
                         for m in figures.months],
        },
        "deadlines": {
            "all": _deadlines(figures.deadlines),
            "by_service": [{"service": s.service.id, "has_deadline": s.service.has_deadline,
                            **_deadlines(s.deadlines)} for s in figures.services],
        },
    }


def as_csv(figures: Figures) -> str:
    """One figure per row ("long" form): what is measured, over which month or period, for which service."""
    period = f"{figures.first_month}/{figures.last_month}"
    titles = {s.service.id: s.service.title["pl"] for s in figures.services}
    rows: list[tuple[str, str, str, Count | float | None]] = [("eservices_offered", "", "", len(figures.offered))]
    for month in figures.months:
        rows.append(("submissions", month.label, "", month.submissions))
        rows.extend(("submissions", month.label, service, value) for service, value in month.by_service.items())
    rows.append(("submissions", period, "", figures.submissions))
    rows.extend(("submissions", period, s.service.id, s.submissions) for s in figures.services)
    rows.extend(("residents", month.label, "", month.residents) for month in figures.months)
    rows.append(("residents", period, "", figures.residents))
    for service, deadline in [("", figures.deadlines), *((s.service.id, s.deadlines) for s in figures.services)]:
        rows.append(("cases_settled", period, service, deadline.settled))
        if deadline.assessed is not None:
            rows.append(("cases_assessed", period, service, deadline.assessed))
            rows.append(("settled_in_time_percent", period, service, deadline.in_time_percent))
        rows.append(("median_handling_days", period, service, deadline.median_days))

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    generated = figures.generated_at.isoformat(timespec="seconds")
    for measure, when, service, value in rows:
        writer.writerow([generated, measure, when, service, titles.get(service, ""),
                         _number(value),
                         value.value if isinstance(value, Hidden) else ""])
    return out.getvalue()


def _number(value: Count | float | None) -> str:
    """12, 92.3, 12.5: a point before the decimals, none after whole numbers; empty when hidden or none."""
    if value is None or isinstance(value, Hidden):
        return ""
    return str(value) if isinstance(value, int) else f"{value:.1f}".removesuffix(".0")


def _value(value: Count | float | None) -> int | float | None:
    return None if isinstance(value, Hidden) else value


def _deadlines(deadline: Deadlines) -> dict[str, Any]:
    return {
        "cases_settled": _value(deadline.settled),
        "cases_assessed": _value(deadline.assessed),
        "settled_in_time_percent": _value(deadline.in_time_percent),
        "median_handling_days": _value(deadline.median_days),
    }
