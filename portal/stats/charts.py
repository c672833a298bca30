"""The figures as residents read them: numbers in Polish (or English) form, and bar charts drawn on
the server as SVG — no script — each with its numbers also in a table on the page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import format_date, format_decimal, format_number, format_percent
from flask_babel import gettext as _

from portal.language import pick
from portal.stats.service import Count, Figures, Hidden

WIDTH = 560  # the drawing's own units: 1:1 on a wide screen (style.css), scaled down on a narrow one
ROW = 48  # one bar: its label above, the bar and its value below
BAR_HEIGHT = 18
VALUE_ROOM = 100  # room right of the longest bar for its value
LABEL_CHARACTERS = 60


@dataclass(frozen=True)
class Bar:
    label: str
    text: str  # the value as written beside the bar
    length: float  # 0: no bar (a hidden value, or none)
    top: int
    value_x: float

    @property
    def label_y(self) -> int:
        return self.top + 17

    @property
    def bar_y(self) -> int:
        return self.top + 24

    @property
    def value_y(self) -> int:
        return self.bar_y + BAR_HEIGHT - 4


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    top: Bar | None  # the longest bar, named in the chart's description
    track: float | None  # for shares: the length of 100 %, drawn behind each bar

    width: int = WIDTH
    bar_height: int = BAR_HEIGHT

    @property
    def height(self) -> int:
        return max(1, len(self.bars)) * ROW


def show(value: Count | float | None, kind: str = "count") -> str:
    """A figure as the page writes it: "1 234", "92,3%", "12,5"; "<5" or "ukryte" when hidden; "—" when none."""
    if value is Hidden.FEW:
        return "<5"
    if value is Hidden.COMPLEMENTARY:
        return _("ukryte")
    if value is None:
        return "—"
    if kind == "percent":
        return format_percent(float(value) / 100, "#,##0.0%")
    if kind == "days":
        return format_decimal(value, "#,##0.#")
    return format_number(value)


def month_name(day: date) -> str:
    return format_date(day, "LLLL yyyy")


def bar_chart(rows: list[tuple[str, Count | float | None]], kind: str = "count") -> BarChart:
    """Horizontal bars, one per (label, value): counts scaled to the largest, shares to 100 %."""
    numbers = [float(value) for _label, value in rows if isinstance(value, int | float)]
    track = WIDTH - VALUE_ROOM
    scale = 100.0 if kind == "percent" else max(numbers, default=0) or 1
    bars = []
    for index, (label, value) in enumerate(rows):
        length = round(track * float(value) / scale, 1) if isinstance(value, int | float) else 0
        short = label if len(label) <= LABEL_CHARACTERS else label[:LABEL_CHARACTERS - 1].rstrip() + "…"
        # A share's value stands right of its track, a count's right of its bar (or at the start when none).
        value_x = track + 8 if kind == "percent" else (length + 8 if length else 0)
        bars.append(Bar(label=short, text=show(value, kind), length=length, top=index * ROW, value_x=value_x))
    drawn = [b for b in bars if b.length]
    return BarChart(bars=bars, top=max(drawn, key=lambda b: b.length) if drawn else None,
                    track=track if kind == "percent" else None)


def for_page(figures: Figures) -> dict[str, BarChart]:
    """The charts of the statistics page."""
    timed = [s for s in figures.services if s.service.has_deadline]
    return {
        "submissions_by_month": bar_chart([(month_name(m.first_day), m.submissions) for m in figures.months]),
        "residents_by_month": bar_chart([(month_name(m.first_day), m.residents) for m in figures.months]),
        "submissions_by_service": bar_chart([(pick(s.service.title), s.submissions) for s in figures.services]),
        "in_time_by_service": bar_chart([(pick(s.service.title), s.deadlines.in_time_percent) for s in timed],
                                        "percent"),
    }
