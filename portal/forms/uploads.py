"""Attachments: the type is read from the file's content, never from its name."""

from __future__ import annotations

import re
import unicodedata

from flask_babel import gettext as _

from portal.forms.definitions import AttachmentRule
from portal.language import pick

SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
NAMES = {"application/pdf": "PDF", "image/png": "PNG", "image/jpeg": "JPG"}
EXTENSIONS = {"application/pdf": (".pdf",), "image/png": (".png",), "image/jpeg": (".jpg", ".jpeg")}


class Refused(Exception):
    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def sniff(content: bytes) -> str | None:
    """The media type the bytes really are, from their leading signature ("magic bytes")."""
    for signature, media_type in SIGNATURES:
        if content.startswith(signature):
            return media_type
    return None


def safe_filename(name: str) -> str:
    """A name fit for the document and for downloads: no folders, no control characters, sensible length."""
    name = unicodedata.normalize("NFC", name).replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f\x7f\"<>|:*?]", "_", name).strip(" .")
    return (name or "zalacznik")[-150:]


def named_as(name: str, media_type: str) -> str:
    """The name with the extension of what the file really is: a PDF sent as `skan.html` is kept as
    `skan.pdf`, so no program down the line (the clerk's desktop, the EZD) opens it as a web page."""
    if name.lower().endswith(EXTENSIONS[media_type]):
        return name
    stem = name.rsplit(".", 1)[0] if "." in name.strip(".") else name
    return (stem or "zalacznik")[:140] + EXTENSIONS[media_type][0]


def allowed(rule: AttachmentRule) -> str:
    return ", ".join(NAMES[t] for t in rule.types)


def check(rule: AttachmentRule, filename: str, content: bytes, already: int) -> str:
    """Accept the file for the rule and return its real media type, or refuse with a reason and what is allowed."""
    limits = _("Dozwolone pliki: %(types)s, każdy do %(mb)s MB.", types=allowed(rule), mb=f"{rule.max_mb:g}")
    if already >= rule.max_count:
        raise Refused(_("Możesz dołączyć najwyżej %(n)d plik(ów) jako „%(label)s”.", n=rule.max_count,
                        label=pick(rule.label)))
    if not content:
        raise Refused(_("Plik „%(name)s” jest pusty.", name=filename) + " " + limits)
    if len(content) > rule.max_mb * 1024 * 1024:
        raise Refused(_("Plik „%(name)s” jest za duży (%(size).1f MB).", name=filename,
                        size=len(content) / 1024 / 1024) + " " + limits)
    media_type = sniff(content)
    if media_type is None or media_type not in rule.types:
        found = NAMES.get(media_type or "", _("nieznany"))
        raise Refused(_("Plik „%(name)s” nie jest plikiem dozwolonego typu (rozpoznany typ: %(found)s).",
                        name=filename, found=found) + " " + limits)
    return media_type
