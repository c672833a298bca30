"""The thin flow in a real browser, with an accessibility audit (axe-core, WCAG 2.1 A/AA) on every page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from backoffice_adapter import outbox
from tests.browser import AccessibilityAudit, browser  # noqa: F401 - fixture

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: F811
    context = browser.new_context(locale="pl-PL")
    page = context.new_page()
    yield page
    context.close()


def test_resident_files_a_letter_in_the_browser_and_every_page_is_accessible(
    app: Flask, catalog: None, live_portal: str, page
) -> None:
    audit = AccessibilityAudit()
    SHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_portal}/")
    audit.check(page)
    page.get_by_role("link", name="Zobacz e-usługi").click()
    audit.check(page)
    page.get_by_role("link", name="Pismo ogólne do urzędu").click()
    audit.check(page)
    page.get_by_role("button", name="Rozpocznij").click()

    # The sandbox login page (login.gov.pl stand-in) is part of the resident's journey too.
    page.wait_for_url("**/wk/authorize**")
    audit.check(page)
    page.get_by_role("button", name="Zaloguj jako Jan Kowalski").click()
    page.wait_for_url(f"{live_portal}/uslugi/pismo-ogolne")
    page.get_by_role("button", name="Rozpocznij").click()

    page.wait_for_url("**/krok/pismo")
    page.get_by_role("button", name="Dalej").click()  # nothing filled in: errors first
    summary = page.locator(".error-summary")
    assert summary.is_visible()
    assert "Uzupełnij pole „Tytuł pisma”." in summary.inner_text()
    audit.check(page)
    page.screenshot(path=str(SHOTS / "form-errors.png"), full_page=True)

    page.get_by_label("Wniosek").check()
    page.get_by_label("Tytuł pisma").fill("Naprawa chodnika przy ul. Słowiańskiej")
    page.get_by_label("Treść pisma").fill("Proszę o naprawę zapadniętych płyt chodnika przed numerem 12.")
    assert page.get_by_label("Miejscowość, w której piszesz").input_value() == "Leszno"
    page.get_by_role("button", name="Dalej").click()

    page.wait_for_url("**/podsumowanie")
    assert "Naprawa chodnika przy ul. Słowiańskiej" in page.content()
    audit.check(page)
    page.get_by_role("link", name="Dane są poprawne — przejdź do podpisu").click()
    audit.check(page)
    page.get_by_role("button", name="Podpisz profilem zaufanym i złóż pismo").click()

    page.wait_for_url("**/tpsigning5/podpis/**")
    assert "Jan Kowalski" in page.content()
    audit.check(page)
    page.get_by_role("button", name="Podpisz profilem zaufanym").click()

    page.wait_for_url("**zlozono=1")
    assert page.get_by_role("heading", name="Pismo zostało złożone").is_visible()
    audit.check(page)
    page.screenshot(path=str(SHOTS / "receipt.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="UPO — plik XML z pieczęcią urzędu (dowód prawny)").click()
    assert download.value.suggested_filename.startswith("UPO-OK-")

    with app.app_context():
        assert outbox.run_once() == 1
    page.get_by_role("link", name="Moje sprawy").click()
    audit.check(page)
    page.get_by_role("link", name="Pismo ogólne do urzędu").click()
    assert "RPW/1/" in page.content()
    audit.check(page)

    page.goto(f"{live_portal}/deklaracja-dostepnosci")
    audit.check(page)
    page.goto(f"{live_portal}/ochrona-danych?lang=en")
    audit.check(page)
    audit.assert_clean()


def test_clerk_sees_the_register_in_the_browser(app: Flask, catalog: None, live_portal: str, page) -> None:
    audit = AccessibilityAudit()
    page.goto(f"{live_portal}/urzad/")
    page.wait_for_url("**/office-idp/authorize**")
    audit.check(page)
    page.get_by_role("button", name="Zaloguj jako Katarzyna Zielińska").click()
    page.wait_for_url(f"{live_portal}/urzad/")
    assert page.get_by_role("heading", name="Rejestr przesyłek wpływających (RPW)").is_visible()
    audit.check(page)
    audit.assert_clean()
