"""What every PDF the portal makes shares: an embedded font with Polish letters, styles, tables."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Table, TableStyle

FONTS = Path(__file__).resolve().parent / "static" / "fonts"
WARSAW = ZoneInfo("Europe/Warsaw")
_lock = threading.Lock()


def register_fonts() -> None:
    # An embedded TrueType font: the PDF standard fonts have no ą, ę, ł, ś, ź, ż.
    with _lock:
        if "DejaVuSans" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("DejaVuSans", str(FONTS / "DejaVuSans.ttf")))
            pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", str(FONTS / "DejaVuSans-Bold.ttf")))


BODY = ParagraphStyle("body", fontName="DejaVuSans", fontSize=10, leading=14)
SMALL = ParagraphStyle("small", parent=BODY, fontSize=8.5, leading=12)
HEADING = ParagraphStyle("heading", parent=BODY, fontName="DejaVuSans-Bold", fontSize=15, leading=20, spaceAfter=6)
SUBHEADING = ParagraphStyle("subheading", parent=BODY, fontName="DejaVuSans-Bold", fontSize=11.5, leading=16,
                            spaceBefore=8, spaceAfter=4)


def p(text: str, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def facts(rows: list[tuple[str, str]]) -> Table:
    """A two-column table of labels and values; a long value goes on over as many rows as it needs."""
    cells = [[p(k if number == 0 else "", SMALL), p(piece)] for k, v in rows
             for number, piece in enumerate(_pieces(v))]
    table = Table(cells, colWidths=[55 * mm, 115 * mm])
    table.setStyle(TableStyle([
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.5, "#b1b4b6"),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
    ]))
    return table


def _pieces(text: str, lines: int = 30, chars: int = 1500) -> list[str]:
    """A value cut into pieces that each fit on a page: a table row cannot run over a page break (a letter's
    text may be 20,000 characters), and reportlab's own splitting of a row slows to minutes on many lines."""
    all_lines = text.split("\n")
    pieces = []
    for start in range(0, len(all_lines), lines):
        block = "\n".join(all_lines[start:start + lines])
        pieces += [block[at:at + chars] for at in range(0, len(block), chars)] or [""]
    return pieces


def local_time(moment: datetime) -> str:
    return f"{moment.astimezone(WARSAW):%d.%m.%Y, %H:%M:%S} (czas polski; {moment.isoformat(timespec='milliseconds')})"


def document(title: str, author: str, subject: str, story: Callable[[], list[Flowable]]) -> bytes:
    """An A4 PDF with tagged metadata (title, author, language) for screen readers."""
    register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=20 * mm,
                            bottomMargin=20 * mm, title=title, author=author, subject=subject, lang="pl-PL")
    doc.build(story())
    return buffer.getvalue()
