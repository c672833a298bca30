"""The case file (akta sprawy) as a ZIP: every document as received or sent, the receipts, and a
manifest with each file's SHA-256, so the archive can be checked long after it left the office."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import date
from typing import Any

from portal.desk.models import DeskCase
from portal.edoreczenia import service as edoreczenia
from portal.status import service as status
from portal.storage import service as storage


def case_zip(case: DeskCase) -> bytes:
    files: list[dict[str, Any]] = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:

        def add(path: str, content: bytes, what: str) -> None:
            archive.writestr(path, content)
            files.append({"path": path, "what": what, "size": len(content),
                          "sha256": hashlib.sha256(content).hexdigest()})

        for parcel in case.parcels:
            folder = f"wplywy/{parcel.rpw_number}-{parcel.rpw_year}"
            add(f"{folder}/dokument.xml", parcel.document, f"pismo {parcel.rpw} (podpisany XML)")
            add(f"{folder}/UPO-{parcel.receipt_id}.xml", parcel.upo, f"UPO {parcel.receipt_id}")
            if parcel.detached_signature:
                add(f"{folder}/dokument.xml.xades", parcel.detached_signature, "podpis zewnętrzny")
            for number, attachment in enumerate(parcel.attachments or [], 1):
                add(f"{folder}/zalaczniki/{number}-{_safe(attachment['name'])}", storage.get(attachment["sha256"]),
                    f"załącznik: {attachment['name']}")
        states = {state.letter.id: state for state in edoreczenia.letter_states(list(case.letters))}
        for letter in case.letters:
            folder = f"pisma/{letter.id}"
            add(f"{folder}/{_safe(letter.filename)}", storage.get(letter.sha256), f"{letter.kind}: {letter.title}")
            if letter.upd_sha256:
                add(f"{folder}/UPD-{letter.id}.xml", storage.get(letter.upd_sha256), "UPD (poświadczenie doręczenia)")
            for e in states[letter.id].evidences:
                verdict = "pieczęć ważna" if e.valid else "ODRZUCONY: " + "; ".join(e.verdict.get("reasons") or [])
                add(f"{folder}/e-doreczenia/{_safe(e.code)}-{_safe(e.evidence_id)}.xml", storage.get(e.sha256),
                    f"dowód e-Doręczeń {e.code} ({verdict})")
        manifest = {
            "case_reference": case.reference,
            "title": case.title,
            "unit": case.unit,
            "jrwa_class": case.jrwa_class,
            "status": case.status,
            "opened_at": case.opened_at.isoformat(),
            "closed_at": case.closed_at.isoformat() if case.closed_at else None,
            "parcels": [{"rpw": p.rpw, "receipt_id": p.receipt_id, "filed_at": p.filed_at.isoformat(),
                         "sender": p.sender_name, "service": p.service_title, "signature_valid":
                         bool((p.signature or {}).get("valid"))} for p in case.parcels],
            "supplement_requests": [{"message": s.message, "due": s.due_date.isoformat(),
                                     "fulfilled_at": s.fulfilled_at.isoformat() if s.fulfilled_at else None}
                                    for s in case.supplements],
            "letters": [{"id": x.id, "kind": x.kind, "title": x.title, "sent_at": x.created_at.isoformat(),
                         "channel": x.channel, "delivered_at": x.opened_at.isoformat() if x.opened_at else None,
                         "delivered_on": _day(states[x.id].dates.delivered_on),
                         "delivered_by_fiction": states[x.id].dates.by_fiction,
                         "appeal_due": _day(states[x.id].dates.appeal_due)} for x in case.letters],
            "timeline": [{"kind": e.kind, "at": e.occurred_at.isoformat(), "data": e.data}
                         for e in status.timeline(case.submission_id)],
            "files": files,
        }
        archive.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2))
    return buffer.getvalue()


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._- " else "_" for c in name.rsplit("/", 1)[-1]).strip(" .")
    return cleaned[:120] or "plik"
