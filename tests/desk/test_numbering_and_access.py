from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backoffice_adapter import outbox
from portal.auth.models import Clerk
from portal.desk import service as desk
from portal.desk.models import DeskCase, IncomingParcel
from portal.extensions import db
from tests.factories import make_resident, make_submission
from tests.helpers import csrf_token


def test_many_clerks_registering_at_once_get_consecutive_numbers(app: Flask, catalog: None, pki: Path,
                                                                 clerk_client: Callable[[str], FlaskClient]) -> None:
    if "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
        pytest.skip("concurrent registration is a PostgreSQL matter; SQLite serialises writers")
    clerk_client("m.wojcik")  # known to the portal from the identity provider
    with app.app_context():
        resident = make_resident()
        for _ in range(12):
            make_submission(pki, resident)
        while outbox.run_once():
            pass
        parcels = list(db.session.scalars(select(IncomingParcel.id)))
        clerk_id = db.session.scalar(select(Clerk.id).where(Clerk.username == "m.wojcik"))
    start = threading.Barrier(len(parcels))
    failures: list[BaseException] = []

    def register(parcel_id: int) -> None:
        try:
            with app.app_context():
                clerk = db.session.get(Clerk, clerk_id)
                parcel = db.session.get(IncomingParcel, parcel_id)
                start.wait()
                desk.register_case(clerk, parcel)
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=register, args=(p,)) for p in parcels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with app.app_context():
        numbers = sorted(db.session.scalars(select(DeskCase.number)))
        references = set(db.session.scalars(select(DeskCase.reference)))
    assert numbers == list(range(1, 13)) and len(references) == 12


# Who may open what. 200: allowed; 404: the parcel or case does not exist for that clerk; 400: the act is refused
# with a message; 403: the page is for another role; 302: redirected (to log in, or after the act).
MATRIX = [
    # (clerk,          register, parcel, assign, new case, case page, case act, deliveries admin)
    ("k.zielinska",    200,      200,    302,    302,      200,      302,      403),
    ("m.wojcik",       200,      200,    400,    302,      200,      302,      403),
    ("e.kaczmarek",    200,      200,    302,    302,      200,      302,      403),
    ("t.lewandowski",  200,      404,    404,    404,      404,      404,      403),
    ("admin",          200,      200,    302,    400,      200,      400,      200),
]


@pytest.mark.parametrize(("username", "register", "parcel", "assign", "new_case", "case_page", "case_act", "admin"),
                         MATRIX)
def test_access_matrix(app: Flask, catalog: None, pki: Path, clerk_client: Callable[[str], FlaskClient],
                       username: str, register: int, parcel: int, assign: int, new_case: int, case_page: int,
                       case_act: int, admin: int) -> None:
    with app.app_context():
        resident = make_resident()
        make_submission(pki, resident)
        make_submission(pki, resident)
        outbox.run_once()
        first, second = sorted(db.session.scalars(select(IncomingParcel.id)))
    owner = clerk_client("e.kaczmarek")  # the head of OR opens a case on the second parcel for everyone to try
    owner.post(f"/urzad/rpw/{second}/sprawa", data={"csrf_token": csrf_token(owner, f"/urzad/rpw/{second}"),
                                                    "case-title": "Sprawa"})
    with app.app_context():
        case_id = db.session.scalar(select(DeskCase.id))
    client = clerk_client(username)
    assert client.get("/urzad/").status_code == register
    assert client.get(f"/urzad/rpw/{first}").status_code == parcel
    token = csrf_token(client, "/urzad/")
    assert client.post(f"/urzad/rpw/{first}/dekretacja",
                       data={"csrf_token": token, "assign-unit": "OR", "assign-clerk": ""}).status_code == assign
    assert client.post(f"/urzad/rpw/{first}/sprawa",
                       data={"csrf_token": token, "case-title": "Nowa"}).status_code == new_case
    assert client.get(f"/urzad/sprawy/{case_id}").status_code == case_page
    assert client.post(f"/urzad/sprawy/{case_id}/stan", data={
        "csrf_token": token, "status-status": "postponed", "status-reason": "Czekamy."}).status_code == case_act
    assert client.get("/urzad/admin/przekazania").status_code == admin


def test_anonymous_visitors_are_sent_to_the_office_login(client: FlaskClient) -> None:
    for path in ("/urzad/", "/urzad/rpw/1", "/urzad/sprawy", "/urzad/sprawy/1", "/urzad/rejestr.csv",
                 "/urzad/sprawy/1/akta.zip", "/urzad/admin/przekazania"):
        answer = client.get(path)
        assert answer.status_code == 302 and "/urzad/logowanie" in answer.headers["Location"], path
