"""What never goes into a log line: anything shaped like a PESEL is blanked out of the text first.

Its own module because both the log formatters (`logs`) and the access log (`request_ids`) scrub, and the
formatters also ask `request_ids` for the current request's id: one direction each.
"""

from __future__ import annotations

import re

# Eleven digits standing alone: a PESEL (or something indistinguishable from one, which is as sensitive).
_PESEL_SHAPED = re.compile(r"(?<!\d)\d{11}(?!\d)")


def scrub(text: str) -> str:
    return _PESEL_SHAPED.sub("[PESEL?]", text)
