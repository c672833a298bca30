"""The thin flow in a real browser, with an accessibility audit (axe-core, WCAG 2.1 A/AA) on every page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask

from backoffice_adapter import outbox
from tests.browser import AccessibilityAudit, attach_button, browser, fact  # noqa: F401 - fixture

pytestmark = pytest.mark.browser
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "screenshots"


@pytest.fixture
def page(browser) -> Iterator[object]:  # noqa: F811
    context = browser.new_context(locale="pl-PL")
    page = context.new_page()
    yield page
    context.close()


@pytest.mark.sqlite_browser
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

    page.wait_for_url("**/krok/zalaczniki")  # optional in a general letter, as on ePUAP
    assert page.get_by_role("heading", name="Załącznik do pisma (nieobowiązkowe)").is_visible()
    audit.check(page)
    page.get_by_role("button", name="Dalej", exact=True).click()

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


def test_a_multi_step_service_with_groups_conditions_and_attachments(app: Flask, catalog: None, live_portal: str,
                                                                     page, tmp_path) -> None:  # noqa: ANN001
    """Zajęcie pasa drogowego: conditional attachment, a repeating group, date order, file refusal."""
    audit = AccessibilityAudit()
    plan = tmp_path / "plan.pdf"
    plan.write_bytes(b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    fake = tmp_path / "projekt.pdf"
    fake.write_bytes(b"MZ\x90\x00 not a pdf at all")

    page.goto(f"{live_portal}/uslugi/zajecie-pasa-drogowego")
    audit.check(page)
    page.get_by_role("button", name="Rozpocznij").click()
    page.get_by_role("button", name="Zaloguj jako Jan Kowalski").click()
    page.wait_for_url("**/uslugi/zajecie-pasa-drogowego")
    page.get_by_role("button", name="Rozpocznij").click()

    page.wait_for_url("**/krok/cel")
    assert "Krok 1 z 6" in page.content()
    page.get_by_label("Prowadzenie robót w pasie drogowym").check()
    page.get_by_label("Opis robót lub zajęcia").fill("Wymiana przyłącza wodociągowego.")
    page.get_by_role("button", name="Dalej", exact=True).click()

    page.wait_for_url("**/krok/miejsce")
    page.get_by_label("Ulica").fill("ul. Leszczyńskich")
    page.get_by_label("Dokładne miejsce zajęcia").fill("Chodnik przed budynkiem nr 5.")
    page.get_by_label("Zajęcie od").fill(str(date.today() + timedelta(days=10)))
    page.get_by_label("Zajęcie do").fill(str(date.today() + timedelta(days=1)))
    page.get_by_role("button", name="Dalej", exact=True).click()
    assert "„Zajęcie do” nie może być wcześniej niż „Zajęcie od”." in page.locator(".error-summary").inner_text()
    audit.check(page)
    page.get_by_label("Zajęcie do").fill(str(date.today() + timedelta(days=20)))
    page.get_by_role("button", name="Dalej", exact=True).click()

    page.wait_for_url("**/krok/elementy")
    page.get_by_label("Rodzaj elementu").select_option("chodnik")
    page.get_by_label("Długość (m)").fill("12,5")
    page.get_by_label("Szerokość (m)").fill("2")
    page.get_by_role("button", name="Dodaj kolejną pozycję: element").click()
    page.wait_for_url("**#elementy-1")
    second = page.locator("#elementy-1")
    second.get_by_label("Rodzaj elementu").select_option("jezdnia")
    second.get_by_label("Długość (m)").fill("3")
    second.get_by_label("Szerokość (m)").fill("1.5")
    audit.check(page)
    page.get_by_role("button", name="Dalej", exact=True).click()

    page.wait_for_url("**/krok/wykonawca")
    page.get_by_label("Nazwa wykonawcy").fill("Wod-Kan Leszno sp. z o.o.")
    page.get_by_label("Kierownik robót (imię i nazwisko)").fill("Adam Nowicki")
    page.get_by_label("Telefon kierownika robót").fill("+48 600 100 200")
    page.get_by_role("button", name="Dalej", exact=True).click()

    page.wait_for_url("**/krok/zalaczniki")
    assert page.get_by_role("heading", name="Zatwierdzony projekt organizacji ruchu").is_visible()
    page.get_by_label("Wybierz plik: zatwierdzony projekt organizacji ruchu").set_input_files(str(fake))
    attach_button(page, "zatwierdzony projekt organizacji ruchu").click()
    assert "nie jest plikiem dozwolonego typu" in page.locator(".error-summary").inner_text()
    audit.check(page)
    page.get_by_label("Wybierz plik: plan sytuacyjny z zaznaczonym zajęciem").set_input_files(str(plan))
    attach_button(page, "plan sytuacyjny z zaznaczonym zajęciem").click()
    page.get_by_label("Wybierz plik: zatwierdzony projekt organizacji ruchu").set_input_files(str(plan))
    attach_button(page, "zatwierdzony projekt organizacji ruchu").click()
    audit.check(page)
    page.screenshot(path=str(SHOTS / "attachments.png"), full_page=True)
    page.get_by_role("button", name="Dalej", exact=True).click()

    page.wait_for_url("**/podsumowanie")
    content = page.content()
    assert "Element 2: Rodzaj elementu" in content and "Jezdnia" in content and "12,5" in content
    audit.check(page)
    page.screenshot(path=str(SHOTS / "summary-road.png"), full_page=True)
    page.get_by_role("link", name="Dane są poprawne — przejdź do podpisu").click()
    page.get_by_role("button", name="Podpisz profilem zaufanym i złóż pismo").click()
    page.wait_for_url("**/tpsigning5/podpis/**")
    page.get_by_role("button", name="Podpisz profilem zaufanym").click()
    page.wait_for_url("**zlozono=1")
    assert page.get_by_role("heading", name="Pismo zostało złożone").is_visible()
    audit.check(page)
    audit.assert_clean()


def test_case_events_and_the_deliveries_page_in_the_browser(app: Flask, catalog: None, live_portal: str, pki: Path,
                                                            page) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import select

    from backoffice_adapter.base import CaseUpdate
    from backoffice_adapter.models import DEAD, OutboxMessage
    from portal.extensions import db
    from portal.status import service as status
    from tests.factories import make_submission

    with app.app_context():
        submission = make_submission(pki)
        outbox.run_once()
        at = datetime(2026, 11, 26, 9, tzinfo=UTC)
        for number, (kind, data) in enumerate([
            ("case_opened", {"case_reference": "OR.1431.12.2026", "unit": "OR"}),
            ("assigned", {"unit": "OR", "handler": "Marek Wójcik"}),
            ("supplement_requested", {"message": "Proszę dołączyć pełnomocnictwo.", "due": "2026-12-03"}),
        ]):
            status.apply_update("webhook", CaseUpdate(f"b{number}", submission.id, kind, at, data))
        message = db.session.scalar(select(OutboxMessage))
        message.state, message.last_error = DEAD, "DeliveryError: the endpoint answered 503"
        db.session.commit()
        submission_id = submission.id
        from portal.inbox import service as inbox_service

        receipt_id, code = submission.receipt_id, inbox_service.access_code(submission.receipt_id)
    audit = AccessibilityAudit()
    page.goto(f"{live_portal}/moje-sprawy/{submission_id}")
    page.get_by_role("button", name="Zaloguj jako Jan Kowalski").click()
    page.wait_for_url(f"{live_portal}/moje-sprawy/{submission_id}")
    assert page.get_by_role("heading", name="Wezwanie do uzupełnienia").is_visible()
    assert "OR.1431.12.2026" in page.inner_text("main")
    audit.check(page)
    page.goto(f"{live_portal}/urzad/admin/przekazania")
    page.get_by_role("button", name="Zaloguj jako Administrator Portalu").click()
    page.wait_for_url(f"{live_portal}/urzad/admin/przekazania")
    assert "503" in page.inner_text("main")
    audit.check(page)
    page.get_by_role("button", name=re.compile("^Wyślij ponownie")).click()
    assert page.get_by_role("status").filter(has_text="wróciła do kolejki").is_visible()
    audit.check(page)
    anonymous = page.context.browser.new_context(locale="pl-PL").new_page()
    anonymous.goto(f"{live_portal}/sprawdz-sprawe")
    audit.check(anonymous)
    anonymous.get_by_label("Identyfikator poświadczenia").fill(receipt_id)
    anonymous.get_by_label("Kod dostępu").fill("AAAAA-AAAAA")
    anonymous.get_by_role("button", name="Sprawdź").click()
    assert anonymous.locator(".error-summary").is_visible()
    audit.check(anonymous)
    anonymous.get_by_label("Kod dostępu").fill(code)
    anonymous.get_by_role("button", name="Sprawdź").click()
    assert "OR.1431.12.2026" in anonymous.inner_text("main") and "Marek Wójcik" not in anonymous.inner_text("main")
    audit.check(anonymous)
    anonymous.context.close()
    audit.assert_clean()


@pytest.mark.sqlite_browser
def test_the_registry_finds_and_assigns_a_letter_and_the_officer_decides_it_in_the_browser(
        app: Flask, catalog: None, live_portal: str, sandbox_url: str, pki: Path, browser,  # noqa: ANN001, F811
        tmp_path) -> None:  # noqa: ANN001
    """The clerk's main flow, on SQLite as on PostgreSQL: the registry searches the register by each handle and
    sorts it, assigns a letter to a case officer who has never signed in (known from the office's directory)
    and is told so; the officer opens a case and sends a decision signed with the sandbox's signing software;
    the resident opens it. Every page passes axe."""
    from datetime import UTC, date, datetime, timedelta

    from sqlalchemy import func, select

    from backoffice_adapter import outbox as dispatcher
    from portal.auth import service as auth
    from portal.auth.cli import sandbox_directory
    from portal.auth.models import Clerk
    from portal.extensions import db
    from tests.desk.conftest import a_pdf
    from tests.factories import make_resident, make_submission

    with app.app_context():
        auth.import_directory(sandbox_directory())  # as `okienko demo` does before the portal starts
        jan = make_submission(pki, make_resident(), tytul="Naprawa chodnika przy ul. Słowiańskiej")
        zofia = make_submission(pki, make_resident("01230804662"), tytul="Wycinka topoli na podwórku")
        zofia.filed_at = datetime.now(UTC) - timedelta(days=10)  # filed earlier: due earlier
        db.session.commit()
        dispatcher.run_once()
        dispatcher.run_once()
        jan_receipt = jan.receipt_id
        year = date.today().year
    audit = AccessibilityAudit()
    (tmp_path / "decyzja.pdf").write_bytes(a_pdf("Decyzja nr 7/2026"))

    registry = browser.new_context(locale="pl-PL").new_page()
    registry.goto(f"{live_portal}/urzad/")
    registry.get_by_role("button", name="Zaloguj jako Katarzyna Zielińska").click()
    registry.wait_for_url(f"{live_portal}/urzad/")
    table = registry.get_by_role("table", name="Przesyłki")

    def shown() -> list[str]:
        return [row.inner_text() for row in table.locator("tbody tr").all()]

    assert registry.get_by_role("columnheader", name="Data wpływu").get_attribute("aria-sort") == "descending"
    assert "Naprawa chodnika przy ul. Słowiańskiej" in shown()[0]  # newest first
    audit.check(registry)
    registry.get_by_role("link", name="Termin załatwienia").click()
    registry.wait_for_url("**sortuj=termin**")
    assert registry.get_by_role("columnheader", name="Termin załatwienia").get_attribute("aria-sort") == "ascending"
    assert registry.get_by_role("columnheader", name="Data wpływu").get_attribute("aria-sort") == "none"
    assert "Wycinka topoli" in shown()[0]  # due first
    registry.get_by_role("link", name="Tytuł pisma").click()
    registry.wait_for_url("**sortuj=tytul**")
    registry.get_by_role("link", name="Tytuł pisma").click()  # again: the other way round
    registry.wait_for_url("**kolejnosc=malejaco**")
    assert registry.get_by_role("columnheader", name="Tytuł pisma").get_attribute("aria-sort") == "descending"
    assert "Wycinka topoli" in shown()[0] and "Naprawa chodnika" in shown()[1]
    audit.check(registry)

    search = registry.get_by_role("searchbox", name="Szukaj")
    for query, expected in [(jan_receipt, "Naprawa chodnika"), (f"RPW/2/{year}", "Wycinka topoli"),
                            ("łęcka", "Wycinka topoli"), ("chodnika", "Naprawa chodnika"),
                            ("Kowalski", "Naprawa chodnika")]:
        search.fill(query)
        registry.get_by_role("button", name="Filtruj").click()
        registry.wait_for_url("**q=**")
        rows = shown()
        assert len(rows) == 1 and expected in rows[0], (query, rows)
    audit.check(registry)

    search.fill("")
    registry.get_by_role("button", name="Filtruj").click()
    registry.get_by_role("link", name=f"RPW/1/{year}").click()
    registry.get_by_label("Komórka").select_option("OR")
    registry.get_by_label("Pracownik (nieobowiązkowo)").select_option(label="Marek Wójcik (OR)")
    registry.get_by_role("button", name="Dekretuj").click()
    confirmation = registry.get_by_role("status")
    assert confirmation.inner_text() == (f"Przydzielono przesyłkę RPW/1/{year} do: OR — Wydział Organizacyjny, "
                                         "Marek Wójcik.")
    assert fact(registry, "Przydzielona") == "Marek Wójcik"
    audit.check(registry)
    registry.get_by_role("link", name="Rejestr przesyłek wpływających").click()
    assert "Marek Wójcik" in table.locator("tbody tr", has_text=f"RPW/1/{year}").inner_text()
    registry.context.close()

    office = browser.new_context(locale="pl-PL", accept_downloads=True)
    clerk = office.new_page()
    clerk.goto(f"{live_portal}/urzad/")
    clerk.get_by_role("button", name="Zaloguj jako Marek Wójcik").click()  # his first login
    clerk.wait_for_url(f"{live_portal}/urzad/")
    clerk.get_by_label("przydzielone mnie").check()
    clerk.get_by_role("button", name="Filtruj").click()
    clerk.wait_for_url("**moje=on**")
    assert [r.inner_text().split()[0] for r in clerk.get_by_role("table", name="Przesyłki").locator("tbody tr").all()
            ] == [f"RPW/1/{year}"]
    audit.check(clerk)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Clerk).where(Clerk.username == "m.wojcik")) == 1
    clerk.get_by_role("link", name=f"RPW/1/{year}").click()
    audit.check(clerk)
    clerk.get_by_label("Tytuł sprawy").fill("Naprawa chodnika przy ul. Słowiańskiej")
    clerk.get_by_role("button", name="Załóż sprawę").click()
    clerk.wait_for_url("**/urzad/sprawy/*")
    reference = clerk.locator("h1").inner_text()
    assert re.fullmatch(r"OR\.0152\.\d+\.\d{4}", reference)
    assert fact(clerk, "Prowadzi") == "Marek Wójcik"
    audit.check(clerk)

    clerk.get_by_label("Czego brakuje").fill("Proszę dołączyć zdjęcie miejsca.")
    clerk.get_by_label("Termin na uzupełnienie").fill((date.today() + timedelta(days=2)).isoformat())
    clerk.get_by_role("button", name="Wyślij wezwanie").click()
    assert clerk.locator(".error-summary").is_visible()
    assert "co najmniej 7 dni" in clerk.locator(".error-summary").inner_text()
    audit.check(clerk)

    signer = office.new_page()
    signer.goto(f"{sandbox_url}/kwalifikowany")
    signer.get_by_label("Dokument do podpisu (XML albo PDF)").set_input_files(str(tmp_path / "decyzja.pdf"))
    signer.get_by_label("Marek Wójcik (urzędnik, OR)").check()
    with signer.expect_download() as download:
        signer.get_by_role("button", name="Podpisz").click()
    download.value.save_as(str(tmp_path / "decyzja-podpisana.pdf"))

    clerk.get_by_label("Decyzja lub inne rozstrzygnięcie").check()
    clerk.get_by_label("Tytuł pisma").fill("Decyzja w sprawie naprawy chodnika")
    clerk.get_by_label("Rozstrzygnięcie w jednym zdaniu (dla decyzji)").fill("Chodnik zostanie naprawiony.")
    clerk.get_by_label(re.compile("^Podpisany plik")).set_input_files(str(tmp_path / "decyzja-podpisana.pdf"))
    clerk.get_by_role("button", name="Wyślij pismo").click()
    clerk.wait_for_url("**/urzad/sprawy/*")
    assert "jeszcze nie odebrane" in clerk.inner_text("main")
    audit.check(clerk)
    office.close()

    home = browser.new_context(locale="pl-PL", accept_downloads=True)
    resident = home.new_page()
    resident.goto(f"{live_portal}/moje-sprawy")
    resident.get_by_role("button", name="Zaloguj jako Jan Kowalski").click()
    resident.wait_for_url(f"{live_portal}/moje-sprawy")
    resident.get_by_role("link", name="Pismo ogólne do urzędu").first.click()
    main = resident.inner_text("main")
    assert reference in main and "Chodnik zostanie naprawiony." in main and "Marek Wójcik" in main
    audit.check(resident)
    with resident.expect_download() as letter:
        resident.get_by_role("link", name="Decyzja w sprawie naprawy chodnika").click()
    assert letter.value.suggested_filename.endswith(".pdf")
    resident.reload()
    assert "poświadczenie doręczenia" in resident.inner_text("main")
    audit.check(resident)
    home.close()
    audit.assert_clean()


def test_the_statistics_page_in_the_browser(app: Flask, catalog: None, live_portal: str, pki: Path, page) -> None:
    """The office's public figures: charts drawn as SVG, each with its table, pass axe in Polish and in English."""
    from portal.stats import service as stats
    from tests.factories import make_resident, make_submission

    with app.app_context():
        resident = make_resident()
        for _ in range(6):
            make_submission(pki, resident)
        stats.clear_cache()
    audit = AccessibilityAudit()
    page.goto(f"{live_portal}/statystyki")
    assert page.get_by_role("img", name="Pisma złożone przez internet w kolejnych miesiącach").is_visible()
    assert page.get_by_role("table", name="Pisma złożone przez internet w kolejnych miesiącach").is_visible()
    audit.check(page)
    page.screenshot(path=str(SHOTS / "statistics.png"), full_page=True)
    page.goto(f"{live_portal}/statystyki?lang=en")
    audit.check(page)
    audit.assert_clean()
