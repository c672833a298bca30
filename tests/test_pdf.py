"""The shared PDF maker (portal/pdf.py): what a document may load, and the structure it leaves."""

from __future__ import annotations

from pathlib import Path

import pytest
from markupsafe import Markup

from portal import pdf
from tests.pdfs import inspect


@pytest.mark.parametrize("address", ["file:///etc/passwd", "http://127.0.0.1:9/x.png",
                                     f"{pdf.FONTS.as_uri()}/../../pdf.py"])
def test_a_pdf_loads_nothing_but_the_shipped_fonts(address: str) -> None:
    with pytest.raises(BaseException, match="Error fetching"):
        pdf.document(pdf.Meta("Test", "Urząd", "Test"), [Markup('<img src="{}" alt="x">').format(address)])


def test_text_is_text_not_markup(tmp_path: Path) -> None:
    made = inspect(pdf.document(pdf.Meta("<b>Tytuł</b>", "Urząd", "Test"),
                                [pdf.heading('<img src="file:///etc/passwd">'), pdf.facts([("<i>a</i>", "b & c")])]),
                   tmp_path)
    assert made.title == "<b>Tytuł</b>"
    assert [h.text for h in made.root.all("H1")] == ['<img src="file:///etc/passwd">'] and not made.root.all("Figure")
    assert [cell.text for cell in made.root.all("TH") + made.root.all("TD")] == ["<i>a</i>", "b & c"]


def test_a_table_over_several_pages_is_one_table_with_whole_rows(tmp_path: Path) -> None:
    rows = [("Krótko", "tak"), ("Długo", "Zażółć gęślą jaźń.\n" * 400), ("Po", "koniec")]
    made = inspect(pdf.document(pdf.Meta("Test", "Urząd", "Test"), [pdf.heading("Tabela"), pdf.facts(rows)]),
                   tmp_path)
    (table,) = made.root.all("Table")
    assert [(r.all("TH")[0].text, r.all("TD")[0].text.replace(" ", "")) for r in table.all("TR")] == [
        (label, value.replace("\n", "").replace(" ", "")) for label, value in rows]
