"""What residents met in the demo (issue 16), in a real browser with axe on every page: focus on the error
summary, the offer to resume an open draft, the waste fee shown as it is typed, answers kept across a change
of language."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest
from flask import Flask

from tests.browser import AccessibilityAudit, guide_screenshot, sign_in_on_sandbox
from tests.browser_e2e.filler import FormFiller

pytestmark = pytest.mark.browser
NBSP = "\u00a0"

ACTIVE = """() => {
  const el = document.activeElement;
  return {tag: el.tagName.toLowerCase(), cls: el.className || "", role: el.getAttribute("role") || "",
          tabindex: el.getAttribute("tabindex")};
}"""


def start(page: Any, portal: str, slug: str, signed_in: bool = False) -> None:
    page.goto(f"{portal}/uslugi/{slug}")
    page.get_by_role("button", name="Rozpocznij").click()
    if not signed_in:
        sign_in_on_sandbox(page, "Jan Kowalski")
        page.wait_for_url(f"{portal}/uslugi/{slug}")
        page.get_by_role("button", name="Rozpocznij").click()


def test_after_a_failed_step_focus_is_on_the_error_summary(app: Flask, catalog: None, live_portal: str,
                                                            page: Any) -> None:
    audit = AccessibilityAudit()
    start(page, live_portal, "pismo-ogolne")
    page.wait_for_url("**/krok/pismo")
    assert page.evaluate(ACTIVE)["tag"] == "body"  # a fresh step: nothing takes focus by itself
    page.get_by_role("button", name="Dalej", exact=True).click()
    page.wait_for_load_state()
    focused = page.evaluate(ACTIVE)
    assert "error-summary" in focused["cls"], focused
    assert focused["role"] == "alert" and focused["tabindex"] == "-1"
    assert page.title().startswith("Błąd: ")
    audit.check(page)
    page.keyboard.press("Tab")  # from the summary, the first error's link
    assert page.evaluate("() => document.activeElement.textContent") == "Wybierz: rodzaj pisma."

    anonymous = page.context.browser.new_context(locale="pl-PL").new_page()
    anonymous.goto(f"{live_portal}/sprawdz-sprawe")
    anonymous.get_by_label("Identyfikator poświadczenia").fill("OK-2026-NIEMA")
    anonymous.get_by_label("Kod dostępu").fill("ZLYKOD")
    anonymous.get_by_role("button", name="Sprawdź", exact=True).click()
    anonymous.wait_for_load_state()
    assert anonymous.title().startswith("Błąd: ")
    assert "error-summary" in anonymous.evaluate(ACTIVE)["cls"]
    audit.check(anonymous)
    anonymous.context.close()
    audit.assert_clean()


def walk_to(page: Any, filler: FormFiller, step_id: str) -> None:
    """Answer the steps before `step_id` with the filler's samples."""
    while not page.url.split("?")[0].endswith(f"/krok/{step_id}"):
        here = page.url.split("/krok/")[1].split("?")[0].split("#")[0]
        filler.fill_step(page, here)
        page.get_by_role("button", name="Dalej", exact=True).click()
        page.wait_for_load_state()
        assert not page.locator(".error-summary").count(), page.locator(".error-summary").inner_text()


def summary_answer(page: Any, label: str) -> str:
    row = page.locator(".summary__row").filter(has=page.locator("dt", has_text=label))
    return row.locator("dd").first.inner_text().replace(NBSP, " ")


def fee(page: Any) -> str:
    return page.locator("#oplata [data-computed]").inner_text().replace(NBSP, " ")


def test_the_waste_fee_is_shown_as_soon_as_its_inputs_are_known(app: Flask, catalog: None, live_portal: str,
                                                                page: Any) -> None:
    audit = AccessibilityAudit()
    filler = FormFiller("deklaracja-odpady")
    start(page, live_portal, "deklaracja-odpady")
    walk_to(page, filler, "oplata")
    assert fee(page) == "obliczymy po podaniu danych powyżej"
    page.get_by_label("Liczba osób zamieszkujących nieruchomość").fill("3")
    assert fee(page) == "96,00 zł"  # 3 × 32,00 zł, before anything is sent
    page.get_by_label("Kompostuję bioodpady w kompostowniku przydomowym").check()
    assert fee(page) == "90,00 zł"  # 3 × 30,00 zł
    page.get_by_label("Liczba osób zamieszkujących nieruchomość").fill("trzy")
    assert fee(page) == "obliczymy po podaniu danych powyżej"
    page.get_by_label("Liczba osób zamieszkujących nieruchomość").fill("40")
    assert fee(page) == "1 200,00 zł"
    audit.check(page)
    page.get_by_label("Oświadczam, że dane w deklaracji są zgodne z prawdą").check()
    page.get_by_role("button", name="Dalej", exact=True).click()
    page.wait_for_url("**/podsumowanie")
    assert summary_answer(page, "Miesięczna opłata — obliczona") == "1 200,00 zł"  # the server's figure
    arose = date.fromisoformat(filler.answers["data_obowiazku"])
    assert summary_answer(page, "Data powstania obowiązku albo zmiany") == arose.strftime("%d.%m.%Y")
    audit.check(page)
    audit.assert_clean()


def test_starting_again_offers_the_open_draft(app: Flask, catalog: None, live_portal: str, page: Any) -> None:
    audit = AccessibilityAudit()
    start(page, live_portal, "pismo-ogolne")
    page.wait_for_url("**/krok/pismo")
    page.get_by_label("Wniosek", exact=True).check()
    page.get_by_label("Tytuł pisma").fill("Naprawa chodnika przy ul. Słowiańskiej")
    page.get_by_label("Treść pisma").fill("Proszę o naprawę chodnika.")
    page.get_by_role("button", name="Dalej", exact=True).click()
    page.wait_for_url("**/krok/zalaczniki")  # the letter step saved; the resident leaves it there
    page.goto(f"{live_portal}/uslugi/pismo-ogolne")
    page.get_by_role("button", name="Rozpocznij").click()
    page.wait_for_url("**/uslugi/pismo-ogolne/rozpoczete")
    assert page.get_by_role("heading", name="Masz już rozpoczęty wniosek", level=1).is_visible()
    row = page.get_by_role("row", name=re.compile("Naprawa chodnika przy ul. Słowiańskiej"))
    assert re.search(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d", row.inner_text())
    audit.check(page)
    guide_screenshot(page, "rozpoczete-wnioski")
    page.get_by_role("button", name="Rozpocznij nowy wniosek").click()
    page.wait_for_url("**/krok/pismo")
    assert page.get_by_label("Tytuł pisma").input_value() == ""
    page.get_by_label("Skarga", exact=True).check()
    page.get_by_label("Tytuł pisma").fill("Wycinka topoli na podwórku")
    page.get_by_label("Treść pisma").fill("Skarga na wycinkę.")
    page.get_by_role("button", name="Dalej", exact=True).click()
    page.wait_for_url("**/krok/zalaczniki")

    page.goto(f"{live_portal}/uslugi/pismo-ogolne")
    page.get_by_role("button", name="Rozpocznij").click()
    page.wait_for_url("**/uslugi/pismo-ogolne/rozpoczete")  # is_visible() does not wait for the page
    assert page.get_by_role("heading", name="Masz już rozpoczęte wnioski", level=1).is_visible()
    page.get_by_role("link", name="Dokończ „Naprawa chodnika przy ul. Słowiańskiej”").click()
    page.wait_for_url("**/podsumowanie")  # nothing left that must be answered: the summary
    assert "Proszę o naprawę chodnika." in page.inner_text("main")

    page.get_by_role("navigation", name="Menu główne").get_by_role("link", name="Moje sprawy").click()
    drafts = page.locator("main ul.service-list")
    assert drafts.get_by_role("link", name="Pismo ogólne do urzędu: „Naprawa chodnika przy ul. Słowiańskiej”")\
        .is_visible()
    assert drafts.get_by_role("link", name="Pismo ogólne do urzędu: „Wycinka topoli na podwórku”").is_visible()
    assert drafts.inner_text().count("Ostatnia zmiana:") == 2
    audit.check(page)
    audit.assert_clean()


def test_switching_the_language_keeps_the_answers_typed(app: Flask, catalog: None, live_portal: str,
                                                        page: Any) -> None:
    audit = AccessibilityAudit()
    start(page, live_portal, "pismo-ogolne")
    page.wait_for_url("**/krok/pismo")
    page.get_by_label("Skarga", exact=True).check()
    page.get_by_label("Tytuł pisma").fill("Hałas z budowy nocą")
    page.get_by_label("Treść pisma").fill("Pisane, ale jeszcze niewysłane.")
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**lang=en")
    assert page.get_by_role("heading", name="Your letter", level=1).is_visible()
    assert page.get_by_label("Subject").input_value() == "Hałas z budowy nocą"
    assert page.get_by_label("Text of the letter").input_value() == "Pisane, ale jeszcze niewysłane."
    assert page.get_by_label("Complaint", exact=True).is_checked()
    audit.check(page)
    page.get_by_label("Subject").fill("Hałas z budowy w nocy")
    page.get_by_role("link", name="Polski").click()
    page.wait_for_url("**lang=pl")
    assert page.get_by_label("Tytuł pisma").input_value() == "Hałas z budowy w nocy"

    # The waste fee's step in English: the preview in English too.
    start(page, live_portal, "deklaracja-odpady", signed_in=True)
    filler = FormFiller("deklaracja-odpady")
    walk_to(page, filler, "oplata")
    page.get_by_label("Liczba osób zamieszkujących nieruchomość").fill("2")
    page.get_by_role("link", name="English").click()
    page.wait_for_url("**lang=en")
    assert page.get_by_label("Number of people living at the property").input_value() == "2"
    assert fee(page) == "PLN 64.00"
    audit.check(page)
    page.get_by_role("link", name="Polski").click()
    audit.assert_clean()
