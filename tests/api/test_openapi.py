"""The API's description is served, covers every JSON route the portal has, and names only routes that
exist; the JSON case look-up tells what the page tells, under the same allowance and with the same answer
for a wrong id and a wrong code."""

from __future__ import annotations

import inspect
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from flask import Flask
from flask.testing import FlaskClient

from backoffice_adapter.base import CaseUpdate
from portal.db_types import utcnow
from portal.inbox import service as inbox
from portal.status import service as status
from tests.api.description import DESCRIPTION, schema
from tests.factories import make_submission
from tests.helpers import csrf_token, login_resident

LOOKUP = "/api/sprawy/sprawdz"
# A view answers JSON if it builds it (jsonify, a JSON media type) or returns a dict for Flask to serialise.
ANSWERS_JSON = re.compile(r"jsonify\(|application/json|^\s+return \{", re.MULTILINE)
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}


def openapi_path(rule: str) -> str:
    """`/api/upo/<receipt_id>` → `/api/upo/{receipt_id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def answers_json_when_asked(app: Flask, rule: Any) -> bool:
    """A GET route without parameters is simply asked (pages a JSON answer hides in a helper are found too)."""
    if rule.arguments or "GET" not in rule.methods or rule.endpoint == "static":
        return False
    response = app.test_client().get(rule.rule)
    try:
        return response.mimetype == "application/json"
    finally:
        response.close()  # a file sent (the favicon) stays open until its response is closed


def json_routes(app: Flask) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        view = inspect.unwrap(app.view_functions[rule.endpoint])
        try:
            source = inspect.getsource(view)
        except (OSError, TypeError):
            source = ""
        if rule.rule.startswith("/api/") or rule.rule.endswith(".json") or ANSWERS_JSON.search(source) \
                or answers_json_when_asked(app, rule):
            found |= {(openapi_path(rule.rule), method) for method in rule.methods & METHODS}
    return found


def described() -> set[tuple[str, str]]:
    paths = yaml.safe_load(DESCRIPTION.read_text(encoding="utf-8"))["paths"]
    return {(path, method.upper()) for path, item in paths.items() for method in item if method.upper() in METHODS}


def test_every_json_route_is_described_and_every_described_route_exists(app: Flask) -> None:
    routes = {(openapi_path(r.rule), m) for r in app.url_map.iter_rules() for m in r.methods & METHODS}
    assert json_routes(app) - described() == set(), "describe these in portal/api/openapi.yaml"
    assert described() - routes == set(), "portal/api/openapi.yaml describes routes the portal does not have"
    assert {(LOOKUP, "GET"), ("/api/zdarzenia", "POST"), ("/statystyki.json", "GET"), ("/health", "GET"),
            ("/ready", "GET")} <= json_routes(app)


def test_the_description_is_served_as_json_and_as_yaml(client: FlaskClient) -> None:
    as_json = client.get("/api/openapi.json")
    as_yaml = client.get("/api/openapi.yaml")
    assert as_json.status_code == as_yaml.status_code == 200
    assert as_json.mimetype == "application/json" and as_yaml.mimetype == "application/yaml"
    assert as_json.json == yaml.safe_load(as_yaml.get_data(as_text=True)) == yaml.safe_load(DESCRIPTION.read_text())
    assert as_json.headers["Access-Control-Allow-Origin"] == "*"
    assert as_json.json["openapi"].startswith("3.1")
    assert as_json.json["components"]["securitySchemes"]["webhookSignature"]["name"] == "X-Okienko-Signature"


def test_errors_under_api_are_json_and_keep_their_headers(client: FlaskClient) -> None:
    missing = client.get("/api/nie-ma-takiego")
    assert missing.status_code == 404 and missing.mimetype == "application/json" and missing.json["error"]
    wrong_method = client.delete(LOOKUP)
    assert wrong_method.status_code == 405 and wrong_method.mimetype == "application/json"
    assert set(wrong_method.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert client.get("/nie-ma-takiej-strony").mimetype == "text/html"  # people still get the page


@pytest.fixture
def worked_case(app: Flask, catalog: None, pki: Path) -> tuple[str, str]:
    """A filed letter the office has worked on, with personal texts in its events."""
    with app.app_context():
        submission = make_submission(pki)
        for number, (kind, data) in enumerate([
            ("registered", {"rpw": "RPW/77/2026"}),
            ("case_opened", {"case_reference": "OR.1431.7.2026", "unit": "OR", "handler": "Marek Wójcik"}),
            ("supplement_requested", {"message": "Proszę dołączyć akt zgonu ojca.", "due": "2026-12-10"}),
            ("status_changed", {"status": "suspended", "reason": "Czekamy na opinię lekarza."}),
        ]):
            status.apply_update("webhook", CaseUpdate(f"e{number}", submission.id, kind, utcnow(), data))
        return submission.receipt_id, inbox.access_code(submission.receipt_id)


PERSONAL = ("Marek Wójcik", "akt zgonu", "opinię lekarza", "Kowalski", "80010112357")


def test_the_json_look_up_shows_the_case_without_personal_texts(client: FlaskClient,
                                                                worked_case: tuple[str, str]) -> None:
    receipt_id, code = worked_case
    answers = [client.get(LOOKUP, query_string={"upo": receipt_id, "kod": code}),
               client.post(LOOKUP, json={"upo": receipt_id.lower(), "kod": code.replace("-", " ")}),
               client.post(LOOKUP, data={"upo": receipt_id, "kod": code})]
    for answer in answers:
        assert answer.status_code == 200, answer.get_data(as_text=True)
        schema[LOOKUP]["GET"].validate_response(answer)
        assert not [text for text in PERSONAL if text in answer.get_data(as_text=True)]
    found = answers[0].json
    assert found["receipt_id"] == receipt_id and found["service"]["id"] == "pismo-ogolne"
    assert (found["rpw"], found["case_reference"]) == ("RPW/77/2026", "OR.1431.7.2026")
    assert found["next_step"] == "supplement" and found["deadline"]["paused_now"] and found["deadline"]["due"] is None
    assert [step["kind"] for step in found["timeline"]] == ["filed", "registered", "case_opened",
                                                            "supplement_requested", "status_changed"]
    assert found["timeline"][3]["data"] == {"due": "2026-12-10"}
    assert found["timeline"][4]["data"] == {"status": "suspended"}
    assert answers[1].json == answers[2].json == found


@pytest.mark.parametrize("wrong", ["id", "code", "non-ascii code", "nul in id", "long"])
def test_a_wrong_id_and_a_wrong_code_get_the_same_answer(client: FlaskClient, worked_case: tuple[str, str],
                                                         wrong: str) -> None:
    receipt_id, code = worked_case
    given = {"id": ("OK-2026-AAAAAAAA", code), "code": (receipt_id, "AAAAA-AAAAA"),
             "non-ascii code": (receipt_id, "ŻÓŁĆ-ĘŚĄŃ"), "nul in id": (receipt_id + "\x00", code),
             "long": (receipt_id + "X" * 5000, code * 1000)}[wrong]
    answer = client.post(LOOKUP, json={"upo": given[0], "kod": given[1]})
    assert answer.status_code == 404 and answer.json == {"error": "no case with this receipt identifier and "
                                                                  "access code"}
    receipt = client.get(f"/api/upo/{given[0]}", query_string={"kod": given[1]})
    assert receipt.status_code == 404 and receipt.mimetype == "application/json"
    page = client.post("/sprawdz-sprawe", data={"csrf_token": csrf_token(client, "/sprawdz-sprawe"),
                                                "upo": given[0], "kod": given[1]})
    assert page.status_code == 404  # the page shares the look-up: a non-ASCII code used to be a server error


@pytest.mark.parametrize("body", [None, [], "x", {"upo": "OK-2026-AAAAAAAA"}, {"upo": 1, "kod": 2},
                                  {"upo": " ", "kod": " "}, {"upo": ["a"], "kod": {"b": 1}}])
def test_a_look_up_without_an_id_and_code_in_text_is_a_bad_request(client: FlaskClient, body: Any) -> None:
    answer = client.post(LOOKUP, data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 400 and answer.json["error"]


def test_the_json_look_up_shares_the_receipt_allowance(other_app: Any, worked_case: tuple[str, str]) -> None:
    receipt_id, code = worked_case
    client = other_app(LOOKUP_RATE_LIMIT="3 per minute").test_client()
    assert client.post(LOOKUP, json={"upo": receipt_id, "kod": "X1"}).status_code == 404  # the code in a JSON body
    assert client.get(LOOKUP, query_string={"upo": receipt_id, "kod": "X2"}).status_code == 404
    token = csrf_token(client, "/sprawdz-sprawe")
    assert client.post("/sprawdz-sprawe", data={"csrf_token": token, "upo": receipt_id, "kod": "X3"}).status_code \
        == 404
    refused = client.post(LOOKUP, json={"upo": receipt_id, "kod": code})
    assert refused.status_code == 429 and refused.mimetype == "application/json" and refused.json["error"]
    schema[LOOKUP]["POST"].validate_response(refused)
    assert client.get(f"/api/upo/{receipt_id}", query_string={"kod": code}).status_code == 429


def test_receipt_answers_match_the_description(app: Flask, client: FlaskClient, catalog: None, pki: Path) -> None:
    with app.app_context():
        submission = inbox.ensure_receipt(make_submission(pki))
        receipt_id, code = submission.receipt_id, inbox.access_code(submission.receipt_id)
        upo, document = submission.upo, submission.document
    found = client.get(f"/api/upo/{receipt_id}", query_string={"kod": code})
    assert found.status_code == 200 and found.json["receipt_id"] == receipt_id
    schema["/api/upo/{receipt_id}"]["GET"].validate_response(found)
    check = schema["/api/upo/weryfikacja"]["POST"]
    for sent, valid in ((document, True), (document + b" ", False), (None, True)):
        files = {"upo": (io.BytesIO(upo), "upo.xml")}
        if sent is not None:
            files["dokument"] = (io.BytesIO(sent), "dokument.xml")
        answer = client.post("/api/upo/weryfikacja", data=files, content_type="multipart/form-data")
        assert answer.status_code == 200 and answer.json["valid"] is valid, answer.json
        check.validate_response(answer)
    assert client.post("/api/upo/weryfikacja", data={}).status_code == 400


def test_the_session_extension_answers_as_described(client: FlaskClient) -> None:
    extend = schema["/sesja/przedluz"]["POST"]
    login_resident(client)
    token = csrf_token(client, "/moje-sprawy")
    extended = client.post("/sesja/przedluz", headers={"X-CSRFToken": token})
    assert extended.status_code == 200 and extended.json["extended"] is True
    extend.validate_response(extended)
    with client.session_transaction() as session:
        session.pop("resident_id", None)
    ended = client.post("/sesja/przedluz", headers={"X-CSRFToken": token})
    assert ended.status_code == 401 and ended.json == {"extended": False}
    extend.validate_response(ended)


def test_the_city_website_may_read_look_ups_from_its_own_pages(client: FlaskClient,
                                                               worked_case: tuple[str, str]) -> None:
    receipt_id, code = worked_case
    assert client.get(LOOKUP, query_string={"upo": receipt_id, "kod": code}).headers["Access-Control-Allow-Origin"] \
        == "*"
    assert client.post(LOOKUP, data={"upo": receipt_id, "kod": "X"}).headers["Access-Control-Allow-Origin"] == "*"
    preflight = client.options(LOOKUP, headers={"Origin": "https://www.leszno.pl",
                                                "Access-Control-Request-Method": "POST",
                                                "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 200 and preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Origin" not in client.post("/api/zdarzenia", json={}).headers  # server to server


def test_the_served_description_is_what_schemathesis_reads(live_portal: str) -> None:
    served = schemathesis.openapi.from_url(f"{live_portal}/api/openapi.json")
    operations = {(result.ok().path, result.ok().method.upper()) for result in served.get_all_operations()}
    assert operations == described() - {("/api/openapi.json", "GET")}  # it leaves out where it read it from
