"""The sandbox e-Doręczenia service as a real process over HTTP: every JSON answer of its UA API is checked
against the OpenAPI document of the real service (spec 3.0.8.1), evidences are verified with signxml."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests
import yaml
from lxml import etree
from openapi_schema_validator import OAS30Validator
from signxml.exceptions import InvalidSignature
from signxml.xades import XAdESSignatureConfiguration, XAdESVerifier

from tests.conftest import REPO, free_port, wait_for

SPEC = Path("/work/shared/specs/edoreczenia-ua-api-3.0.8.1.yaml")
OFFICE = "AE:PL-41058-29316-UMLES-17"
JAN = "AE:PL-20384-51637-JKOWA-42"
ANNA = "AE:PL-58213-40961-ANOWA-08"
EV = {"ev": "urn:okienko:sandbox:edoreczenia:evidence:1"}
API_PREFIX = "/edoreczenia/api/v1"
# The contract answers attachments with their bytes (the spec: an Attachment JSON); checked by hand below.
OCTET_BY_CONTRACT = re.compile(r"^/[^/]+/messages/[^/]+/attachments/[^/]+$")


class Spec:
    """Finds the operation a request hit and checks the answer against its schema."""

    def __init__(self, path: Path) -> None:
        self.document = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.components = self.document["components"]
        self.routes = []
        for template, operations in self.document["paths"].items():
            pattern = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$")
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            self.routes.append((literal, pattern, operations))
        self.routes.sort(key=lambda route: -route[0])
        self.checked = 0

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node and node["$ref"].startswith("#/components/responses/"):
            node = self.components["responses"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def check(self, response: requests.Response) -> None:
        path = unquote(urlsplit(response.request.url).path)
        if not path.startswith(API_PREFIX):
            return  # the BAE search and the token endpoint are not part of the UA API
        path = path.removeprefix(API_PREFIX)
        method = (response.request.method or "GET").lower()
        operation = next((ops[method] for _, pattern, ops in self.routes if pattern.match(path) and method in ops),
                         None)
        assert operation is not None, f"{method.upper()} {path} is not an operation of the spec"
        declared = {str(code): answer for code, answer in operation["responses"].items()}.get(
            str(response.status_code))  # YAML reads unquoted codes as numbers
        if declared is None:
            assert response.status_code in (401, 403, 404, 429, 500, 503), (response.status_code, path)
            declared = self.components["responses"]["ErrorResponse"]  # errors beyond 400: the same ErrorInfo array
        content = self._resolve(declared).get("content")
        mimetype = response.headers.get("Content-Type", "").split(";")[0]
        if not content:
            assert not response.content, f"{path} should answer with an empty body"
            return
        if OCTET_BY_CONTRACT.match(path) and response.status_code == 200 and mimetype != "application/json":
            assert mimetype == "application/octet-stream"
            return
        assert mimetype in content, f"{path} answered {mimetype}, the spec says {list(content)}"
        if mimetype == "application/json":
            schema = {**content[mimetype]["schema"], "components": self.components}
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in
                      OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER).iter_errors(response.json())]
            assert not errors, f"{method.upper()} {path} {response.status_code}: {errors}"
        self.checked += 1


class Sandbox:
    def __init__(self, pki: Path, state: Path) -> None:
        self.pki, self.state, self.port = pki, state, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "run", "--port", str(self.port), "--pki", str(self.pki),
             "--state", str(self.state)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_for(f"{self.url}/health")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture(scope="module")
def spec() -> Spec:
    return Spec(SPEC)


@pytest.fixture(scope="module")
def sandbox(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    running = Sandbox(pki, tmp_path_factory.mktemp("edo-state"))
    running.start()
    yield running
    running.stop()


def token(sandbox: Sandbox) -> str:
    answer = requests.post(f"{sandbox.url}/edoreczenia/oauth2/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": "okienko-leszno",
        "client_secret": "sandbox-edoreczenia-secret"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert body["scope"] == "read_messages write_messages read_settings write_settings"
    return str(body["access_token"])


class Api(requests.Session):
    """The office's client: every answer of the UA API goes through the spec check."""

    def __init__(self, sandbox: Sandbox, spec: Spec, bearer: str | None) -> None:
        super().__init__()
        self.base = f"{sandbox.url}{API_PREFIX}"
        if bearer:
            self.headers["Authorization"] = f"Bearer {bearer}"
        self.hooks["response"].append(lambda response, *args, **kwargs: spec.check(response))

    def box(self, method: str, path: str, mailbox: str = OFFICE, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 10)
        return self.request(method, f"{self.base}/{quote(mailbox, safe='')}{path}", **kwargs)


@pytest.fixture(scope="module")
def api(sandbox: Sandbox, spec: Spec) -> Api:
    return Api(sandbox, spec, token(sandbox))


def letter(to: str = JAN, content: bytes = b"%PDF-1.7 decyzja", key: str = "k-1", **changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "messageMetadata": {"shippingService": "electronic", "from": {"eDeliveryAddress": OFFICE},
                            "to": [{"eDeliveryAddress": to}], "subject": "Decyzja w sprawie OR.6220.1.2026",
                            "additionalData": {"okienkoKey": key}},
        "textBody": "W załączeniu decyzja.",
        "attachments": [{"file": {"fileMetadata": {"filename": "decyzja.pdf", "contentType": "application/pdf",
                                                   "size": len(content), "alg": "SHA-3",
                                                   "hash": hashlib.sha3_256(content).hexdigest()},
                                  "file": base64.b64encode(content).decode()}}],
    }
    message["messageMetadata"].update(changes)
    return message


def send(api: Api, message: dict[str, Any]) -> str:
    answer = api.box("POST", "/messages", json=message)
    assert answer.status_code == 202, answer.text
    task = api.box("GET", f"/messages/tasks/{answer.json()['messageTaskId']}")
    assert api.box("GET", f"/messages/tasks/{answer.json()['messageTaskId']}/status").json() == {
        "messageTaskStatus": "FINISHED"}
    return str(task.json()[0]["messageId"])


def evidences(api: Api, message_id: str, mailbox: str = OFFICE) -> list[dict[str, Any]]:
    answer = api.box("GET", f"/messages/{message_id}/evidences", mailbox)
    assert answer.status_code == 200
    return list(answer.json()["evidences"])


def codes(api: Api, message_id: str) -> list[str]:
    return [e["type"] for e in evidences(api, message_id)]


def evidence_file(api: Api, evidence_id: str) -> bytes:
    answer = api.box("GET", f"/evidences/purde/{evidence_id}")
    assert answer.status_code == 200
    return answer.content


def verify(document: bytes, seal: bytes) -> etree._Element:
    results = XAdESVerifier().verify(document, x509_cert=seal.decode(),
                                     expect_config=XAdESSignatureConfiguration(expect_references=2))
    return results[0].signed_xml


def status(api: Api, message_id: str) -> str:
    return str(api.box("GET", f"/messages/{message_id}", params={"format": "metadata"}).json()[0]
               ["messageControlData"]["status"])


def test_tokens_act_for_their_own_mailbox_only(sandbox: Sandbox, spec: Spec, api: Api) -> None:
    wrong = requests.post(f"{sandbox.url}/edoreczenia/oauth2/token", timeout=5, data={
        "grant_type": "client_credentials", "client_id": "okienko-leszno", "client_secret": "guess"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    anonymous = Api(sandbox, spec, None).box("GET", "/messages")
    assert anonymous.status_code == 401 and anonymous.json()[0]["error"] == "UNAUTHORIZED"
    assert Api(sandbox, spec, "forged").box("GET", "/messages").status_code == 401
    elsewhere = api.box("GET", "/messages", JAN)
    assert elsewhere.status_code == 403 and elsewhere.json()[0]["error"] == "FORBIDDEN"
    assert api.box("GET", "/messages/no-such-message", params={"format": "metadata"}).status_code == 404


def test_bae_finds_addresses_by_pesel_nip_and_address(sandbox: Sandbox, api: Api) -> None:
    def search(**query: str) -> list[dict[str, str]]:
        answer = api.get(f"{sandbox.url}/edoreczenia/bae/api/v1/addresses", params=query, timeout=5)
        assert answer.status_code == 200
        return list(answer.json()["addresses"])

    assert search(pesel="80010112357") == [{"eDeliveryAddress": JAN, "name": "Jan Kowalski",
                                            "pesel": "80010112357", "status": "ACTIVE"}]
    assert search(pesel="01230804662") == []  # the third demo resident has no address
    assert search(nip="6970011183")[0]["eDeliveryAddress"] == OFFICE
    assert search(address=ANNA)[0]["name"] == "Anna Nowak"
    assert requests.get(f"{sandbox.url}/edoreczenia/bae/api/v1/addresses", params={"pesel": "80010112357"},
                        timeout=5).status_code == 401


def test_a_sent_letter_is_accepted_and_available_with_sealed_evidences(sandbox: Sandbox, api: Api, pki: Path) -> None:
    content = b"%PDF-1.7 decyzja o warunkach zabudowy"
    wrong = letter(content=content)
    wrong["attachments"][0]["file"]["fileMetadata"]["hash"] = "00" * 32
    rejected = api.box("POST", "/messages", json=wrong)
    assert rejected.status_code == 400 and rejected.json()[0]["error"] == "INVALID_HASH"

    message_id = send(api, letter(content=content, key="key-sent-1"))
    assert codes(api, message_id) == ["A.1", "BP.WX", "D.1"]
    assert status(api, message_id) == "Czeka na doręczenie"
    sent = api.box("GET", "/messages", params={"label": "SENT", "format": "metadata"}).json()["messages"]
    assert {"okienkoKey": "key-sent-1"} in [m["messageMetadata"]["additionalData"] for m in sent]

    seal = requests.get(f"{sandbox.url}/edoreczenia/seal.pem", timeout=5).content
    assert seal == (pki / "edoreczenia-seal.pem").read_bytes()
    a1 = evidences(api, message_id)[0]
    signed = verify(evidence_file(api, a1["evidenceId"]), seal)
    assert signed.findtext("ev:EvidenceType", namespaces=EV) == "A.1"
    assert signed.findtext("ev:MessageIdentifier", namespaces=EV) == message_id
    assert signed.findtext("ev:SenderAddress", namespaces=EV) == OFFICE
    assert signed.findtext("ev:RecipientAddress", namespaces=EV) == JAN
    assert signed.findtext("ev:ContentDigest", namespaces=EV) == hashlib.sha3_256(content).hexdigest()
    assert signed.findtext("ev:EventTime", namespaces=EV) == a1["eventDate"]

    assert requests.post(f"{sandbox.url}/edoreczenia/sandbox/faults", json={"tamper_next_evidence": True},
                         timeout=5).status_code == 200
    with pytest.raises(InvalidSignature):
        verify(evidence_file(api, a1["evidenceId"]), seal)
    verify(evidence_file(api, a1["evidenceId"]), seal)  # only the next one was tampered with


def test_opening_in_the_box_delivers_with_e1_and_proof_of_receipt(sandbox: Sandbox, api: Api) -> None:
    message_id = send(api, letter(content=b"%PDF-1.7 zawiadomienie", key="key-open"))
    box = requests.get(f"{sandbox.url}/edoreczenia/skrzynka/{JAN}", timeout=5)
    assert box.status_code == 200 and '<html lang="pl">' in box.text
    assert '<label for="tresc">' in box.text and '<label for="plik">' in box.text and "Wyślij do urzędu" in box.text
    hidden = requests.get(f"{sandbox.url}/edoreczenia/skrzynka/{JAN}/{message_id}", timeout=5)
    assert "Odbierz" in hidden.text and "decyzja.pdf" not in hidden.text  # not readable before receiving

    opened = requests.post(f"{sandbox.url}/edoreczenia/skrzynka/{JAN}/{message_id}/odbierz", timeout=5)
    assert opened.status_code == 200 and "Pobierz decyzja.pdf" in opened.text
    link = re.search(r'href="([^"]+/zalaczniki/[^"]+)"', opened.text)
    assert link is not None
    assert requests.get(f"{sandbox.url}{link.group(1)}", timeout=5).content == b"%PDF-1.7 zawiadomienie"

    found = evidences(api, message_id)
    assert [e["type"] for e in found] == ["A.1", "BP.WX", "D.1", "E.1", "BP.OX"]
    proof = verify(evidence_file(api, found[-1]["evidenceId"]),
                   requests.get(f"{sandbox.url}/edoreczenia/seal.pem", timeout=5).content)
    assert proof.findtext("ev:ReceiptFiction", namespaces=EV) == "false"
    assert proof.findtext("ev:EventTime", namespaces=EV) == found[-1]["eventDate"] == found[-2]["eventDate"]
    assert status(api, message_id) == "Doręczona"


def test_unknown_recipient_is_rejected_with_a2(api: Api) -> None:
    message_id = send(api, letter(to="AE:PL-00000-00000-NOONE-00", key="key-nobody"))
    assert codes(api, message_id) == ["A.2"]
    assert status(api, message_id) == "Odrzucona"


def test_hybrid_letters_are_posted_then_delivered_by_post(sandbox: Sandbox, api: Api) -> None:
    message = letter(key="key-post")
    message["messageMetadata"].update(shippingService="hybrid", to=[{"address": {
        "country": "PL", "street": "ul. Święciechowska", "buildingNumber": "7", "postalCode": "64-100",
        "city": "Leszno"}, "contributor": {"firstName": "Zofia", "lastName": "Łęcka-Żółtowska"}}])
    message_id = send(api, message)
    assert codes(api, message_id) == ["A.1", "H.PN"]
    requests.post(f"{sandbox.url}/edoreczenia/sandbox/clock", json={"days": 3}, timeout=5)
    assert codes(api, message_id) == ["A.1", "H.PN", "H.EPO"]
    assert status(api, message_id) == "Doręczona"


def test_a_letter_not_opened_in_14_days_is_deemed_delivered(sandbox: Sandbox, api: Api) -> None:
    message_id = send(api, letter(to=ANNA, key="key-fiction"))
    d1 = next(e for e in evidences(api, message_id) if e["type"] == "D.1")
    before = requests.get(f"{sandbox.url}/edoreczenia/sandbox/clock", timeout=5).json()["now"]
    moved = requests.post(f"{sandbox.url}/edoreczenia/sandbox/clock", json={"days": 15}, timeout=5).json()["now"]
    assert datetime.datetime.fromisoformat(moved) - datetime.datetime.fromisoformat(before) >= datetime.timedelta(
        days=15)
    found = evidences(api, message_id)
    assert [e["type"] for e in found] == ["A.1", "BP.WX", "D.1", "BP.OX"]
    expected = (datetime.datetime.fromisoformat(d1["eventDate"]) + datetime.timedelta(days=14)).isoformat()
    proof = verify(evidence_file(api, found[-1]["evidenceId"]),
                   requests.get(f"{sandbox.url}/edoreczenia/seal.pem", timeout=5).content)
    assert proof.findtext("ev:ReceiptFiction", namespaces=EV) == "true"
    assert datetime.datetime.fromisoformat(proof.findtext("ev:EventTime", namespaces=EV) or "").isoformat() == expected
    assert status(api, message_id) == "Uznana za doręczoną"


@pytest.fixture
def listener() -> Iterator[tuple[str, queue.Queue[tuple[str, dict[str, Any]]]]]:
    received: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.put((self.path, json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received
    server.shutdown()
    server.server_close()


def collect(received: queue.Queue[tuple[str, dict[str, Any]]], count: int) -> list[tuple[str, dict[str, Any]]]:
    return [received.get(timeout=5) for _ in range(count)]


def test_callbacks_and_an_incoming_letter_from_a_resident(
        sandbox: Sandbox, api: Api, listener: tuple[str, queue.Queue[tuple[str, dict[str, Any]]]]) -> None:
    url, received = listener
    subscribed = api.box("PUT", "/message_subscriptions", json={
        "messageCallbackUrl": f"{url}/message", "evidenceCallbackUrl": f"{url}/evidence"})
    assert subscribed.status_code == 200 and subscribed.json()["subscriptionId"]
    assert {s["url"] for s in api.box("GET", "/message_subscriptions").json()} == {f"{url}/message",
                                                                                   f"{url}/evidence"}
    message_id = send(api, letter(key="key-notify"))
    got = collect(received, 3)
    assert {path for path, _ in got} == {"/evidence"}
    assert sorted(body["notification"][0]["type"] for _, body in got) == ["A.1", "BP.WX", "D.1"]
    assert all(body["eDeliveryAddress"] == OFFICE and body["notificationType"] == "NewEvidence" for _, body in got)
    assert {body["notification"][0]["id"] for _, body in got} == {e["evidenceId"] for e in evidences(api, message_id)}

    incoming = requests.post(f"{sandbox.url}/edoreczenia/sandbox/send", timeout=5, json={
        "from": JAN, "to": OFFICE, "subject": "Wniosek o zaświadczenie", "text": "Proszę o zaświadczenie.",
        "attachments": [{"filename": "wniosek.xml", "contentType": "application/xml",
                         "content": base64.b64encode(b"<wniosek/>").decode()}]})
    assert incoming.status_code == 201
    incoming_id = incoming.json()["messageId"]
    path, body = collect(received, 1)[0]
    assert path == "/message" and body["notificationType"] == "NewMessage"
    assert body["notification"][0]["id"] == incoming_id

    unread = api.box("GET", "/messages", params={"label": "INBOX", "format": "metadata", "opened": "false"})
    assert [m["messageMetadata"]["messageId"] for m in unread.json()["messages"]] == [incoming_id]
    assert codes(api, incoming_id) == ["A.1", "BP.WX", "D.1"]
    full = api.box("GET", f"/messages/{incoming_id}", params={"format": "full"}).json()[0]
    attachment = full["attachments"][0]
    assert base64.b64decode(attachment["file"]["file"]) == b"<wniosek/>"
    raw = api.box("GET", f"/messages/{incoming_id}/attachments/{attachment['attachmentId']}")
    assert raw.headers["Content-Type"] == "application/octet-stream" and raw.content == b"<wniosek/>"
    marked = api.box("PATCH", f"/messages/{incoming_id}/message_control_data",
                     json=[{"op": "replace", "path": "/opened", "value": True}])
    assert marked.status_code == 200 and marked.json()[0]["opened"] is True
    assert api.box("GET", "/messages", params={"label": "INBOX", "opened": "false"}).json()["messages"] == []

    assert api.box("DELETE", "/message_subscriptions").status_code == 200
    assert api.box("GET", "/message_subscriptions").json() == []


def test_faults_answer_errors_and_slow_down(sandbox: Sandbox, api: Api) -> None:
    faults = f"{sandbox.url}/edoreczenia/sandbox/faults"
    requests.post(faults, json={"status": 503, "count": 2}, timeout=5)
    assert [api.box("GET", "/messages").status_code for _ in range(3)] == [503, 503, 200]
    requests.post(faults, json={"delay": 0.3, "count": 1}, timeout=5)
    started = time.monotonic()
    assert api.box("GET", "/messages").status_code == 200
    assert time.monotonic() - started >= 0.3
    requests.post(faults, json={"status": 500, "count": 5}, timeout=5)
    requests.delete(faults, timeout=5)
    assert api.box("GET", "/messages").status_code == 200


def test_the_state_survives_a_restart(sandbox: Sandbox, api: Api) -> None:
    message_id = send(api, letter(key="key-restart"))
    clock = requests.get(f"{sandbox.url}/edoreczenia/sandbox/clock", timeout=5).json()["now"]
    sandbox.stop()
    sandbox.start()
    assert codes(api, message_id) == ["A.1", "BP.WX", "D.1"]  # the token issued before the restart still works
    after = requests.get(f"{sandbox.url}/edoreczenia/sandbox/clock", timeout=5).json()["now"]
    assert datetime.timedelta(0) <= datetime.datetime.fromisoformat(after) - datetime.datetime.fromisoformat(
        clock) < datetime.timedelta(minutes=1)  # the moved clock is kept too


def test_every_api_answer_was_checked_against_the_spec(spec: Spec) -> None:
    assert spec.checked > 40
