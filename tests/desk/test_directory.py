"""Clerks known before their first login: added on the administrator's page or imported from the office's
directory, offered in dekretacja at once, and the same account when they first sign in."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from backoffice_adapter import outbox
from portal import cli
from portal.audit.models import AuditEntry
from portal.auth import service as auth
from portal.auth.models import Clerk
from portal.desk.models import IncomingParcel
from portal.extensions import db
from tests.factories import make_submission
from tests.helpers import csrf_token, login_clerk

PAGE = "/urzad/admin/pracownicy"


def okienko(app: Flask, *args: str) -> Result:
    """`okienko …` run against this test's application (its database)."""
    return app.test_cli_runner().invoke(cli.main, args=list(args))


def a_parcel(app: Flask, pki: Path) -> int:
    with app.app_context():
        make_submission(pki)
        assert outbox.run_once() == 1
        return db.session.scalar(select(IncomingParcel.id))


def clerk_options(page: str) -> list[str]:
    select_html = page.split('id="assign-clerk"', 1)[1].split("</select>", 1)[0]
    return re.findall(r"<option[^>]*>([^<]+)</option>", select_html)


def test_the_sandbox_directory_puts_every_demo_clerk_in_dekretacja_before_any_has_signed_in(
        app: Flask, catalog: None, pki: Path, clerk_client: Callable[[str], FlaskClient]) -> None:
    parcel_id = a_parcel(app, pki)
    result = okienko(app, "clerks", "import", "--sandbox")
    assert result.exit_code == 0, result.output
    assert "6 added" in result.output
    again = okienko(app, "clerks", "import", "--sandbox")
    assert "0 added, 6 updated" in again.output  # run by every `make run`: no duplicates
    registry = clerk_client("k.zielinska")
    options = clerk_options(registry.get(f"/urzad/rpw/{parcel_id}").get_data(as_text=True))
    assert options == ["— cała komórka —", "Ewa Kaczmarek (OR)", "Katarzyna Zielińska (OR)", "Marek Wójcik (OR)",
                       "Tomasz Lewandowski (MZDiI)"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Clerk)) == 6


def test_a_preregistered_clerk_signing_in_for_the_first_time_is_the_same_account(
        app: Flask, catalog: None, pki: Path, clerk_client: Callable[[str], FlaskClient]) -> None:
    parcel_id = a_parcel(app, pki)
    with app.app_context():
        report = auth.import_directory([{"username": "M.Wojcik", "name": "Marek Wójcik", "unit": "OR",
                                         "roles": ["clerk"], "email": "m.wojcik@um.leszno.example"}])
        assert (report.added, report.updated) == (1, 0)
        marek = db.session.scalar(select(Clerk).where(Clerk.username == "M.Wojcik"))
        marek_id = marek.id
        assert marek.subject is None and marek.last_login_at is None
    registry = clerk_client("k.zielinska")
    token = csrf_token(registry, f"/urzad/rpw/{parcel_id}")
    assert registry.post(f"/urzad/rpw/{parcel_id}/dekretacja", data={
        "csrf_token": token, "assign-unit": "OR", "assign-clerk": str(marek_id)}).status_code == 302

    officer = clerk_client("m.wojcik")  # the office's provider says "m.wojcik": matched without regard to case
    assert "RPW/1/" in officer.get("/urzad/?moje=on").get_data(as_text=True)
    with app.app_context():
        rows = list(db.session.scalars(select(Clerk).where(func.lower(Clerk.username) == "m.wojcik")))
        assert [c.id for c in rows] == [marek_id]
        assert rows[0].subject.endswith("#m.wojcik") and rows[0].last_login_at is not None
        assert db.session.get(IncomingParcel, parcel_id).assigned_clerk_id == marek_id
    clerk_client("m.wojcik")  # a second login finds the row by its subject
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Clerk).where(Clerk.username == "m.wojcik")) == 1


def test_an_account_that_has_signed_in_is_never_taken_over_by_another_subject(app: Flask) -> None:
    """Only a row nobody has claimed yet is matched by its username; a claimed one keeps its subject."""
    with app.test_request_context():
        first = auth.clerk_from_claims("https://idp", {"sub": "1", "preferred_username": "a.nowak", "name": "A"})
        other = auth.clerk_from_claims("https://idp", {"sub": "2", "preferred_username": "a.nowak", "name": "B"})
        db.session.commit()
        assert first.id != other.id and first.subject == "https://idp#1"


def test_the_administrator_adds_a_clerk_ahead_of_their_first_login(app: Flask, client: FlaskClient) -> None:
    login_clerk(client, "admin")
    token = csrf_token(client, PAGE)
    empty = client.post(f"{PAGE}/dodaj", data={"csrf_token": token, "new-username": " ", "new-name": ""})
    page = empty.get_data(as_text=True)
    assert empty.status_code == 400 and 'class="error-summary"' in page
    assert "Wpisz login pracownika" in page and "Wpisz imię i nazwisko" in page and "Wybierz komórkę" in page
    added = client.post(f"{PAGE}/dodaj", data={
        "csrf_token": token, "new-username": "a.mazur", "new-name": "Agnieszka Mazur", "new-unit": "FB",
        "new-roles": ["clerk", "head_of_unit"], "new-email": "a.mazur@um.leszno.example"})
    assert added.status_code == 302
    page = client.get(PAGE).get_data(as_text=True)
    assert "Dodano pracownika Agnieszka Mazur (a.mazur)" in page and 'role="status"' in page
    assert "jeszcze się nie logował" in page
    with app.app_context():
        agnieszka = db.session.scalar(select(Clerk).where(Clerk.username == "a.mazur"))
        assert agnieszka.roles == ["clerk", "head_of_unit"] and agnieszka.effective_unit == "FB"
        assert agnieszka.subject is None and agnieszka.email == "a.mazur@um.leszno.example"
        assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "clerk.added")) is not None
    twice = client.post(f"{PAGE}/dodaj", data={
        "csrf_token": token, "new-username": "A.MAZUR", "new-name": "Agnieszka Mazur", "new-unit": "FB",
        "new-roles": ["clerk"]})
    assert twice.status_code == 400 and "już jest na liście" in twice.get_data(as_text=True)

    other = app.test_client()
    login_clerk(other, "m.wojcik")
    assert other.post(f"{PAGE}/dodaj", data={"csrf_token": csrf_token(other, "/urzad/"), "new-username": "x",
                                             "new-name": "X", "new-unit": "OR"}).status_code == 403


def test_a_directory_file_is_imported_and_its_faults_named(app: Flask, tmp_path: Path) -> None:
    directory = tmp_path / "pracownicy.csv"
    directory.write_text("username;name;unit;roles;email\n"
                         "a.mazur;Agnieszka Mazur;FB;clerk head_of_unit;a.mazur@um.leszno.example\n"
                         "b.nowy;Bartosz Nowy;XX;clerk;\n"
                         ";Bez Loginu;OR;clerk;\n", encoding="utf-8")
    result = okienko(app, "clerks", "import", str(directory))
    assert result.exit_code == 1, result.output
    assert "line 3: unknown unit 'XX'" in result.output and "line 4: no username" in result.output
    assert "1 added, 0 updated" in result.output
    with app.app_context():
        agnieszka = db.session.scalar(select(Clerk).where(Clerk.username == "a.mazur"))
        # The directory speaks for the office's provider: its roles and unit are replaced at every login.
        assert agnieszka.claimed_roles == ["clerk", "head_of_unit"] and agnieszka.unit == "FB"
        assert agnieszka.assigned_roles == []


def test_the_sandbox_directory_is_refused_outside_the_sandbox(other_app) -> None:  # noqa: ANN001
    production = other_app(SANDBOX=False)
    result = okienko(production, "clerks", "import", "--sandbox")
    assert result.exit_code != 0 and "only in the sandbox" in result.output
