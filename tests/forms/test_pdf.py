"""The form's PDF is a tagged PDF a screen reader can read: headings, the answers' tables, language, title."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms.test_catalog_services import SAMPLES, fill_in
from tests.helpers import local, login_resident
from tests.pdfs import inspect


def preview(client: FlaskClient, app: Flask, answers: dict[str, str]) -> bytes:
    login_resident(client)
    answered = fill_in(client, app, "pismo-ogolne", {**SAMPLES["pismo-ogolne"], **answers}, {})
    assert answered.status_code == 302, answered.get_data(as_text=True)[:2000]
    response = client.get(local(answered.headers["Location"]).replace("/podsumowanie", "/podglad.pdf"))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return response.data


def test_the_form_pdf_is_tagged_with_its_language_title_headings_and_answers(
        app: Flask, client: FlaskClient, catalog: None, tmp_path: Path) -> None:
    pdf = inspect(preview(client, app, {"tytul": "Wniosek o naprawę chodnika przy ul. Słowiańskiej"}), tmp_path)
    assert pdf.tagged and pdf.lang == "pl" and pdf.pdfua_part == "1"
    assert pdf.title == pdf.xmp_title == "Pismo ogólne do urzędu" and pdf.display_doc_title
    assert [h.text for h in pdf.root.all("H1")] == ["Pismo ogólne do urzędu"]
    assert [h.text for h in pdf.root.all("H2")] == ["Treść pisma"]
    (table,) = pdf.root.all("Table")
    answers = {row.all("TH")[0].text: row.all("TD")[0].text for row in table.all("TR")}
    assert answers["Tytuł pisma"] == "Wniosek o naprawę chodnika przy ul. Słowiańskiej"
    assert answers["Rodzaj pisma"] == "Wniosek" and answers["Treść pisma"] == "Proszę o naprawę."


@pytest.mark.parametrize("text", ["x" * 20_000, "Zażółć gęślą jaźń. " * 1_000],
                         ids=["one-word", "one-paragraph"])
def test_a_long_answer_wraps_whole_in_its_table_cell(app: Flask, client: FlaskClient, catalog: None,
                                                     tmp_path: Path, text: str) -> None:
    pdf = inspect(preview(client, app, {"tresc": text}), tmp_path)
    cells = {row.all("TH")[0].text: row.all("TD")[0].text for row in pdf.root.all("TR")}
    # Lines wrap where there were spaces (the spaces themselves are not drawn at a line's end).
    assert cells["Treść pisma"].replace(" ", "") == text.replace(" ", "")
