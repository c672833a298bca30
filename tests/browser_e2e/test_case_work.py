"""A case worked at the desk in the browser, from the registry to the decision, with the resident's
answer to a call to supplement in between; then the administrator's pages. Axe checks every page, and
the clerk's and administrator's guide screenshots are taken here.

tests/test_browser.py::test_the_registry_finds_and_assigns_a_letter_and_the_officer_decides_it_in_the_browser
already walks the register's search and sorting, dekretacja and a decision the resident opens (on SQLite
too); this journey adds the call to supplement answered by the resident and joined to the case, the
decision after it, and the administrator's pages.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from backoffice_adapter import outbox
from portal.auth import service as auth
from portal.auth.cli import sandbox_directory
from tests.browser import (
    GUIDE_VIEWPORT,
    AccessibilityAudit,
    attach_button,
    fact,
    guide_screenshot,
    sign_in_on_sandbox,
    sign_with_trusted_profile,
)
from tests.desk.conftest import a_pdf
from tests.factories import make_draft, make_resident, signed_by_trusted_profile

pytestmark = pytest.mark.browser
TITLE = "Naprawa chodnika przy ul. Słowiańskiej"
RULING = "Chodnik zostanie naprawiony do 15 grudnia."


def file_a_letter(app: Flask, pki: Path) -> str:
    """Jan Kowalski's general letter, filed and delivered to the desk (the browser filing is tested elsewhere)."""
    from portal.inbox import service as inbox
    from portal.signing import service as signing

    with app.app_context():
        draft = make_draft(make_resident(), tytul=TITLE, tresc="Płyty chodnika przed numerem 12 są zapadnięte.")
        signed = signed_by_trusted_profile(draft, pki)
        submission = inbox.accept(draft, signed, signing.check(draft, signed))
        assert outbox.run_once() == 1
        return submission.receipt_id


def sign_on_the_clerks_computer(context: Any, sandbox_url: str, pdf: Path, certificate: str,
                                audit: AccessibilityAudit) -> Path:
    """The sandbox's stand-in for the clerk's desktop signing software: a PAdES-signed copy of the PDF."""
    signer = context.new_page()
    signer.goto(f"{sandbox_url}/kwalifikowany")
    audit.check(signer)
    signer.get_by_label("Dokument do podpisu (XML albo PDF)").set_input_files(str(pdf))
    signer.get_by_label(certificate).check()
    with signer.expect_download() as download:
        signer.get_by_role("button", name="Podpisz").click()
    signed = pdf.with_name(f"{pdf.stem}-podpisany.pdf")
    download.value.save_as(str(signed))
    signer.close()
    return signed


def test_a_call_to_supplement_answered_and_a_decision(app: Flask, catalog: None, live_portal: str, sandbox_url: str,
                                                       pki: Path, browser, tmp_path: Path) -> None:  # noqa: ANN001
    receipt_id = file_a_letter(app, pki)
    with app.app_context():  # the office's directory, as `okienko demo` loads it: every clerk, none signed in yet
        auth.import_directory(sandbox_directory())
    audit = AccessibilityAudit()
    viewport = GUIDE_VIEWPORT

    # The registry (kancelaria) reads the register and assigns the letter to a case officer.
    registry = browser.new_context(locale="pl-PL", viewport=viewport).new_page()
    registry.goto(f"{live_portal}/urzad/")
    registry.wait_for_url("**/office-idp/authorize**")
    audit.check(registry)
    sign_in_on_sandbox(registry, "Katarzyna Zielińska")
    registry.wait_for_url(f"{live_portal}/urzad/")
    assert registry.get_by_role("heading", name="Rejestr przesyłek wpływających (RPW)").is_visible()
    audit.check(registry)
    guide_screenshot(registry, "urzad-rejestr")
    registry.get_by_role("link", name=re.compile(r"^RPW.1.")).click()
    assert fact(registry, "Identyfikator UPO") == receipt_id
    audit.check(registry)
    guide_screenshot(registry, "urzad-przesylka")
    registry.get_by_label("Komórka").select_option("OR")
    registry.get_by_label("Pracownik (nieobowiązkowo)").select_option(label="Marek Wójcik (OR)")
    registry.get_by_role("button", name="Dekretuj").click()
    assert registry.get_by_role("status").inner_text().startswith("Przydzielono przesyłkę RPW/1/")
    assert fact(registry, "Przydzielona") == "Marek Wójcik"
    audit.check(registry)
    guide_screenshot(registry, "urzad-dekretacja")
    registry.context.close()

    # The case officer signs in for the first time, finds it among his own, opens the case and calls for a
    # supplement.
    office = browser.new_context(locale="pl-PL", viewport=viewport, accept_downloads=True)
    clerk = office.new_page()
    clerk.goto(f"{live_portal}/urzad/")
    sign_in_on_sandbox(clerk, "Marek Wójcik")
    clerk.wait_for_url(f"{live_portal}/urzad/")
    audit.check(clerk)
    clerk.get_by_label("przydzielone mnie").check()
    clerk.get_by_role("button", name="Filtruj").click()
    audit.check(clerk)
    clerk.get_by_role("link", name=re.compile(r"^RPW.1.")).click()
    audit.check(clerk)
    clerk.get_by_label("Tytuł sprawy").fill(TITLE)
    clerk.get_by_role("button", name="Załóż sprawę").click()
    clerk.wait_for_url("**/urzad/sprawy/*")
    reference = clerk.locator("h1").inner_text()
    assert re.fullmatch(r"OR\.0152\.1\.\d{4}", reference)
    assert fact(clerk, "Prowadzi") == "Marek Wójcik"
    audit.check(clerk)
    guide_screenshot(clerk, "urzad-sprawa")
    due = date.today() + timedelta(days=14)
    clerk.get_by_label("Czego brakuje").fill("Proszę dołączyć zdjęcie zapadniętych płyt chodnika.")
    clerk.get_by_label("Termin na uzupełnienie").fill(due.isoformat())
    clerk.get_by_role("button", name="Wyślij wezwanie").click()
    calls = clerk.get_by_role("heading", name="Wezwania do uzupełnienia").locator("xpath=following-sibling::ul[1]")
    assert "Proszę dołączyć zdjęcie" in calls.inner_text() and "czeka" in calls.inner_text()
    audit.check(clerk)
    guide_screenshot(clerk, "urzad-wezwanie")

    # The resident sees the call on Moje sprawy and answers it with the pre-filled letter.
    home = browser.new_context(locale="pl-PL", viewport=viewport, accept_downloads=True)
    resident = home.new_page()
    resident.goto(f"{live_portal}/moje-sprawy")
    sign_in_on_sandbox(resident, "Jan Kowalski")
    resident.wait_for_url(f"{live_portal}/moje-sprawy")
    assert "czeka na Twoje uzupełnienie" in resident.inner_text("main") and reference in resident.inner_text("main")
    audit.check(resident)
    guide_screenshot(resident, "moje-sprawy-wezwanie")
    resident.get_by_role("link", name="Pismo ogólne do urzędu").click()
    call = resident.locator(".notice", has=resident.get_by_role("heading", name="Urząd prosi o uzupełnienie"))
    assert "Proszę dołączyć zdjęcie zapadniętych płyt chodnika." in call.inner_text()
    assert f"Termin: {due.strftime('%d.%m.%Y')}" in call.inner_text()
    audit.check(resident)
    guide_screenshot(resident, "sprawa-wezwanie")
    case_page = resident.url
    resident.get_by_role("button", name="Uzupełnij pismo").click()
    resident.wait_for_url("**/krok/pismo")
    assert resident.get_by_label("Tytuł pisma").input_value() == f"Uzupełnienie do sprawy {reference}"
    assert resident.get_by_label("Wyjaśnienie", exact=True).is_checked()
    assert resident.get_by_label("Miejscowość, w której piszesz").input_value() == "Leszno"
    resident.get_by_label("Treść pisma").fill("Zdjęcie przesyłam w załączeniu do tego pisma.")
    audit.check(resident)
    guide_screenshot(resident, "uzupelnienie")
    resident.get_by_role("button", name="Dalej", exact=True).click()
    resident.wait_for_url("**/krok/zalaczniki")  # the photo the office asked for goes with the answer
    (tmp_path / "zdjecie.pdf").write_bytes(a_pdf("Zdjęcie zapadniętych płyt chodnika"))
    resident.get_by_label("Wybierz plik: załącznik do pisma").set_input_files(str(tmp_path / "zdjecie.pdf"))
    attach_button(resident, "załącznik do pisma").click()
    assert "Dołączono plik zdjecie.pdf." in resident.get_by_role("status").inner_text()
    audit.check(resident)
    guide_screenshot(resident, "uzupelnienie-zalacznik")
    resident.get_by_role("button", name="Dalej", exact=True).click()
    resident.wait_for_url("**/podsumowanie")
    assert "zdjecie.pdf" in resident.inner_text("main")
    audit.check(resident)
    sign_with_trusted_profile(resident, audit)
    assert resident.get_by_role("heading", name="Pismo zostało złożone").is_visible()
    assert fact(resident, "Dotyczy sprawy") == reference
    audit.check(resident)

    with app.app_context():
        assert outbox.run_once() == 1  # the supplement reaches the desk and joins the case by itself
    resident.goto(case_page)
    assert not resident.get_by_role("heading", name="Urząd prosi o uzupełnienie").count()
    assert resident.get_by_role("heading", name="Pismo uzupełnione").is_visible()
    audit.check(resident)

    clerk.reload()
    incoming = clerk.get_by_role("heading", name="Pisma wpływające").locator("xpath=following-sibling::ul[1]")
    assert re.search(r"RPW/2/\d{4} — Pismo ogólne do urzędu, .* \(uzupełnienie\)", incoming.inner_text())
    assert "uzupełnione" in calls.inner_text()
    audit.check(clerk)
    guide_screenshot(clerk, "urzad-uzupelnienie")

    # The decision, signed on the clerk's computer (the sandbox's signer) and sent from the case.
    (tmp_path / "decyzja.pdf").write_bytes(a_pdf("Decyzja nr 7/2026"))
    decision = sign_on_the_clerks_computer(office, sandbox_url, tmp_path / "decyzja.pdf", "Marek Wójcik (urzędnik, OR)",
                                           audit)
    clerk.get_by_label("Decyzja lub inne rozstrzygnięcie").check()
    clerk.get_by_label("Tytuł pisma").fill("Decyzja w sprawie naprawy chodnika")
    clerk.get_by_label("Rozstrzygnięcie w jednym zdaniu (dla decyzji)").fill(RULING)
    clerk.get_by_label(re.compile("^Podpisany plik")).set_input_files(str(decision))
    audit.check(clerk)
    guide_screenshot(clerk, "urzad-decyzja")
    clerk.get_by_role("button", name="Wyślij pismo").click()
    sent = clerk.get_by_role("table", name="Pisma wysłane")
    assert "Decyzja w sprawie naprawy chodnika (rozstrzygnięcie)" in sent.inner_text()
    assert "jeszcze nie odebrane" in sent.inner_text()
    audit.check(clerk)
    guide_screenshot(clerk, "urzad-decyzja-wyslana")

    resident.reload()
    main = resident.inner_text("main")
    assert RULING in main and "Urząd rozstrzygnął sprawę." in main
    audit.check(resident)
    guide_screenshot(resident, "sprawa-decyzja")
    with resident.expect_download() as letter:
        resident.get_by_role("link", name="Decyzja w sprawie naprawy chodnika").click()
    assert Path(letter.value.path()).read_bytes().startswith(b"%PDF-")
    clerk.reload()
    assert "jeszcze nie odebrane" not in clerk.get_by_role("table", name="Pisma wysłane").inner_text()
    home.close()
    office.close()

    # The administrator: deliveries to the office's system, and the clerks' roles.
    admin = browser.new_context(locale="pl-PL", viewport=viewport).new_page()
    admin.goto(f"{live_portal}/urzad/admin/przekazania")
    sign_in_on_sandbox(admin, "Administrator Portalu")
    admin.wait_for_url(f"{live_portal}/urzad/admin/przekazania")
    audit.check(admin)
    admin.get_by_role("link", name="przekazana").click()
    admin.get_by_role("table", name="Przesyłki").get_by_text(receipt_id).wait_for()
    audit.check(admin)
    guide_screenshot(admin, "admin-przekazania")
    admin.get_by_role("navigation", name="Menu główne").get_by_role("link", name="Pracownicy i role").click()
    audit.check(admin)
    # A new clerk, added before their first login so that dekretacja offers them at once.
    adding = admin.locator("form", has=admin.get_by_role("heading", name="Dodaj pracownika"))
    adding.get_by_role("button", name="Dodaj pracownika").click()  # nothing filled in: errors first
    assert "Wpisz login pracownika" in admin.locator(".error-summary").inner_text()
    audit.check(admin)
    adding.get_by_label("Login w systemie logowania urzędu").fill("a.mazur")
    adding.get_by_label("Imię i nazwisko").fill("Agnieszka Mazur")
    adding.get_by_label("Komórka").select_option("MZDiI")
    adding.get_by_label("Pracownik merytoryczny").check()
    adding.get_by_role("button", name="Dodaj pracownika").click()
    assert admin.get_by_role("status").inner_text().startswith("Dodano pracownika Agnieszka Mazur (a.mazur).")
    agnieszka = admin.locator("form", has=admin.get_by_role("heading", name=re.compile("^Agnieszka Mazur")))
    assert "jeszcze się nie logował" in agnieszka.inner_text()
    audit.check(admin)
    marek = admin.locator("form", has=admin.get_by_role("heading", name=re.compile("^Marek Wójcik")))
    marek.get_by_label("Kierownik komórki").check()
    marek.get_by_role("button", name=re.compile("^Zapisz")).click()
    marek = admin.locator("form", has=admin.get_by_role("heading", name=re.compile("^Marek Wójcik")))
    assert marek.get_by_label("Kierownik komórki").is_checked()
    audit.check(admin)
    guide_screenshot(admin, "admin-pracownicy")
    admin.context.close()
    audit.assert_clean()


def test_an_overdue_case_and_the_ponaglenie(app: Flask, catalog: None, live_portal: str, pki: Path,
                                            page: Any) -> None:
    """A case past its statutory deadline: the resident files the pre-filled ponaglenie (KPA art. 37). The case
    was opened in the office's EZD (a case event), as in offices that do not use the desk."""
    from backoffice_adapter.base import CaseUpdate
    from portal.db_types import utcnow
    from portal.extensions import db
    from portal.status import service as status
    from tests.factories import make_submission

    with app.app_context():
        submission = make_submission(pki)
        submission.filed_at = utcnow() - timedelta(days=70)
        db.session.commit()
        assert outbox.run_once() == 1
        status.apply_update("webhook", CaseUpdate("opened", submission.id, "case_opened", utcnow(),
                                                  {"case_reference": "OR.0152.4.2026", "unit": "OR"}))
        submission_id, receipt_id = submission.id, submission.receipt_id
    audit = AccessibilityAudit()
    page.goto(f"{live_portal}/moje-sprawy")
    sign_in_on_sandbox(page, "Jan Kowalski")
    page.wait_for_url(f"{live_portal}/moje-sprawy")
    assert "po terminie" in page.inner_text("main")
    audit.check(page)
    page.get_by_role("link", name="Pismo ogólne do urzędu").click()
    assert "Urząd nie załatwił sprawy w terminie." in page.inner_text("main")
    audit.check(page)
    guide_screenshot(page, "sprawa-po-terminie")
    page.get_by_role("button", name="Złóż ponaglenie").click()
    page.wait_for_url("**/krok/pismo")
    assert page.get_by_label("Tytuł pisma").input_value() == "Ponaglenie (art. 37 KPA) — OR.0152.4.2026"
    text = page.get_by_label("Treść pisma").input_value()
    assert "art. 37 § 1 pkt 1" in text and receipt_id in text
    audit.check(page)
    guide_screenshot(page, "ponaglenie")
    page.get_by_role("button", name="Dalej", exact=True).click()
    page.wait_for_url("**/krok/zalaczniki")
    page.get_by_role("button", name="Dalej", exact=True).click()
    page.wait_for_url("**/podsumowanie")
    sign_with_trusted_profile(page, audit)
    assert fact(page, "Dotyczy sprawy") == "OR.0152.4.2026"
    audit.check(page)
    page.get_by_role("link", name="Moje sprawy").click()
    assert "Dotyczy sprawy OR.0152.4.2026" in page.inner_text("main")  # a ponaglenie, not a supplement
    page.goto(f"{live_portal}/moje-sprawy/{submission_id}")
    assert page.get_by_role("button", name="Złóż ponaglenie").is_visible()  # the office is still late
    audit.check(page)
    audit.assert_clean()
