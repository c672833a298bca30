from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from backoffice_adapter.base import CaseUpdate
from portal.db_types import utcnow
from portal.extensions import db
from portal.forms.models import Draft
from portal.inbox import service as inbox
from portal.inbox.models import Submission
from portal.status import deadlines
from portal.status import service as status
from tests.factories import make_resident, make_submission
from tests.helpers import csrf_token, login_resident
from tests.pages import PageCheckingClient, page_of
from tests.status.test_query_counts import counted


def filed_days_ago(app: Flask, pki: Path, days: int, resident_id: int | None = None) -> tuple[str, str, str]:
    with app.app_context():
        from portal.auth.models import Resident

        submission = make_submission(pki, db.session.get(Resident, resident_id) if resident_id else None)
        submission.filed_at = utcnow() - timedelta(days=days)
        db.session.commit()
        return submission.id, submission.receipt_id, inbox.access_code(submission.receipt_id)


def update(app: Flask, submission_id: str, kind: str, **data: str) -> None:
    with app.app_context():
        status.apply_update("webhook", CaseUpdate(f"{kind}-{len(data)}", submission_id, kind, utcnow(), data))


def test_the_case_page_shows_the_statutory_deadline(app: Flask, catalog: None, pki: Path,
                                                    client: PageCheckingClient) -> None:
    submission_id, _, _ = filed_days_ago(app, pki, 3)
    login_resident(client)
    with app.app_context():
        submission = db.session.get(Submission, submission_id)
        due = deadlines.compute("kpa-1m", submission.filed_at).due
    page = client.get_page(f"/moje-sprawy/{submission_id}")
    assert page.facts()["Termin załatwienia sprawy"].startswith(due.strftime("%d.%m.%Y"))
    assert "Złóż ponaglenie" not in page.texts("form button")
    listing = client.get_page("/moje-sprawy")
    assert due.strftime("%d.%m.%Y") in listing.text


def test_an_overdue_case_offers_a_prefilled_ponaglenie(app: Flask, catalog: None, pki: Path,
                                                       client: PageCheckingClient) -> None:
    submission_id, receipt_id, _ = filed_days_ago(app, pki, 70)
    update(app, submission_id, "case_opened", case_reference="OR.0152.4.2026")
    login_resident(client)
    page = client.get_page(f"/moje-sprawy/{submission_id}")
    assert "po terminie" in page.facts()["Termin załatwienia sprawy"]
    assert page.form(action=f"/moje-sprawy/{submission_id}/ponaglenie").buttons == ["Złóż ponaglenie"]
    started = client.post(f"/moje-sprawy/{submission_id}/ponaglenie",
                          data={"csrf_token": csrf_token(client, f"/moje-sprawy/{submission_id}")})
    assert started.status_code == 302
    with app.app_context():
        draft = db.session.scalar(select(Draft).where(Draft.reply_to == submission_id))
        assert draft.values["tytul"] == "Ponaglenie (art. 37 KPA) — OR.0152.4.2026"
        assert "art. 37 § 1 pkt 1" in draft.values["tresc"] and receipt_id in draft.values["tresc"]


def test_a_notice_of_delay_takes_away_the_ponaglenie(app: Flask, catalog: None, pki: Path,
                                                     client: PageCheckingClient) -> None:
    submission_id, _, _ = filed_days_ago(app, pki, 70)
    new_date = (utcnow() + timedelta(days=20)).date()
    update(app, submission_id, "delay_notified", reason="Opinia biegłego.", new_date=new_date.isoformat())
    login_resident(client)
    page = client.get_page(f"/moje-sprawy/{submission_id}")
    assert page.facts()["Termin załatwienia sprawy"].startswith(new_date.strftime("%d.%m.%Y"))
    assert "Złóż ponaglenie" not in page.texts("form button")
    token = csrf_token(client, f"/moje-sprawy/{submission_id}")
    assert client.post(f"/moje-sprawy/{submission_id}/ponaglenie", data={"csrf_token": token}).status_code == 409


def test_the_lookup_without_login_shows_steps_not_texts(app: Flask, catalog: None, pki: Path,
                                                        client: PageCheckingClient) -> None:
    submission_id, receipt_id, code = filed_days_ago(app, pki, 2)
    update(app, submission_id, "assigned", unit="OR", handler="Marek Wójcik")
    update(app, submission_id, "supplement_requested", message="Proszę o akt urodzenia Jana.", due="2026-12-20")
    token = csrf_token(client, "/sprawdz-sprawe")
    page = client.post_page("/sprawdz-sprawe", data={"csrf_token": token, "upo": receipt_id.lower(), "kod": code})
    assert page.facts()["Identyfikator poświadczenia (UPO)"] == receipt_id and "Wezwanie do uzupełnienia" in page.text
    assert "Marek Wójcik" not in page.html and "akt urodzenia" not in page.html and "Jan Kowalski" not in page.html
    wrong_code = client.post("/sprawdz-sprawe", data={"csrf_token": token, "upo": receipt_id, "kod": "AAAAA-AAAAA"})
    wrong_id = client.post("/sprawdz-sprawe", data={"csrf_token": token, "upo": "OK-2026-ZZZZZZZZ", "kod": code})
    assert wrong_code.status_code == wrong_id.status_code == 404
    assert page_of(wrong_code).error_summary_title == "Nie znaleźliśmy sprawy"
    assert _without_echo(wrong_code.get_data(as_text=True), receipt_id) == \
        _without_echo(wrong_id.get_data(as_text=True), "OK-2026-ZZZZZZZZ")


def _without_echo(page: str, receipt_id: str) -> str:
    """The page minus the identifier typed in (echoed back in the form) and the per-session token."""
    import re

    return re.sub(r'name="csrf_token" value="[^"]*"', "", page.replace(receipt_id, ""))


def test_guessing_access_codes_is_rate_limited(other_app: Any, catalog: None, pki: Path, app: Flask) -> None:
    _, receipt_id, code = filed_days_ago(app, pki, 1)
    limited = other_app(LOOKUP_RATE_LIMIT="3 per minute")
    client = limited.test_client()
    token = csrf_token(client, "/sprawdz-sprawe")
    answers = [client.post("/sprawdz-sprawe", data={"csrf_token": token, "upo": receipt_id, "kod": f"X{n}"})
               .status_code for n in range(3)]
    assert answers == [404, 404, 404]
    assert client.post("/sprawdz-sprawe", data={"csrf_token": token, "upo": receipt_id, "kod": code}).status_code == 429
    assert client.get(f"/api/upo/{receipt_id}?kod={code}").status_code == 429  # one allowance for every look-up
    assert client.get_page(f"/weryfikacja?upo={receipt_id}&kod={code}", status=429).heading == "Zbyt wiele prób"


def test_the_case_list_costs_the_same_queries_for_2_or_12_cases(app: Flask, catalog: None, pki: Path,
                                                                client: PageCheckingClient) -> None:
    with app.app_context():
        resident_id = make_resident().id
    login_resident(client)

    def queries_for_list() -> int:
        with counted(app) as statements:
            assert client.get("/moje-sprawy").status_code == 200
        return len(statements)

    for _ in range(2):
        filed_days_ago(app, pki, 1, resident_id)
    few = queries_for_list()
    for _ in range(10):
        filed_days_ago(app, pki, 1, resident_id)
    assert queries_for_list() == few


def test_the_case_list_comes_in_pages_newest_first(app: Flask, catalog: None, pki: Path, client: PageCheckingClient,
                                                   monkeypatch: Any) -> None:
    from portal.status import views

    monkeypatch.setattr(views, "CASES_PER_PAGE", 2)
    with app.app_context():
        resident_id = make_resident().id
    oldest, newer, newest = (filed_days_ago(app, pki, days, resident_id) for days in (30, 20, 10))
    update(app, oldest[0], "case_opened", case_reference="OR.0152.7.2026")
    with app.app_context():  # a supplement to the oldest case, filed last: it leads the first page
        from portal.auth.models import Resident
        from tests.factories import make_draft, signed_by_trusted_profile

        draft = make_draft(db.session.get(Resident, resident_id))
        draft.reply_to = oldest[0]
        db.session.commit()
        from portal.signing import service as signing

        signed = signed_by_trusted_profile(draft, pki)
        inbox.accept(draft, signed, signing.check(draft, signed))
    login_resident(client)

    first = client.get_page("/moje-sprawy")
    assert "Strona 1 z 2 (złożonych pism: 4)" in first.text
    assert first.select("a[rel=next]") and not first.select("a[rel=prev]")
    assert newest[1] in first.text and newer[1] not in first.text and oldest[1] not in first.text
    assert "Dotyczy sprawy OR.0152.7.2026" in first.text, "the answered case is named though it is on page 2"
    second = client.get_page("/moje-sprawy?strona=2")
    assert newer[1] in second.text and oldest[1] in second.text and newest[1] not in second.text
    assert second.select("a[rel=prev]")
    beyond = client.get_page("/moje-sprawy?strona=99")
    assert "Strona 2 z 2" in beyond.text, "a page past the end shows the last one"
    assert client.get("/moje-sprawy?strona=abc").status_code == 200
