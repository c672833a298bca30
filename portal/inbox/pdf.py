"""The UPO's PDF picture, for people who want paper. The XML stays the legal proof."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer

from portal.pdf import HEADING, SMALL, document, facts, local_time, p


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

    def story() -> list[Flowable]:
        code = QrCodeWidget(sheet.verification_url, barLevel="M")
        x0, y0, x1, y1 = code.getBounds()
        size = 32 * mm
        drawing = Drawing(size, size, transform=[size / (x1 - x0), 0, 0, size / (y1 - y0), 0, 0])
        drawing.add(code)
        return [
            p("Urzędowe poświadczenie przedłożenia (UPO)", HEADING),
            p(f"{sheet.office_name} potwierdza, że otrzymał dokument elektroniczny opisany poniżej."),
            Spacer(1, 6 * mm),
            facts(rows),
            Spacer(1, 6 * mm),
            p("Dowodem prawnym złożenia pisma jest plik XML poświadczenia (UPO) opatrzony pieczęcią elektroniczną "
              "urzędu. Ten wydruk jest jedynie jego wizualizacją i sam niczego nie dowodzi.", SMALL),
            p("Stan sprawy sprawdzisz w portalu po zalogowaniu albo podając identyfikator poświadczenia i kod "
              "dostępu.", SMALL),
            Spacer(1, 4 * mm),
            drawing,
            p(f"Sprawdź poświadczenie: {sheet.verification_url}", SMALL),
        ]

    return document(f"UPO {sheet.receipt_id}", sheet.office_name, "Urzędowe poświadczenie przedłożenia", story)
