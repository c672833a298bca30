"""The incoming register as the registry reads it: search by any handle, the letter's subject, the deadline,
sorting — on SQLite (what `make run` serves) as on PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from backoffice_adapter import outbox
from portal.desk.models import IncomingParcel
from portal.extensions import db
from portal.status import deadlines
from tests.factories import make_resident, make_submission
from tests.helpers import ANNA, csrf_token
from tests.ops.test_readiness import empty_database_url  # noqa: F401 - the fixture

ZOFIA = "01230804662"  # Zofia Łęcka-Żółtowska: a surname with letters outside ASCII


def file_letters(app: Flask, pki: Path, *letters: tuple[str, str, datetime | None]) -> list[IncomingParcel]:
    """Letters (resident's PESEL, subject, filing moment) delivered to the desk, in that order."""
    with app.app_context():
        residents = {}
        for pesel, subject, filed_at in letters:
            resident = residents.get(pesel) or make_resident(pesel)
            residents[pesel] = resident
            submission = make_submission(pki, resident, tytul=subject)
            if filed_at is not None:
                submission.filed_at = filed_at
                db.session.commit()
            assert outbox.run_once() == 1
        parcels = list(db.session.scalars(select(IncomingParcel).order_by(IncomingParcel.id)))
        db.session.expunge_all()
        return parcels


def rows(page: str) -> list[str]:
    """The register's rows, each as its text (tags removed), in the order shown."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in body.split("<tr>")[1:]]


def test_the_search_finds_a_parcel_by_every_handle_on_either_database(
        app: Flask, catalog: None, pki: Path, clerk_client: Callable[[str], FlaskClient]) -> None:
    first, second = file_letters(app, pki, ("80010112357", "Naprawa chodnika przy ul. Słowiańskiej", None),
                                 (ZOFIA, "Wycinka topoli na podwórku", None))
    registry = clerk_client("k.zielinska")
    for query, found in [
        (first.receipt_id, first), (first.receipt_id.lower(), first),
        (f"RPW/{second.rpw_number}/{second.rpw_year}", second), (f"rpw/{first.rpw_number}/", first),
        ("Kowalski", first), ("łęcka", second), ("ŻÓŁTOWSKA", second),  # case folded beyond ASCII, on SQLite too
        ("chodnika", first), ("TOPOLI", second),  # a word of the letter's subject
    ]:
        answer = registry.get("/urzad/", query_string={"q": query})
        assert answer.status_code == 200, (query, answer.status_code)
        shown = rows(answer.get_data(as_text=True))
        assert len(shown) == 1 and shown[0].startswith(found.rpw), (query, shown)
    nothing = registry.get("/urzad/", query_string={"q": "100%_"})  # LIKE's wildcards are searched as typed
    assert nothing.status_code == 200 and rows(nothing.get_data(as_text=True)) == ["Brak przesyłek."]
    assert registry.get("/urzad/rejestr.csv", query_string={"q": "topoli"}).get_data(as_text=True).count("\n") == 2


def test_the_register_shows_each_letters_subject_and_its_statutory_deadline(
        app: Flask, catalog: None, pki: Path, clerk_client: Callable[[str], FlaskClient]) -> None:
    filed = datetime(2026, 12, 4, 10, tzinfo=UTC)  # a Friday; a month later is Monday 4 January 2027
    (parcel,) = file_letters(app, pki, ("80010112357", "Naprawa chodnika przy ul. Słowiańskiej", filed))
    assert parcel.subject == "Naprawa chodnika przy ul. Słowiańskiej"
    assert parcel.due_on == deadlines.compute("kpa-1m", filed).due == date(2027, 1, 4)
    (row,) = rows(clerk_client("k.zielinska").get("/urzad/").get_data(as_text=True))
    assert "Naprawa chodnika przy ul. Słowiańskiej" in row and "Pismo ogólne do urzędu" in row
    assert "04.01.2027" in row


def test_the_deadline_follows_the_case_a_call_pauses_it_a_notice_of_delay_moves_it(
        app: Flask, catalog: None, pki: Path, clerk_client: Callable[[str], FlaskClient]) -> None:
    (parcel,) = file_letters(app, pki, ("80010112357", "Wniosek", None))
    officer = clerk_client("e.kaczmarek")
    token = csrf_token(officer, f"/urzad/rpw/{parcel.id}")
    case_url = officer.post(f"/urzad/rpw/{parcel.id}/sprawa",
                            data={"csrf_token": token, "case-title": "Wniosek"}).headers["Location"]
    today = date.today()
    assert officer.post(f"{case_url}/wezwanie", data={
        "csrf_token": token, "supplement-message": "Proszę o podpis.",
        "supplement-due": (today + timedelta(days=10)).isoformat()}).status_code == 302
    with app.app_context():
        assert db.session.get(IncomingParcel, parcel.id).due_on is None  # art. 35 §5: no date while paused
    (row,) = rows(officer.get("/urzad/").get_data(as_text=True))
    assert "wstrzymany" in row
    new_date = today + timedelta(days=45)
    assert officer.post(f"{case_url}/zwloka", data={
        "csrf_token": token, "delay-reason": "Opinia konserwatora.",
        "delay-new_date": new_date.isoformat()}).status_code == 302
    with app.app_context():
        assert db.session.get(IncomingParcel, parcel.id).due_on == new_date
    assert new_date.strftime("%d.%m.%Y") in officer.get("/urzad/").get_data(as_text=True)


def test_an_overdue_parcel_is_marked_in_the_register(app: Flask, catalog: None, pki: Path,
                                                     clerk_client: Callable[[str], FlaskClient]) -> None:
    file_letters(app, pki, ("80010112357", "Stare pismo", datetime.now(UTC) - timedelta(days=70)),
                 ("80010112357", "Nowe pismo", None))
    old, new = sorted(rows(clerk_client("k.zielinska").get("/urzad/").get_data(as_text=True)),
                      key=lambda r: "Nowe" in r)
    assert "po terminie" in old and "po terminie" not in new


SORTS = [
    # (sortuj, kolejnosc, the subjects in the order expected)
    (None, None, ["Cmentarz", "Brama", "Aleja"]),  # newest filing first, as the register always opened
    ("wplyw", "rosnaco", ["Aleja", "Brama", "Cmentarz"]),
    ("termin", "rosnaco", ["Brama", "Aleja", "Cmentarz"]),  # the certificate's 7 days come first …
    ("termin", "malejaco", ["Cmentarz", "Aleja", "Brama"]),
    ("tytul", "rosnaco", ["Aleja", "Brama", "Cmentarz"]),
    ("tytul", "malejaco", ["Cmentarz", "Brama", "Aleja"]),
]


@pytest.mark.parametrize(("sort", "order", "expected"), SORTS)
def test_the_register_sorts_by_filing_date_deadline_and_subject(
        app: Flask, catalog: None, pki: Path, clerk_client: Callable[[str], FlaskClient],
        sort: str | None, order: str | None, expected: list[str]) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    file_letters(app, pki, ("80010112357", "Aleja", now - timedelta(days=3)),
                 (ANNA, "Brama", now - timedelta(days=2)), ("80010112357", "Cmentarz", now - timedelta(days=1)))
    with app.app_context():  # "Brama" is due first: as if its service had a 7-day period
        brama = db.session.scalar(select(IncomingParcel).where(IncomingParcel.subject == "Brama"))
        brama.due_on = date.today() + timedelta(days=5)
        db.session.commit()
    args = {k: v for k, v in {"sortuj": sort, "kolejnosc": order}.items() if v}
    page = clerk_client("k.zielinska").get("/urzad/", query_string=args).get_data(as_text=True)
    shown = [next(s for s in ("Aleja", "Brama", "Cmentarz") if s in row) for row in rows(page)]
    assert shown == expected
    # The sorted column says so (aria-sort), the others are sortable; each header is a link keeping the filters.
    headers = {column: aria for aria, column in
               re.findall(r'<th scope="col" aria-sort="(\w+)"><a href="[^"]*sortuj=(\w+)', page)}
    sorted_by = sort or "wplyw"
    assert headers == {column: "none" for column in ("wplyw", "termin", "tytul") if column != sorted_by} | {
        sorted_by: "ascending" if order == "rosnaco" else "descending"}


def test_the_sort_links_keep_the_search_and_filters(app: Flask, catalog: None, pki: Path,
                                                    clerk_client: Callable[[str], FlaskClient]) -> None:
    file_letters(app, pki, ("80010112357", "Aleja", None))
    page = clerk_client("k.zielinska").get("/urzad/?q=aleja&nieprzeczytane=on&sortuj=termin&kolejnosc=rosnaco")
    html = page.get_data(as_text=True)
    link = re.search(r'aria-sort="ascending"><a href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "q=aleja" in link and "nieprzeczytane=on" in link and "sortuj=termin" in link
    assert "kolejnosc=malejaco" in link  # the sorted column's link turns the order round
    assert clerk_client("k.zielinska").get("/urzad/?sortuj=nonsense&kolejnosc=x").status_code == 200


def test_the_migration_fills_in_the_subject_and_deadline_of_parcels_registered_before_it(
        other_app, empty_database_url: str, pki: Path) -> None:  # noqa: ANN001, F811
    """Parcels registered before the columns existed get them from their document, service and case events;
    going back gives clerks not yet signed in a placeholder subject (the old schema requires one)."""
    from flask_migrate import downgrade, upgrade

    from portal import MIGRATIONS
    from portal.auth import service as auth
    from portal.forms import service as forms

    portal = other_app(DATABASE_URL=empty_database_url)
    with portal.app_context():
        upgrade(directory=str(MIGRATIONS))
        assert not forms.load_catalog(Path(portal.config["CATALOG_DIR"])).errors
        filed = datetime(2026, 12, 4, 10, tzinfo=UTC)
        submission = make_submission(pki, make_resident(), tytul="Naprawa chodnika")
        submission.filed_at = filed
        db.session.commit()
        assert outbox.run_once() == 1
        auth.import_directory([{"username": "m.wojcik", "name": "Marek Wójcik", "unit": "OR", "roles": ["clerk"]}])
        db.session.remove()
        downgrade(directory=str(MIGRATIONS), revision="a7c3e1f05d42")
        assert db.session.execute(text("SELECT subject FROM clerk")).scalar() == "directory#m.wojcik"
        db.session.execute(text("UPDATE clerk SET subject = 'https://idp#m.wojcik'"))  # as if he had signed in
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        parcel = db.session.scalar(select(IncomingParcel))
        assert parcel.subject == "Naprawa chodnika" and parcel.due_on == date(2027, 1, 4)
        db.session.remove()


def test_an_sql_error_at_the_desk_is_a_500_for_the_clerk_not_an_outage(
        app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The register search once used SQL `concat()`, which Debian's SQLite lacks: the clerk got "Błąd 503" with
    "Twoje dane są zapisane" and links to residents' pages, and the log said "database unavailable". A
    statement the database cannot run is our programming error: a 500 with its own log line, on a page that
    speaks to the clerk; 503 stays for a database that does not answer."""
    from portal.desk import service
    from tests.helpers import login_clerk

    client = app.test_client()
    login_clerk(client, "k.zielinska")

    def broken_query(*args: object, **kwargs: object) -> list[IncomingParcel]:
        db.session.execute(select(text("no_such_function_in_any_database(1)")))
        return []

    monkeypatch.setattr(service, "incoming", broken_query)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)  # as in production: the error page, not a raise
    caplog.clear()
    answer = client.get("/urzad/?q=Kowalski")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 500, page[:500]
    assert "Twoje dane są zapisane" not in page and "Moje sprawy" not in page
    assert "zgłoś go administratorowi portalu" in page and 'href="/urzad/"' in page
    assert "Katarzyna Zielińska" in page  # the desk's own header
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("server error on /urzad/") for m in messages), messages
    assert not any("database unavailable" in m for m in messages), messages
