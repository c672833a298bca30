"""Contract tests: every UA API request Okienko's e-Doręczenia client makes, and every answer it parses, goes
through Prism in proxy mode (`prism proxy <spec> <sandbox> --errors`), which checks both against the OpenAPI
document of the real service (../shared/specs/edoreczenia-ua-api-3.0.8.1.yaml) and forwards to the real sandbox
process. A request that breaks the contract is refused by Prism (422) and never reaches the sandbox; an answer
that breaks it comes back with an `sl-violations` header. The token and BAE endpoints are not in the spec: the
client reaches them straight at the sandbox.

Prism routes on the document's paths and ignores a relative `servers` entry, so it is given a copy whose paths
carry the spec's base (`/api/v1` + path); nothing else in the copy differs from the spec.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import requests
import yaml
from flask import Flask
from sqlalchemy import select

from portal import create_app
from portal.edoreczenia import client as edo
from portal.edoreczenia import incoming
from portal.edoreczenia import service as edoreczenia
from portal.edoreczenia.incoming_models import HANDLED, IncomingMessage
from portal.edoreczenia.models import SENT, EdoDispatch
from portal.extensions import db
from tests.conftest import REPO, free_port
from tests.edoreczenia.test_outgoing import JAN_BOX, _case, _letter, _poll_now

SPEC = Path("/work/shared/specs/edoreczenia-ua-api-3.0.8.1.yaml")
PRISM = REPO / "node_modules" / ".bin" / "prism"
OFFICE = "AE:PL-41058-29316-UMLES-17"
API = "/api/v1"


@dataclass
class Call:
    method: str
    path: str  # the spec's path template the call matched
    status: int
    violations: list[dict[str, Any]]
    proxied: bool  # went through Prism (the UA API), not straight to the sandbox (token, BAE)


class Operations:
    """The spec's paths as patterns, to name the operation a call hit."""

    def __init__(self, document: dict[str, Any]) -> None:
        routes = []
        for template in document["paths"]:
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            routes.append((len(re.sub(r"\{[^}]+\}", "", template)), pattern, template))
        self.routes = sorted(routes, key=lambda r: -r[0])

    def template(self, path: str) -> str:
        return next((t for _, p, t in self.routes if p.match(path)), path)


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return yaml.safe_load(SPEC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def prism(spec: dict[str, Any], sandbox_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prism proxying to the sandbox's e-Doręczenia service, validating requests and answers."""
    if shutil.which("node") is None or not PRISM.exists():
        pytest.fail("node and the npm package @stoplight/prism-cli are needed (make test installs them)")
    folder = tmp_path_factory.mktemp("prism-edo")
    based = {k: v for k, v in spec.items() if k != "servers"}
    based["paths"] = {f"{API}{path}": operations for path, operations in spec["paths"].items()}
    document = folder / "edoreczenia-ua-api.json"
    document.write_text(json.dumps(based, ensure_ascii=False, default=str), encoding="utf-8")
    port = free_port()
    log = (folder / "prism.log").open("w")
    process = subprocess.Popen([str(PRISM), "proxy", "--host", "127.0.0.1", "--port", str(port), "--errors",
                                str(document), f"{sandbox_url}/edoreczenia"],
                               cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/", timeout=1).close()  # any answer (404) means it listens
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"prism did not start; see {folder / 'prism.log'}")
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="module")
def contract_app(app: Flask, app_config: dict[str, Any], sandbox_url: str, prism: str,
                 pki: Path) -> Iterator[Flask]:
    """The portal with the channel on, its UA API calls through Prism (same database as `app`)."""
    application = create_app({
        **app_config, "EDORECZENIA_URL": prism,
        "EDORECZENIA_TOKEN_URL": f"{sandbox_url}/edoreczenia/oauth2/token",
        "EDORECZENIA_BAE_URL": f"{sandbox_url}/edoreczenia/bae",
        "EDORECZENIA_EVIDENCE_SEALS": str(pki / "edoreczenia-seal.pem"),
        "EDORECZENIA_CALLBACK_URL": app_config["BASE_URL"], "EDORECZENIA_TIMEOUT": 5,
        "DELIVERY_ADAPTERS": "desk", "DELIVERY_ROUTES": ""})
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def calls(app: Flask, catalog: None, contract_app: Flask, spec: dict[str, Any], prism: str,
          sandbox_url: str) -> Iterator[list[Call]]:
    """Every call the portal's client makes, with Prism's verdict on it."""
    operations = Operations(spec)
    made: list[Call] = []

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        url = str(response.request.url)
        path = unquote(urlsplit(url).path)
        proxied = url.startswith(prism)
        violations = json.loads(response.headers.get("sl-violations") or "[]")
        if proxied and response.status_code in (422, 500) and "stoplight.io/prism" in response.text:
            violations += response.json().get("validation") or []  # Prism's own refusal of a request
        made.append(Call(str(response.request.method), operations.template(path.removeprefix(API)) if proxied
                         else path, response.status_code, violations, proxied))

    with contract_app.app_context():
        session = edoreczenia._client().http
        session.hooks["response"].append(record)
        try:
            yield made
        finally:
            session.hooks["response"].remove(record)
            requests.delete(f"{sandbox_url}/edoreczenia/sandbox/faults", timeout=5)


def assert_within_contract(calls: list[Call]) -> None:
    broken = [c for c in calls if c.violations or (c.proxied and c.status >= 400)]
    assert not broken, "\n".join(f"{c.method} {c.path} {c.status}: {c.violations}" for c in broken)


def made(calls: list[Call]) -> set[tuple[str, str]]:
    return {(c.method, c.path) for c in calls if c.proxied}


def test_sending_a_letter_and_collecting_its_evidence_keep_to_the_contract(calls: list[Call], pki: Path,
                                                                           sandbox_url: str) -> None:
    assert edoreczenia.ensure_subscribed()
    clerk, case = _case(pki)
    letter = _letter(pki, clerk, case)  # the channel rule asks the BAE (not in the spec: straight to the sandbox)
    assert letter.channel == "edoreczenia"
    assert edoreczenia.run_dispatches() == 1
    job = db.session.scalar(select(EdoDispatch).where(EdoDispatch.letter_id == letter.id))
    assert job.state == SENT and job.message_id and job.recipient == JAN_BOX
    opened = requests.post(f"{sandbox_url}/edoreczenia/skrzynka/{JAN_BOX}/{job.message_id}/odbierz", timeout=5,
                           allow_redirects=False)
    assert opened.status_code == 303
    _poll_now(job)
    assert {"A.1", "BP.WX", "D.1", "E.1", "BP.OX"} <= {e.code for e in job.evidences}
    assert all(e.valid for e in job.evidences)
    client = edoreczenia._client()
    task = edoreczenia.post(job)  # what a second task looks like (the sandbox takes it; its key is the same)
    assert client.task_status(task) == "FINISHED" and client.task_result(task)
    assert client.find_sent(job.key) is not None
    assert client.get_message(job.message_id)["messageMetadata"]["subject"]
    assert client.subscriptions() is not None

    ops = made(calls)
    for operation in [("PUT", "/{eDeliveryAddress}/message_subscriptions"),
                      ("GET", "/{eDeliveryAddress}/message_subscriptions"),
                      ("POST", "/{eDeliveryAddress}/messages"),
                      ("GET", "/{eDeliveryAddress}/messages/tasks/{messageTaskId}"),
                      ("GET", "/{eDeliveryAddress}/messages/tasks/{messageTaskId}/status"),
                      ("GET", "/{eDeliveryAddress}/messages"),
                      ("GET", "/{eDeliveryAddress}/messages/{messageId}"),
                      ("GET", "/{eDeliveryAddress}/messages/{messageId}/evidences"),
                      ("GET", "/{eDeliveryAddress}/evidences/{messageType}/{evidenceId}")]:
        assert operation in ops, (operation, sorted(ops))
    assert_within_contract(calls)
    assert any(not c.proxied and c.path.endswith("/oauth2/token") for c in calls)


def test_taking_in_an_item_sent_to_the_office_keeps_to_the_contract(calls: list[Call], sandbox_url: str) -> None:
    base = f"{sandbox_url}/edoreczenia"
    sent = requests.post(f"{base}/sandbox/send", json={
        "from": JAN_BOX, "to": OFFICE, "subject": "Wniosek przez e-Doręczenia", "text": "Proszę o odpis.",
        "attachments": [{"filename": "wniosek.txt", "contentType": "text/plain",
                         "content": base64.b64encode(b"Tresc wniosku").decode()}]}, timeout=5)
    assert sent.status_code == 201, sent.text
    message_id = str(sent.json()["messageId"])
    assert incoming.poll() >= 1  # INBOX, opened=false
    row = db.session.scalar(select(IncomingMessage).where(IncomingMessage.message_id == message_id))
    assert incoming.take_in(row.id) == HANDLED  # full read, evidences, evidence files, control data patch
    client = edoreczenia._client()
    full = client.incoming_message(message_id)
    attachment = full["attachments"][0]
    attachment_id = attachment.get("attachmentId") or attachment["file"]["fileMetadata"]["fileId"]
    assert client.attachment(message_id, str(attachment_id)) == b"Tresc wniosku"

    ops = made(calls)
    for operation in [("GET", "/{eDeliveryAddress}/messages"),
                      ("GET", "/{eDeliveryAddress}/messages/{messageId}"),
                      ("GET", "/{eDeliveryAddress}/messages/{messageId}/attachments/{attachmentId}"),
                      ("GET", "/{eDeliveryAddress}/messages/{messageId}/evidences"),
                      ("GET", "/{eDeliveryAddress}/evidences/{messageType}/{evidenceId}"),
                      ("PATCH", "/{eDeliveryAddress}/messages/{messageId}/message_control_data")]:
        assert operation in ops, (operation, sorted(ops))
    assert_within_contract(calls)


def test_the_check_bites_off_the_contract_requests_are_refused_and_answers_flagged(calls: list[Call],
                                                                                   sandbox_url: str) -> None:
    client = edoreczenia._client()
    before = len(client.list_messages(label="SENT", limit=2000))
    wrong = {"messageMetadata": {"shippingService": "pigeon", "from": {"eDeliveryAddress": OFFICE},
                                 "to": [{"eDeliveryAddress": JAN_BOX}], "subject": "Poza umową"},
             "textBody": "x", "attachments": "not a list"}
    with pytest.raises(edo.Refused) as refused:
        client._call("POST", f"{client._mailbox()}/messages", json=wrong)
    assert refused.value.http_status == 422
    [flagged] = [c for c in calls if c.method == "POST"]
    assert {tuple(v["location"]) for v in flagged.violations} == {
        ("body", "messageMetadata", "shippingService"), ("body", "attachments")}
    assert len(client.list_messages(label="SENT", limit=2000)) == before  # never reached the sandbox

    # An answer off the contract: the attachment as bare bytes (what the sandbox streams unless asked for the
    # spec's Attachment JSON, as the client does) is turned into a 500 by Prism.
    sent = requests.post(f"{sandbox_url}/edoreczenia/sandbox/send", json={
        "from": JAN_BOX, "to": OFFICE, "subject": "Bajty", "text": "-", "attachments": [
            {"filename": "a.txt", "contentType": "text/plain", "content": base64.b64encode(b"abc").decode()}]},
        timeout=5)
    message_id = str(sent.json()["messageId"])
    attachment = client.incoming_message(message_id)["attachments"][0]
    url = f"{client._mailbox()}/messages/{message_id}/attachments/{attachment['attachmentId']}"
    with pytest.raises(edo.Transient) as bytes_answer:
        client._call("GET", url, expect_json=False, headers={"Accept": "application/octet-stream"})
    assert bytes_answer.value.http_status == 500 and "VIOLATIONS" in str(bytes_answer.value)
    assert client.attachment(message_id, attachment["attachmentId"]) == b"abc"
