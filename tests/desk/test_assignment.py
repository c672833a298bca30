"""Dekretacja says what it did: a status banner on the page the clerk lands on, and the register shows it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backoffice_adapter import outbox
from portal.auth import service as auth
from portal.auth.models import Clerk
from portal.desk.models import IncomingParcel
from portal.extensions import db
from tests.desk.test_register import rows
from tests.factories import make_submission
from tests.helpers import csrf_token


def test_dekretacja_is_confirmed_and_the_register_shows_the_new_assignee(
        app: Flask, catalog: None, pki: Path, clerk_client: Callable[[str], FlaskClient]) -> None:
    with app.app_context():
        make_submission(pki)
        outbox.run_once()
        auth.import_directory([{"username": "m.wojcik", "name": "Marek Wójcik", "unit": "OR", "roles": ["clerk"]}])
        parcel_id = db.session.scalar(select(IncomingParcel.id))
        rpw = db.session.get(IncomingParcel, parcel_id).rpw
        marek_id = db.session.scalar(select(Clerk.id).where(Clerk.username == "m.wojcik"))
    registry = clerk_client("k.zielinska")
    token = csrf_token(registry, f"/urzad/rpw/{parcel_id}")
    answer = registry.post(f"/urzad/rpw/{parcel_id}/dekretacja", follow_redirects=True, data={
        "csrf_token": token, "assign-unit": "OR", "assign-clerk": str(marek_id)})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert (f'<div class="notice" role="status"><p>Przydzielono przesyłkę {rpw} do: OR — Wydział Organizacyjny, '
            "Marek Wójcik.</p></div>") in page
    assert "Marek Wójcik" in rows(registry.get("/urzad/").get_data(as_text=True))[0]
    # Once shown, the banner is gone.
    assert 'role="status"' not in registry.get(f"/urzad/rpw/{parcel_id}").get_data(as_text=True)

    # To the whole unit, no clerk named.
    answer = registry.post(f"/urzad/rpw/{parcel_id}/dekretacja", follow_redirects=True, data={
        "csrf_token": token, "assign-unit": "MZDiI", "assign-clerk": ""})
    assert (f"Przydzielono przesyłkę {rpw} do: MZDiI — Miejski Zarząd Dróg i Inwestycji (cała komórka)."
            in answer.get_data(as_text=True))

