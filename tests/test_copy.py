"""The Polish copy addresses every resident, not only men; every page links its favicon; a page re-shown with
an error says so in its title first."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.helpers import csrf_token

REPO = Path(__file__).resolve().parent.parent
# What the residents read: the portal's templates and Python strings, and the sandbox's stand-in pages.
SOURCES = [*sorted((REPO / "portal").rglob("*.html")), *sorted((REPO / "portal").rglob("*.py")),
           *sorted((REPO / "sandbox").rglob("*.html")), *sorted((REPO / "sandbox").rglob("*.py"))]
# Second-person forms that exist only in the masculine: "złożyłeś", "mógłbyś", "powinieneś", "jesteś
# zalogowany", "zostałeś wylogowany", "Pozostań zalogowany" — a woman reading them is told she is a man.
MASCULINE = re.compile(r"\b\w+(?:łeś|łbyś|ieneś)\b|\b(?:jesteś|zostałeś|byłeś|Pozostań|pozostań)\s+\w+(?:ny|ony|ały)\b",
                       re.IGNORECASE)


def test_no_polish_text_addresses_only_men() -> None:
    found = [f"{source.relative_to(REPO)}:{number}: {match.group(0)}"
             for source in SOURCES for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), 1)
             for match in MASCULINE.finditer(line)]
    assert found == []


def test_every_page_links_the_favicon_and_it_is_served(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    svg = re.search(r'<link rel="icon" href="([^"]+\.svg)" type="image/svg\+xml">', page)
    fallback = re.search(r'<link rel="icon" href="([^"]+\.ico)" sizes="32x32">', page)
    assert svg and fallback, page[:800]
    for path, starts in ((svg.group(1), b"<svg"), (fallback.group(1), b"\x00\x00\x01\x00"),  # an ICO
                         ("/favicon.ico", b"\x00\x00\x01\x00")):  # what browsers ask for without reading a page
        with client.get(path) as answer:
            assert answer.status_code == 200 and answer.data.startswith(starts), path


def test_a_wrong_code_on_the_receipt_check_puts_blad_in_the_title(client: FlaskClient, app: Flask) -> None:
    token = csrf_token(client, "/weryfikacja")
    page = client.post("/weryfikacja", data={"csrf_token": token, "upo": "OK-2026-NIEMA", "kod": "ZLYKOD"})
    assert re.search(r"<title>Błąd: ", page.get_data(as_text=True))


@pytest.mark.parametrize("path", ["/sprawdz-sprawe"])
def test_a_wrong_code_on_the_case_look_up_puts_blad_in_the_title(client: FlaskClient, path: str) -> None:
    token = csrf_token(client, path)
    page = client.post(path, data={"csrf_token": token, "upo": "OK-2026-NIEMA", "kod": "ZLYKOD"})
    assert page.status_code == 404 and re.search(r"<title>Błąd: ", page.get_data(as_text=True))
