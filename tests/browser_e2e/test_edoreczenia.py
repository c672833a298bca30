"""e-Doręczenia in the browser, both ways: a clerk sends a sealed decision to Jan Kowalski, the desk names the
channel before sending, Jan opens it in his sandbox box, the evidence and the appeal deadline appear on the
clerk's and on Jan's case page; then Jan sends an item to the office from his box and it lands in the register.
The worker's steps (dispatch, evidence poll, incoming poll, outbox) are run in between; axe checks every page."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from backoffice_adapter import outbox
from portal.edoreczenia import incoming
from portal.edoreczenia import service as edoreczenia
from portal.edoreczenia.models import EdoDispatch
from portal.extensions import db
from portal.signing import pades
from tests.browser import AccessibilityAudit, fact, guide_screenshot, sign_in_on_sandbox
from tests.desk.conftest import a_pdf
from tests.edoreczenia.test_incoming import edo  # noqa: F401 - the fixture: the portal pointed at the sandbox
from tests.edoreczenia.test_outgoing import JAN_BOX, _case, _poll_now

pytestmark = [pytest.mark.browser, pytest.mark.sqlite_browser]


def test_a_decision_through_e_doreczenia_and_an_item_back(app: Flask, catalog: None, edo: str,  # noqa: F811
                                                          live_portal: str, sandbox_url: str, pki: Path,
                                                          context: Any, tmp_path: Path) -> None:
    with app.app_context():
        _, case = _case(pki)
        case_id, submission_id = case.id, case.submission_id
    decision = tmp_path / "decyzja.pdf"
    with ThreadPoolExecutor(1) as thread:  # pyHanko runs its own event loop; Playwright's is running in this one
        decision.write_bytes(thread.submit(pades.seal, a_pdf("Decyzja nr 9/2026"), str(pki / "office-seal.pem"),
                                           str(pki / "office-seal.key"), "Decyzja").result())
    audit = AccessibilityAudit()

    clerk = context.new_page()
    clerk.goto(f"{live_portal}/urzad/sprawy/{case_id}")
    sign_in_on_sandbox(clerk, "Ewa Kaczmarek")
    clerk.wait_for_url(f"**/urzad/sprawy/{case_id}")
    assert "Droga doręczenia: e-Doręczenia" in clerk.inner_text("main")
    audit.check(clerk)
    clerk.get_by_label("Decyzja lub inne rozstrzygnięcie").check()
    clerk.get_by_label("Tytuł pisma").fill("Decyzja o zezwoleniu")
    clerk.get_by_label("Rozstrzygnięcie w jednym zdaniu (dla decyzji)").fill("Zezwala się.")
    clerk.get_by_label(re.compile("^Podpisany plik")).set_input_files(str(decision))
    clerk.get_by_role("button", name="Wyślij pismo").click()
    assert "czeka na wysłanie" in clerk.inner_text("main")
    audit.check(clerk)

    with app.app_context():  # the worker's round: the letter goes out
        assert edoreczenia.run_dispatches() == 1
        job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.state == "sent")
                                .order_by(EdoDispatch.id.desc()))
        message_id, dispatch_id = job.message_id, job.id

    box = context.new_page()  # Jan's e-Doręczenia box (the sandbox's page)
    box.goto(f"{sandbox_url}/edoreczenia/skrzynka/{JAN_BOX}")
    audit.check(box)
    box.get_by_role("button", name="Odbierz: Decyzja o zezwoleniu", exact=False).first.click()
    assert message_id in box.url or box.get_by_text("odebrana").first.is_visible()

    with app.app_context():  # the evidence poll (the notification's hint makes it due at once)
        job = db.session.get(EdoDispatch, dispatch_id)
        _poll_now(job)
        assert {"E.1", "BP.OX"} <= {e.code for e in job.evidences}
        appeal = edoreczenia.legal_dates(job.letter, job).appeal_due.strftime("%d.%m.%Y")

    clerk.reload()
    main = clerk.inner_text("main")
    assert "Przesyłka odebrana przez adresata" in main and appeal in main and "BP.OX" in main
    assert appeal in fact(clerk, "Termin na odwołanie")
    audit.check(clerk)
    guide_screenshot(clerk, "urzad-edoreczenia")

    home = context.browser.new_context(locale="pl-PL", viewport={"width": 1280, "height": 900})
    resident = home.new_page()
    resident.goto(f"{live_portal}/moje-sprawy/{submission_id}")
    sign_in_on_sandbox(resident, "Jan Kowalski")
    resident.wait_for_url(f"**/moje-sprawy/{submission_id}")
    mine = resident.inner_text("main")
    assert "e-Doręczenia" in mine and "Dowód otrzymania" in mine and appeal in mine
    audit.check(resident)
    home.close()

    # Jan writes to the office from his box.
    box.goto(f"{sandbox_url}/edoreczenia/skrzynka/{JAN_BOX}")
    box.get_by_label("Temat").fill("Pytanie o termin odwołania")
    box.get_by_label("Treść pisma").fill("Proszę o potwierdzenie terminu.")
    box.get_by_role("button", name="Wyślij do urzędu").click()
    with app.app_context():  # the worker: the box listed, the item taken in and delivered to the register
        incoming.poll()
        assert incoming.take_in_due() >= 1
        while outbox.run_once():
            pass
    office = context.browser.new_context(locale="pl-PL", viewport={"width": 1280, "height": 900})
    registry = office.new_page()  # the registry (kancelaria) reads the register: the item waits to be assigned
    registry.goto(f"{live_portal}/urzad/")
    sign_in_on_sandbox(registry, "Katarzyna Zielińska")
    registry.wait_for_url(f"{live_portal}/urzad/")
    row = registry.get_by_role("row", name=re.compile("Pytanie o termin odwołania"))
    assert "e-Doręczenia" in row.inner_text() or "Jan Kowalski" in row.inner_text()
    audit.check(registry)
    office.close()
    audit.assert_clean()
