"""The office's time zone: the portal stores UTC, and counts days (filing days, deadlines, the day's
figures) and shows moments in Polish time."""

from __future__ import annotations

from zoneinfo import ZoneInfo

WARSAW_ZONE_NAME = "Europe/Warsaw"  # as SQL and the open data name it
WARSAW = ZoneInfo(WARSAW_ZONE_NAME)
