"""What every PDF the portal makes shares: a tagged PDF (PDF/UA-1) that a screen reader can read.

A document is a short list of blocks — headings, paragraphs, tables of facts, a QR code — written as plain
HTML and laid out by WeasyPrint, which tags what it draws: the structure tree holds the headings (H1, H2),
the paragraphs, each table with its rows, row headers and cells (TH scoped to its row, every TD naming its
TH), and a QR code as a Figure with its alternative text, in reading order. The document's language (/Lang),
its title (document information, XMP dc:title, shown by viewers instead of the file name) and the PDF/UA
identification come with it. The fonts are the DejaVu files shipped in portal/static/fonts: the PDF
standard fonts have no ą, ę, ł, ś, ź, ż.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from markupsafe import Markup, escape

from portal.clock import WARSAW

FONTS = Path(__file__).resolve().parent / "static" / "fonts"

_CSS = """
@font-face { font-family: "Okienko Sans"; src: url("DejaVuSans.ttf"); font-weight: normal; }
@font-face { font-family: "Okienko Sans"; src: url("DejaVuSans-Bold.ttf"); font-weight: bold; }
@page { size: A4; margin: 20mm; }
body { font-family: "Okienko Sans"; font-size: 10pt; line-height: 14pt; color: #0b0c0c; margin: 0; }
h1 { font-size: 15pt; line-height: 20pt; margin: 0 0 6pt; }
h2 { font-size: 11.5pt; line-height: 16pt; margin: 14pt 0 4pt; }
p { margin: 0 0 4pt; }
.small { font-size: 8.5pt; line-height: 12pt; }
.gap { margin-top: 6mm; }
table { border-collapse: collapse; width: 170mm; table-layout: fixed; margin: 0 0 6mm; }
th { width: 55mm; text-align: left; font-weight: normal; font-size: 8.5pt; line-height: 12pt; }
th, td { vertical-align: top; padding: 2pt 4pt 6pt 0; border-bottom: 0.5pt solid #b1b4b6; }
td { white-space: pre-wrap; overflow-wrap: anywhere; }
.piece { display: block; }
img.qr { width: 32mm; height: 32mm; display: block; margin: 4mm 0 2mm; }
"""

# WeasyPrint breaks a word wider than its cell line by line, measuring the whole rest of the word each time:
# a 20,000-character answer without a space took half an hour. Cut into blocks of this many characters it
# takes about a second; text with spaces is left whole (a 20,000-character paragraph takes about one second).
_LONGEST_RUN = 500
_LONG_RUN = re.compile(rf"\S{{{_LONGEST_RUN}}}")


def heading(text: str, level: int = 1) -> Markup:
    return Markup("<h{0}>{1}</h{0}>").format(level, text)


def p(text: str, small: bool = False, gap: bool = False) -> Markup:
    """A paragraph; `small` for the notes, `gap` for one set apart from what comes before."""
    classes = " ".join(name for name, on in (("small", small), ("gap", gap)) if on)
    return Markup('<p class="{}">{}</p>').format(classes, _lines(text))


def facts(rows: list[tuple[str, str]]) -> Markup:
    """A table of labels (row headers) and values; a long value wraps and goes on over the page break."""
    body = Markup("").join(Markup('<tr><th scope="row">{}</th><td>{}</td></tr>').format(label, _cell(value))
                           for label, value in rows)
    return Markup("<table><tbody>{}</tbody></table>").format(body)


def qr_code(payload: str, alt: str) -> Markup:
    """A QR code of `payload` as an image, announced to screen readers by `alt`."""
    import segno

    uri = segno.make(payload, error="m").svg_data_uri()
    return Markup('<img class="qr" src="{}" alt="{}">').format(uri, alt)


def local_time(moment: datetime) -> str:
    return f"{moment.astimezone(WARSAW):%d.%m.%Y, %H:%M:%S} (czas polski; {moment.isoformat(timespec='milliseconds')})"


@dataclass(frozen=True)
class Meta:
    title: str
    author: str
    subject: str
    lang: str = "pl"


def html(meta: Meta, blocks: list[Markup]) -> Markup:
    """The HTML the PDF is laid out from (also what a test or a reviewer can read)."""
    return Markup(
        '<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>'
        '<meta name="author" content="{author}"><meta name="description" content="{subject}">'
        "</head><body>{body}</body></html>"
    ).format(lang=meta.lang, title=meta.title, author=meta.author, subject=meta.subject,
             body=Markup("").join(blocks))


def document(meta: Meta, blocks: list[Markup]) -> bytes:
    """An A4 tagged PDF (PDF/UA-1) of `blocks`, with the title, author, subject and language of `meta`."""
    import weasyprint  # about half a second to import: only when a PDF is made, not in every command

    fetcher, base = _fetcher(), FONTS.as_uri() + "/"
    page = weasyprint.HTML(string=html(meta, blocks), base_url=base, url_fetcher=fetcher)
    style = weasyprint.CSS(string=_CSS, base_url=base, url_fetcher=fetcher)
    return _finish_structure(page.write_pdf(stylesheets=[style], pdf_variant="pdf/ua-1"))


def _fetcher() -> Any:
    """Only the shipped fonts and the QR code's data: address. The text is escaped, and nothing in a PDF may
    make the server fetch anything from elsewhere; a font that cannot be read stops the rendering instead of
    a fallback font without the Polish letters."""
    from weasyprint.urls import URLFetcher

    class ShippedFilesOnly(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.startswith("data:"):
                path = Path(url2pathname(urlsplit(url).path)).resolve()
                if not url.startswith("file:") or path.parent != FONTS or path.suffix != ".ttf":
                    raise ValueError(f"a PDF may not load {url}")
            return super().fetch(url, headers)

    return ShippedFilesOnly(allowed_protocols={"file", "data"}, allow_redirects=False, fail_on_errors=True)


def _finish_structure(data: bytes) -> bytes:
    """The structure tree as a screen reader needs it, where WeasyPrint leaves it short.

    - One table for each table in the document, however many pages it runs over. WeasyPrint tags every page
      on its own: a table that goes on over a page break becomes a second table whose first row, when the
      break fell inside a row, has an empty row header and the rest of the cell, and a screen reader would
      announce a new table in the middle of an answer. The blocks here never put two tables side by side
      (a heading or a paragraph stands between), so a table straight after a table is the same one: its
      rows go back into the first, and a row's continuation back into that row's cells.
    - Every cell names its row header by the header's ID (WeasyPrint writes those): the IDs are entered in
      the tree's ID tree, where readers look them up, and each header says it heads a row (the only kind
      of header `facts` makes)."""
    import pikepdf

    with pikepdf.open(io.BytesIO(data)) as pdf:
        tree = pdf.Root.StructTreeRoot
        document_element = tree.K[0]
        kept: list[Any] = []
        for kid in document_element.K:
            if kept and kept[-1].get("/S") == kid.get("/S") == "/Table" and _join(kept[-1], kid):
                continue
            kept.append(kid)
        document_element.K = pikepdf.Array(kept)
        ids: dict[str, Any] = {}
        for element in _elements(document_element, pikepdf):
            if element.get("/S") == "/TH":
                attributes = element.get("/A")
                if attributes is None:
                    element.A = attributes = pikepdf.Dictionary(O=pikepdf.Name.Table)
                attributes.Scope = pikepdf.Name.Row
            if "/ID" in element:
                ids[str(element.ID)] = element
        if ids:
            tree.IDTree = pdf.make_indirect(pikepdf.Dictionary(
                Names=pikepdf.Array([item for key in sorted(ids) for item in (pikepdf.String(key), ids[key])])))
        out = io.BytesIO()
        pdf.save(out)
        return out.getvalue()


def _elements(element: Any, pikepdf: Any) -> Iterator[Any]:
    """`element` and every structure element under it (its kids may also be marked-content ids)."""
    yield element
    kids = element.get("/K")
    for kid in kids if isinstance(kids, pikepdf.Array) else [kids]:
        if isinstance(kid, pikepdf.Dictionary) and "/S" in kid:
            yield from _elements(kid, pikepdf)


def _join(table: Any, rest: Any) -> bool:
    """Move the rows of `rest` (the same table's part on a later page) into `table`."""
    rows, more = _rows(table), _rows(rest)
    if not rows or not more:
        return False
    first, last = more[0], rows[-1]
    cells, continued = list(first.K), list(last.K)
    if len(cells) == len(continued) and cells and cells[0].get("/S") == "/TH" and len(cells[0].K) == 0:
        for cell, into in zip(cells[1:], continued[1:], strict=True):
            for kid in cell.K:
                kid.P = into
                into.K.append(kid)
        more = more[1:]
    group = last.P
    for row in more:
        row.P = group
        group.K.append(row)
    return True


def _rows(table: Any) -> list[Any]:
    found = []
    for kid in table.K:
        if kid.get("/S") == "/TR":
            found.append(kid)
        elif kid.get("/S") in ("/THead", "/TBody", "/TFoot"):
            found += [row for row in kid.K if row.get("/S") == "/TR"]
    return found


def _lines(text: str) -> Markup:
    return Markup("<br>").join(escape(line) for line in text.split("\n"))


def _cell(text: str) -> Markup:
    if len(text) < _LONGEST_RUN or not _LONG_RUN.search(text):
        return escape(text)
    pieces, start = [], 0
    for run in _LONG_RUN.finditer(text):
        pieces.append(text[start:run.end()])
        start = run.end()
    pieces.append(text[start:])
    return Markup("").join(Markup('<span class="piece">{}</span>').format(piece) for piece in pieces if piece)
