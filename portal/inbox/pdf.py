"""The UPO's PDF picture, for people who want paper. The XML stays the legal proof."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONTS = Path(__file__).resolve().parent.parent / "static" / "fonts"
WARSAW = ZoneInfo("Europe/Warsaw")
_fonts_lock = threading.Lock()


def _register_fonts() -> None:
    # An embedded TrueType font: the PDF standard fonts have no ą, ę, ł, ś, ź, ż.
    with _fonts_lock:
        if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONTS / "DejaVuSans.ttf")))
            pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(FONTS / "DejaVuSans-Bold.ttf")))


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


def _local(moment: datetime) -> str:
    return f"{moment.astimezone(WARSAW):%d.%m.%Y, %H:%M:%S} (czas polski; {moment.isoformat(timespec='milliseconds')})"


def render(sheet: ReceiptSheet) -> bytes:
    _register_fonts()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm, bottomMargin=20 * mm,
        title=f"UPO {sheet.receipt_id}", author=sheet.office_name, lang="pl-PL",
        subject="Urzędowe poświadczenie przedłożenia",
    )
    body = ParagraphStyle("body", fontName="DejaVuSans", fontSize=10, leading=14)
    small = ParagraphStyle("small", parent=body, fontSize=8.5, leading=12)
    heading = ParagraphStyle("heading", parent=body, fontName="DejaVuSans-Bold", fontSize=15, leading=20,
                             spaceAfter=6)

    def p(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), style)

    rows = [
        ("Urząd", f"{sheet.office_name}\n{sheet.office_address}"),
        ("Identyfikator poświadczenia", sheet.receipt_id),
        ("Kod dostępu do sprawy", sheet.access_code),
        ("Nadawca", sheet.resident_name),
        ("Usługa", sheet.service_title),
        ("Data i czas złożenia (data doręczenia)", _local(sheet.filed_at)),
        ("Data wytworzenia poświadczenia", _local(sheet.issued_at)),
        ("Skrót SHA-256 dokumentu", sheet.document_sha256),
    ]
    for name, digest in sheet.attachments:
        rows.append((f"Skrót SHA-256 załącznika {name}", digest))
    table = Table([[p(k, small), p(v)] for k, v in rows], colWidths=[55 * mm, 115 * mm])
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.5, "#b1b4b6"),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    story = [
        p("Urzędowe poświadczenie przedłożenia (UPO)", heading),
        p(f"{sheet.office_name} potwierdza, że otrzymał dokument elektroniczny opisany poniżej."),
        Spacer(1, 6 * mm),
        table,
        Spacer(1, 6 * mm),
        p("Dowodem prawnym złożenia pisma jest plik XML poświadczenia (UPO) opatrzony pieczęcią elektroniczną "
          "urzędu. Ten wydruk jest jedynie jego wizualizacją i sam niczego nie dowodzi.", small),
        p("Stan sprawy sprawdzisz w portalu po zalogowaniu albo podając identyfikator poświadczenia i kod dostępu.",
          small),
    ]
    document.build(story)
    return buffer.getvalue()
