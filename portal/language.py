"""The portal's two languages: Polish, the source language of every text, and English.

Interface texts go through gettext (portal/translations); the texts of the e-service catalog come as
`{"pl": …, "en": …}` pairs in its definitions, and `pick` chooses one for the page being made.
"""

from __future__ import annotations

from flask_babel import get_locale

LANGUAGES = ("pl", "en")


def current() -> str:
    """The language of the page being made: "en" when the visitor chose English, else "pl"."""
    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "pl"


def pick(value: dict[str, str] | None) -> str:
    """A catalog text in the current language; Polish where it has no English."""
    if not value:
        return ""
    return value.get(current()) or value.get("pl", "")
