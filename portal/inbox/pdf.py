"""The UPO's PDF picture, for people who want paper. The XML stays the legal proof."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.pdf import Meta, document, facts, heading, local_time, p, qr_code


@dataclass(frozen=True)
class ReceiptSheet:
    office_name: str
    office_address: str
    receipt_id: str
    access_code: str
    resident_name: str
    service_title: str
    filed_at: datetime
    issued_at: datetime
    document_sha256: str
    attachments: list[tuple[str, str]]
    verification_url: str


def render(sheet: ReceiptSheet) -> bytes:
    rows = [
        ("Urząd", f"{sheet.office_name}\n{sheet.office_address}"),
        ("Identyfikator poświadczenia", sheet.receipt_id),
        ("Kod dostępu do sprawy", sheet.access_code),
        ("Nadawca", sheet.resident_name),
        ("Usługa", sheet.service_title),
        ("Data i czas złożenia (data doręczenia)", local_time(sheet.filed_at)),
        ("Data wytworzenia poświadczenia", local_time(sheet.issued_at)),
        ("Skrót SHA-256 dokumentu", sheet.document_sha256),
    ]
    rows += [(f"Skrót SHA-256 załącznika {name}", digest) for name, digest in sheet.attachments]

    blocks = [
        heading("Urzędowe poświadczenie przedłożenia (UPO)"),
        p(f"{sheet.office_name} potwierdza, że otrzymał dokument elektroniczny opisany poniżej."),
        facts(rows),
        p("Dowodem prawnym złożenia pisma jest plik XML poświadczenia (UPO) opatrzony pieczęcią elektroniczną "
          "urzędu. Ten wydruk jest jedynie jego wizualizacją i sam niczego nie dowodzi.", small=True),
        p("Stan sprawy sprawdzisz w portalu po zalogowaniu albo podając identyfikator poświadczenia i kod "
          "dostępu.", small=True),
        qr_code(sheet.verification_url, f"Kod QR z adresem strony sprawdzania poświadczenia: {sheet.verification_url}"),
        p(f"Sprawdź poświadczenie: {sheet.verification_url}", small=True),
    ]
    return document(Meta(f"UPO {sheet.receipt_id}", sheet.office_name, "Urzędowe poświadczenie przedłożenia"),
                    blocks)
