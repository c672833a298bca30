"""Every service of the catalog, filed in the browser from the catalog page to the UPO; axe on every page.

The general letter's run also takes the resident's guide screenshots (docs/guides/img/), in Polish and
in English, and checks the receipt at /weryfikacja the way the guide tells residents to.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from backoffice_adapter import outbox
from tests.browser import AccessibilityAudit, fact, guide_screenshot, sign_in_on_sandbox, sign_with_trusted_profile
from tests.browser_e2e.filler import FormFiller, a_pdf, catalog_services

pytestmark = pytest.mark.browser
GUIDE_SERVICE = "pismo-ogolne"  # the guides show the general letter: every office has it
GUIDE_LETTER = {"tytul": "Wniosek o naprawę chodnika przy ul. Słowiańskiej",
                "tresc": "Proszę o naprawę zapadniętych płyt chodnika przed budynkiem nr 12."}


@pytest.mark.parametrize("slug", catalog_services())
def test_each_service_from_the_catalog_to_the_upo(app: Flask, catalog: None, live_portal: str, page: Any,
                                                 tmp_path: Path, slug: str) -> None:
    shots = slug == GUIDE_SERVICE
    filler = FormFiller(slug, GUIDE_LETTER if shots else None)
    audit = AccessibilityAudit()

    page.goto(f"{live_portal}/")
    audit.check(page)
    page.get_by_role("navigation", name="Menu główne").get_by_role("link", name="E-usługi").click()
    page.get_by_role("heading", name="E-usługi", level=1).wait_for()  # waits for the page; fails if never shown
    audit.check(page)
    if shots:
        guide_screenshot(page, "katalog")
    page.get_by_role("link", name=filler.title, exact=True).click()
    page.get_by_role("heading", name=filler.title).wait_for()
    audit.check(page)
    if shots:
        guide_screenshot(page, "usluga")
    page.get_by_role("button", name="Rozpocznij").click()

    page.wait_for_url("**/wk/authorize**")
    audit.check(page)
    if shots:
        guide_screenshot(page, "logowanie")
    sign_in_on_sandbox(page, "Jan Kowalski")
    page.wait_for_url(f"{live_portal}/uslugi/{slug}")
    page.get_by_role("button", name="Rozpocznij").click()
    page.wait_for_url("**/krok/**")

    if shots:  # the guide explains error messages: show one
        page.get_by_role("button", name="Dalej", exact=True).click()
        page.locator(".error-summary").wait_for()
        audit.check(page)
        guide_screenshot(page, "blad-w-formularzu")
        page.goto(page.url)  # the step afresh, for the next picture

    def screenshot_step(page: Any, step_id: str) -> None:
        if shots and len(filler.steps_seen) == 1:
            guide_screenshot(page, "krok-formularza")
        if step_id == "zalaczniki" and slug == "zaswiadczenie":
            guide_screenshot(page, "zalaczniki")

    filler.walk_to_summary(page, audit, a_pdf(tmp_path / "potwierdzenie.pdf"), screenshot_step)
    summary = page.inner_text("main")
    for typed in filler.typed:
        assert typed in summary, f"{typed!r} is missing from the summary"
    for label in filler.attached:
        assert label in summary
    audit.check(page)
    if shots:
        guide_screenshot(page, "podsumowanie")
        page.get_by_role("link", name="Dane są poprawne — przejdź do podpisu").click()
        page.wait_for_url("**/podpis")
        guide_screenshot(page, "podpis")
        page.go_back()
    sign_with_trusted_profile(page, audit, "podpis-zaufany" if shots else None)

    assert page.get_by_role("heading", name="Pismo zostało złożone").is_visible()
    assert fact(page, "Podpis").startswith("ważny — podpis zaufany, Jan Kowalski")
    receipt_id = fact(page, "Identyfikator poświadczenia (UPO)")
    assert re.fullmatch(r"OK-\d{4}-[0-9A-Z]+", receipt_id)
    audit.check(page)
    if shots:
        guide_screenshot(page, "potwierdzenie")
    with page.expect_download() as download:
        page.get_by_role("link", name="UPO — wydruk PDF").click()
    assert download.value.suggested_filename == f"UPO-{receipt_id}.pdf"
    assert Path(download.value.path()).read_bytes().startswith(b"%PDF-")

    with page.expect_download() as upo:
        page.get_by_role("link", name="UPO — plik XML z pieczęcią urzędu (dowód prawny)").click()
    with page.expect_download() as document:
        page.get_by_role("link", name="Złożone pismo — podpisany plik XML").click()
    page.get_by_role("link", name="Sprawdź UPO").click()
    audit.check(page)
    page.get_by_label("Plik UPO (XML)").set_input_files(upo.value.path())
    page.get_by_label("Złożony dokument (nieobowiązkowo)").set_input_files(document.value.path())
    page.get_by_role("button", name="Sprawdź plik").click()
    verdict = page.get_by_role("status")
    assert verdict.get_by_role("heading", name="Poświadczenie jest prawidłowe").is_visible()
    assert "to ten dokument, który poświadczono" in verdict.inner_text()
    audit.check(page)
    if shots:
        guide_screenshot(page, "weryfikacja-upo")

    with app.app_context():
        assert outbox.run_once() == 1  # delivered to the office's desk: the case gets its RPW number
    page.get_by_role("link", name="Moje sprawy").click()
    audit.check(page)
    if shots:
        guide_screenshot(page, "moje-sprawy")
    page.get_by_role("link", name=filler.title).first.click()
    assert fact(page, "Identyfikator poświadczenia (UPO)") == receipt_id
    assert re.fullmatch(r"RPW/\d+/\d{4}", fact(page, "Numer w rejestrze przesyłek (RPW)"))
    audit.check(page)
    if shots:
        assert page.locator("dl.facts dt", has_text="Termin załatwienia").count()
        guide_screenshot(page, "sprawa")
        resident_guide_in_english(page, audit, receipt_id, fact(page, "Kod dostępu"))
    audit.assert_clean()


def resident_guide_in_english(page: Any, audit: AccessibilityAudit, receipt_id: str, code: str) -> None:
    """The English guide shows the English interface; the look-up page is shown in both."""
    case = page.url
    page.goto(f"{case}?lang=en")
    assert page.get_by_role("heading", name="General letter to the office").is_visible()
    audit.check(page)
    guide_screenshot(page, "case.en")
    page.get_by_role("navigation").get_by_role("link", name="E-services").click()
    audit.check(page)
    guide_screenshot(page, "catalog.en")
    page.get_by_role("link", name="My cases").click()
    audit.check(page)
    guide_screenshot(page, "my-cases.en")
    for lang, labels in (("en", ("Receipt identifier", "Access code", "Check")),
                         ("pl", ("Identyfikator poświadczenia", "Kod dostępu", "Sprawdź"))):
        anonymous = page.context.browser.new_context(locale="pl-PL", viewport=page.viewport_size).new_page()
        anonymous.goto(f"{case.split('/moje-sprawy')[0]}/sprawdz-sprawe?lang={lang}")
        anonymous.get_by_label(labels[0]).fill(receipt_id)
        anonymous.get_by_label(labels[1]).fill(code)
        anonymous.get_by_role("button", name=labels[2], exact=True).click()
        assert receipt_id in anonymous.inner_text("main")
        audit.check(anonymous)
        guide_screenshot(anonymous, "lookup.en" if lang == "en" else "sprawdz-sprawe")
        anonymous.context.close()
    page.goto(f"{case}?lang=pl")


@pytest.mark.parametrize("kind", ["Otoczony (podpis wewnątrz dokumentu)", "Zewnętrzny (osobny plik .xades)"])
def test_a_letter_signed_with_a_qualified_signature(app: Flask, catalog: None, live_portal: str, sandbox_url: str,
                                                    page: Any, tmp_path: Path, kind: str) -> None:
    """The other way of signing the guide describes: the resident downloads the exact XML, signs it with a
    qualified certificate in their own software (the sandbox's stand-in) and uploads the signed file."""
    filler = FormFiller(GUIDE_SERVICE, GUIDE_LETTER)
    audit = AccessibilityAudit()
    page.goto(f"{live_portal}/uslugi/{GUIDE_SERVICE}")
    page.get_by_role("button", name="Rozpocznij").click()
    sign_in_on_sandbox(page, "Jan Kowalski")
    page.wait_for_url(f"{live_portal}/uslugi/{GUIDE_SERVICE}")
    page.get_by_role("button", name="Rozpocznij").click()
    page.wait_for_url("**/krok/**")
    english = kind.startswith("Otoczony")  # one of the two runs takes the English guide's pictures
    if english:
        in_english(page, audit, "form-step.en", "Your letter")
    filler.walk_to_summary(page, audit, a_pdf(tmp_path / "plik.pdf"))
    if english:
        in_english(page, audit, "summary.en", "Check your answers before signing")
    page.get_by_role("link", name="Dane są poprawne — przejdź do podpisu").click()
    audit.check(page)
    if english:
        in_english(page, audit, "signing.en", "Sign and file the letter")
    with page.expect_download() as prepared:
        page.get_by_role("link", name="Pobierz dokument do podpisu (XML)").click()
    document = tmp_path / prepared.value.suggested_filename
    prepared.value.save_as(str(document))

    # The resident's signing software: in the sandbox, the page links the sandbox's signer.
    signer_link = page.get_by_role("link", name="program do podpisu (SANDBOX)")
    assert signer_link.get_attribute("href") == f"{sandbox_url}/kwalifikowany"
    software = page.context.new_page()
    software.goto(signer_link.get_attribute("href"))
    software.get_by_label("Dokument do podpisu (XML albo PDF)").set_input_files(str(document))
    software.get_by_label("Jan Kowalski (PESEL 80010112357)").check()
    software.get_by_label(kind).check()
    audit.check(software)
    if kind.startswith("Otoczony"):
        guide_screenshot(software, "podpis-kwalifikowany")
    with software.expect_download() as signed:
        software.get_by_role("button", name="Podpisz").click()
    signed_file = tmp_path / signed.value.suggested_filename
    signed.value.save_as(str(signed_file))
    software.close()

    page.get_by_label("Podpisany plik (XML albo XAdES)").set_input_files(str(signed_file))
    page.get_by_role("button", name="Złóż pismo z podpisem kwalifikowanym").click()
    page.wait_for_url("**zlozono=1")
    assert page.get_by_role("heading", name="Pismo zostało złożone").is_visible()
    assert fact(page, "Podpis").startswith("ważny — kwalifikowany podpis elektroniczny, Jan Kowalski")
    detached = page.get_by_role("link", name="Podpis kwalifikowany pisma — plik XAdES")
    assert detached.count() == (1 if kind.startswith("Zewnętrzny") else 0)
    audit.check(page)
    audit.assert_clean()


def in_english(page: Any, audit: AccessibilityAudit, picture: str, heading: str) -> None:
    """The page in English for the English guide, then back to Polish (the tests find things by Polish names)."""
    here = page.url.split("?")[0]
    page.goto(f"{here}?lang=en")
    assert page.get_by_role("heading", name=heading, level=1).is_visible()
    audit.check(page)
    guide_screenshot(page, picture)
    page.goto(f"{here}?lang=pl")
