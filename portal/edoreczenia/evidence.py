"""Checking an evidence file: its XAdES seal with the portal's own verifier, the sealer pinned to the provider's
seal certificates (PORTAL_EDORECZENIA_EVIDENCE_SEALS), and its fields read from the signed XML only and compared
with the letter they are about. Nothing in the JSON listing of evidences is believed: it only says which files
to download.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.signing import verify
from portal.signing.policy import policy as signing_policy
from portal.xmlsafe import UnsafeXml
from portal.xmlsafe import parse as parse_xml

# The sandbox's evidence vocabulary (/tmp contract: ev:Evidence). The operator's production evidence is an
# ETSI EN 319 522 REM evidence; reading it is this module's one function `fields`.
EVIDENCE_NS = "urn:okienko:sandbox:edoreczenia:evidence:1"
FIELDS = ("EvidenceIdentifier", "EvidenceType", "EventTime", "MessageIdentifier", "SenderAddress",
          "RecipientAddress", "ContentDigest", "ReceiptFiction", "ReasonCode")

# The codes in words, for the case pages (domain README §5).
CODES = {
    "A.1": _l("Przesyłka przyjęta do wysłania"),
    "A.2": _l("Przesyłka odrzucona przez usługę"),
    "B.1": _l("Przesyłka przekazana do usługi adresata"),
    "B.2": _l("Przesyłka przyjęta przez usługę adresata"),
    "B.3": _l("Usługa adresata odrzuciła przesyłkę"),
    "D.1": _l("Przesyłka udostępniona w skrzynce adresata"),
    "D.2": _l("Nie udało się udostępnić przesyłki"),
    "D.3": _l("Powiadomienie o przesyłce nie dotarło"),
    "E.1": _l("Przesyłka odebrana przez adresata"),
    "E.2": _l("Przesyłka nieodebrana"),
    "BP.WX": _l("Dowód wysłania"),
    "BP.OX": _l("Dowód otrzymania"),
    "H.PN": _l("Przesyłka hybrydowa nadana na poczcie"),
    "H.EPO": _l("Przesyłka hybrydowa doręczona przez pocztę"),
}


def in_words(code: str) -> Any:
    return CODES.get(code, code)


@dataclass
class Checked:
    valid: bool
    fields: dict[str, Any] = field(default_factory=dict)
    reasons: list[str] = field(default_factory=list)
    verdict: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        return self.fields.get("EvidenceType")

    @property
    def event_time(self) -> datetime | None:
        raw = self.fields.get("EventTime")
        if not raw:
            return None
        try:
            moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.astimezone(UTC) if moment.tzinfo else None


def provider_seals() -> tuple[bytes, ...]:
    """DER certificates of the provider's seal (one PEM file, or several separated by commas)."""
    paths = [p.strip() for p in str(current_app.config.get("EDORECZENIA_EVIDENCE_SEALS") or "").split(",")]
    return tuple(der for p in paths if p and Path(p).is_file() for der in verify.der_certificates(Path(p).read_bytes()))


def fields(data: bytes) -> dict[str, Any]:
    """The evidence's fields, read from the (already verified) XML."""
    root = parse_xml(data)
    if root.tag != f"{{{EVIDENCE_NS}}}Evidence":
        raise UnsafeXml("shape", "not an e-Doręczenia evidence")
    found: dict[str, Any] = {}
    for name in FIELDS:
        element = root.find(f"{{{EVIDENCE_NS}}}{name}")
        if element is not None and (element.text or "").strip():
            found[name] = element.text.strip()
            if name == "ContentDigest":
                found["ContentDigestAlgorithm"] = element.get("Algorithm")
    return found


def check(data: bytes, *, evidence_id: str, listed_type: str, message_id: str | None, sender: str,
          recipient: str | None, content_sha3: str | None) -> Checked:
    """Verify an evidence file and compare it with what the portal sent; never raises for a bad file."""
    seals = provider_seals()
    if not seals:
        return Checked(False, reasons=[str(_l("Nie skonfigurowano certyfikatu pieczęci dostawcy e-Doręczeń "
                                             "(PORTAL_EDORECZENIA_EVIDENCE_SEALS)."))])
    result = verify.verify(data, replace(signing_policy(), signers=seals), require_person=False)
    verdict = result.stored()
    verdict["reasons"] = result.messages("pl")
    if not result.valid:
        return Checked(False, reasons=list(verdict["reasons"]) or [str(_l("Pieczęć dowodu jest nieważna."))],
                       verdict=verdict)
    try:
        found = fields(data)
    except UnsafeXml as exc:
        return Checked(False, reasons=[str(exc)], verdict=verdict)
    checked = Checked(True, fields=found, verdict=verdict)
    expectations = [
        ("EvidenceIdentifier", evidence_id, _l("Dowód ma inny identyfikator niż pobrany.")),
        ("EvidenceType", listed_type, _l("Rodzaj dowodu w pliku różni się od podanego przez usługę.")),
        ("MessageIdentifier", message_id, _l("Dowód dotyczy innej przesyłki.")),
        ("SenderAddress", sender, _l("Dowód wskazuje innego nadawcę niż urząd.")),
        ("RecipientAddress", recipient, _l("Dowód wskazuje innego adresata.")),
    ]
    for name, expected, reason in expectations:
        if expected and found.get(name) != expected:
            checked.reasons.append(str(reason))
    digest = found.get("ContentDigest")
    if digest is not None and content_sha3 and (digest.lower() != content_sha3.lower()
                                                 or found.get("ContentDigestAlgorithm") not in (None, "SHA3-256")):
        checked.reasons.append(str(_l("Skrót treści w dowodzie nie zgadza się z wysłanym pismem.")))
    if checked.event_time is None:
        checked.reasons.append(str(_l("Dowód nie podaje czasu zdarzenia.")))
    checked.valid = not checked.reasons
    return checked


def sha3(content: bytes) -> str:
    return hashlib.sha3_256(content).hexdigest()
