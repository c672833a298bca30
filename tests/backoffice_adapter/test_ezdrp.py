"""The `ezdrp` adapter against EZD RP as its Integrator API v2 contract describes it.

Prism (`@stoplight/prism-cli`, package.json) serves a mock made from the contract and answers any
request that breaks it with 400 and an `sl-violations` header (`--errors` also turns an answer of its own
that breaks the contract into a 500): a delivery that succeeds here sent nothing the contract forbids.
Prism answers from schemas, not from state, so what depends on EZD's memory (a parcel found on
redelivery, the state of a case) is tested against scripted answers instead (`Script`).
"""

from __future__ import annotations

import copy
import io
import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from flask import Flask
from sqlalchemy import select

from backoffice_adapter import outbox
from backoffice_adapter.base import (
    Attachment,
    DeliveredParcel,
    DeliveryError,
    Envelope,
    PermanentDeliveryError,
    registered,
)
from backoffice_adapter.ezdrp import API, EzdRpAdapter, rpw_number
from backoffice_adapter.models import DEAD, FAILED, SUCCESS, OutboxMessage
from portal.db_types import utcnow
from portal.extensions import db
from portal.status import polling
from portal.status import service as status
from tests.conftest import free_port
from tests.factories import make_submission

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "backoffice_adapter" / "contracts" / "ezdrp-integrator-api-v2.json"
PRISM = REPO / "node_modules" / ".bin" / "prism"
TOKEN, SID = "okienko-test-token.x1", "5b86d647b2924913b4af227ee4b4cb16"

# -- the mock -------------------------------------------------------------------------------------

# Values Prism's static generator cannot make up from the schemas alone, given as `example`s. Examples
# are annotations: requests are checked against the contract exactly as published (see
# test_the_mock_checks_requests_against_the_contract_as_published).
EXAMPLES = {
    # the contract gives none, and "string" is no RPW number
    ("V2PostDokumentPismoDto", "numerRpw"): "RPW/12/2026",
    # the generator makes every boolean true: every RPW entry and case would look deleted
    ("V2PostRejestrPrzesylekWplywajacychDto", "czyUsuniety"): False,
    ("V2GetSprawaDto", "czyUsuniety"): False,
}


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "$ref" in node:
            yield str(node["$ref"]).rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(schemas: dict[str, Any], start: Iterator[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(start)
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(_refs(schemas[name]))
    return seen


def _properties(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if isinstance(schema.get("properties"), dict):
            yield schema["properties"]
        for part in schema.get("allOf") or []:
            yield from _properties(part)


def mockable(contract: dict[str, Any]) -> dict[str, Any]:
    """The contract with `example`s added where Prism cannot generate a valid answer on its own."""
    spec = copy.deepcopy(contract)
    schemas = spec["components"]["schemas"]
    # A list of the schema itself (a document's attachments, a unit's sub-units): Prism's generator stops
    # one level down with an empty object, which breaks the schema (stoplightio/prism#2291); an empty
    # list is a valid answer.
    for name, schema in schemas.items():
        for properties in _properties(schema):
            for prop in properties.values():
                if prop.get("type") == "array" and name in _reachable(schemas, _refs(prop.get("items", {}))):
                    prop["example"] = []
    for (schema_name, prop_name), value in EXAMPLES.items():
        schemas[schema_name]["properties"][prop_name]["example"] = value
    return spec


def _without_added_examples(node: Any, original: Any) -> Any:
    if isinstance(node, dict):
        return {k: _without_added_examples(v, original.get(k) if isinstance(original, dict) else None)
                for k, v in node.items()
                if not (k == "example" and not (isinstance(original, dict) and "example" in original))}
    if isinstance(node, list):
        return [_without_added_examples(v, original[i] if isinstance(original, list) and i < len(original) else None)
                for i, v in enumerate(node)]
    return node


@pytest.fixture(scope="session")
def contract() -> dict[str, Any]:
    if not CONTRACT.exists():
        pytest.fail(f"the EZD RP Integrator API v2 contract is expected at {CONTRACT}")
    return json.loads(CONTRACT.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def prism(contract: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Prism mocking EZD RP on a free loopback port, for the whole session."""
    if shutil.which("node") is None or not PRISM.exists():
        pytest.fail("node and the npm package @stoplight/prism-cli are needed (make test installs them)")
    folder = tmp_path_factory.mktemp("prism")
    spec = folder / "ezdrp-mock.json"
    spec.write_text(json.dumps(mockable(contract), ensure_ascii=False), encoding="utf-8")
    port = free_port()
    log = (folder / "prism.log").open("w")
    process = subprocess.Popen([str(PRISM), "mock", "--host", "127.0.0.1", "--port", str(port), "--errors",
                                str(spec)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
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
        session = EzdRpAdapter._sessions.pop(url, None)
        if session is not None:
            session.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@dataclass
class Call:
    method: str
    path: str
    status: int
    violations: str | None
    headers: dict[str, str]
    body: bytes


class Calls(list[Call]):
    def made(self) -> list[tuple[str, str]]:
        return [(c.method, c.path) for c in self]

    def body(self, method: str, path: str) -> Any:
        return json.loads(next(c.body for c in self if (c.method, c.path) == (method, path)))


def settings(url: str) -> dict[str, Any]:
    return {"EZDRP_URL": url, "EZDRP_TOKEN": TOKEN, "EZDRP_SID": SID, "EZDRP_TIMEOUT": 5}


@pytest.fixture
def calls(prism: str) -> Iterator[Calls]:
    """Every request the adapter sends to the mock, with the mock's verdict on it."""
    made = Calls()

    def record(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        body = request.body if isinstance(request.body, bytes) else str(request.body or "").encode()
        made.append(Call(str(request.method), request.path_url.removeprefix(API), response.status_code,
                         response.headers.get("sl-violations"), dict(request.headers), body))

    session = EzdRpAdapter(settings(prism))._session()
    session.hooks["response"].append(record)
    yield made
    session.hooks["response"].remove(record)
    session.headers.pop("Prefer", None)


@pytest.fixture
def ezd(app: Flask, configure: Any, prism: str, calls: Calls) -> Calls:
    """Every submission routed to EZD RP (the mock)."""
    configure(DELIVERY_ADAPTERS="ezdrp", **settings(prism))
    return calls


def prefer(prism: str, value: str | None) -> None:
    """Ask Prism for a given answer (`Prefer: code=500`) on everything the adapter sends, or stop asking."""
    headers = EzdRpAdapter(settings(prism))._session().headers
    if value is None:
        headers.pop("Prefer", None)
    else:
        headers["Prefer"] = value


def test_the_mock_checks_requests_against_the_contract_as_published(contract: dict[str, Any]) -> None:
    mock = mockable(contract)
    assert mock != contract
    assert _without_added_examples(mock, contract) == contract


def test_the_adapter_is_registered() -> None:
    assert "ezdrp" in registered()


FRESH_DELIVERY = [
    ("POST", "/rpw/_search"),  # registered already?
    ("POST", "/dokumenty/_search"),  # half made?
    ("POST", "/obiegi"),
    ("GET", "/obiegi/string/dokumenty"),
    ("POST", "/dokumenty/string/rpw"),
    ("GET", "/rpw/12/2026/metadane"),
    ("POST", "/rpw/12/2026/zalaczniki"),  # the UPO
    ("PUT", "/rpw/12/2026/metadane"),
]


def test_delivery_through_the_outbox_registers_the_parcel_in_the_rpw(app: Flask, ctx: None, catalog: None,
                                                                     pki: Path, ezd: Calls) -> None:
    submission = make_submission(pki)
    assert outbox.run_once() == 1
    message = db.session.scalar(select(OutboxMessage))
    assert message.adapter == "ezdrp" and message.state == SUCCESS, message.last_error
    assert message.receipt == {"reference": "RPW/12/2026", "rpw": "RPW/12/2026", "numer": "12", "rok": "2026",
                               "id_pismo": "string", "id_dokumentu": "string"}
    # every request was one the contract allows, with the credentials it asks for
    assert ezd.made() == FRESH_DELIVERY
    assert all(200 <= c.status < 300 and c.violations is None for c in ezd), [(c.path, c.violations) for c in ezd]
    assert all(c.headers["Authorization"] == f"Bearer {TOKEN}" and c.headers["SID"] == SID for c in ezd)
    # the idempotency key is what the searches look for and what the metadata sets, last
    assert ezd.body("POST", "/rpw/_search")["searchValue"] == submission.receipt_id
    assert submission.receipt_id in ezd.body("POST", "/dokumenty/_search")["tytul"]
    upload = next(c.body for c in ezd if c.path == "/obiegi")
    assert f"({submission.receipt_id}).xml".encode() in upload and submission.document in upload
    sent = ezd.body("PUT", "/rpw/12/2026/metadane")["metadaneSystemowe"]
    assert sent["numerNadawczy"] == submission.receipt_id
    assert datetime.fromisoformat(sent["dataWplywu"]) == submission.filed_at.replace(microsecond=0)
    assert submission.resident.full_name in sent["uwagi"]
    # the resident is told the RPW number
    registered_events = [e for e in status.timeline(submission.id) if e.kind == status.REGISTERED]
    assert [e.data for e in registered_events] == [{"rpw": "RPW/12/2026"}]


def envelope(**changes: Any) -> Envelope:
    return replace(Envelope(
        submission_id="6f1d3c1e-0000-4000-8000-000000000001", receipt_id="OK-2026-ABCD2345",
        service_id="pismo-ogolne", service_version="1", service_title="Pismo ogólne do urzędu", unit="OR",
        jrwa_class="0152", sender_name="Jan Kowalski", filed_at=datetime(2026, 3, 2, 9, 30, 15, tzinfo=UTC),
        document=b"<Dokument/>", document_sha256="0" * 64, upo=b"<UPO/>", signature={},
    ), **changes)


def test_attachments_and_a_detached_signature_go_to_the_rpw_entry_a_file_a_call(prism: str, calls: Calls) -> None:
    parcel = envelope(detached_signature=b"<xades/>", attachments=(
        Attachment("skan.pdf", "application/pdf", b"%PDF-1.7 a", "1" * 64),
        Attachment("skan.pdf", "application/pdf", b"%PDF-1.7 b", "2" * 64),
        Attachment("../mapa: działka?.png", "image/png", b"\x89PNG", "3" * 64),
    ))
    receipt = EzdRpAdapter(settings(prism)).deliver(parcel)
    assert receipt.reference == "RPW/12/2026"
    uploads = [c for c in calls if c.path == "/rpw/12/2026/zalaczniki"]
    assert all(200 <= c.status < 300 and c.violations is None for c in calls) and len(uploads) == 5
    names = [re.search(rb'filename="([^"]*)"', c.body).group(1).decode() for c in uploads]  # type: ignore[union-attr]
    assert names == ["UPO-OK-2026-ABCD2345.xml", "podpis-OK-2026-ABCD2345.xades", "skan.pdf", "skan-2.pdf",
                     "mapa_ działka_.png"]
    assert calls.made()[-1] == ("PUT", "/rpw/12/2026/metadane")


def test_a_request_that_breaks_the_contract_is_refused_for_good(ctx: None, catalog: None, pki: Path, ezd: Calls,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # The contract describes dataWplywu as "YYYY-MM-DD" but types it date-time: a date alone breaks it.
    built = EzdRpAdapter._metadata

    def date_only(self: EzdRpAdapter, parcel: Envelope, current: dict[str, Any]) -> dict[str, Any]:
        body = built(self, parcel, current)
        body["metadaneSystemowe"]["dataWplywu"] = parcel.filed_at.date().isoformat()
        return body

    monkeypatch.setattr(EzdRpAdapter, "_metadata", date_only)
    make_submission(pki)
    outbox.run_once()
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == DEAD
    assert "PermanentDeliveryError: EZD RP refused PUT /rpw/12/2026/metadane (400)" in message.last_error
    refused = ezd[-1]
    assert refused.status == 400 and "dataWplywu" in str(refused.violations)


def test_a_server_error_is_retried_and_the_parcel_delivered_later(ctx: None, catalog: None, pki: Path, ezd: Calls,
                                                                   prism: str) -> None:
    make_submission(pki)
    prefer(prism, "code=500")  # the contract declares 500 for every operation
    outbox.run_once()
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == FAILED and "DeliveryError: EZD RP answered 500 to POST /rpw/_search" in message.last_error
    prefer(prism, None)
    message.next_attempt_at = utcnow()
    db.session.commit()
    outbox.run_once()
    db.session.refresh(message)
    assert message.state == SUCCESS and message.receipt["rpw"] == "RPW/12/2026"


def test_an_unreachable_ezd_is_retried() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(DeliveryError) as raised:
        EzdRpAdapter(settings(nobody)).deliver(envelope())
    EzdRpAdapter._sessions.pop(nobody).close()
    assert not isinstance(raised.value, PermanentDeliveryError)
    assert "did not answer POST /rpw/_search" in str(raised.value)


def test_case_events_are_read_from_ezd_and_applied_once(ctx: None, catalog: None, pki: Path, ezd: Calls,
                                                        prism: str) -> None:
    submission = make_submission(pki)
    outbox.run_once()
    message = db.session.scalar(select(OutboxMessage))
    parcel = DeliveredParcel(submission.id, message.receipt)
    adapter = EzdRpAdapter(settings(prism))
    updates = adapter.fetch_events([parcel])
    for update in updates:
        status.check_update(update)
    # the mock's case as it generates it: znak, unit and handler "string"; status 0, the first of the enum,
    # is no status of a case (it is the search filter "all"), so no status event (statuses: scripted below)
    assert [(u.kind, u.data) for u in updates] == [
        ("case_opened", {"case_reference": "string", "unit": "string"}),
        ("assigned", {"unit": "string", "handler": "string string"}),
    ]
    assert [u.event_id for u in adapter.fetch_events([parcel])] == [u.event_id for u in updates]
    assert all(c.violations is None and c.status == 200 for c in ezd if c.path.startswith(("/sprawy", "/struktura")))
    assert polling.poll_events() == 2
    assert polling.poll_events() == 0  # the same state again: nothing new
    case = status.summary(status.timeline(submission.id))
    assert (case.rpw, case.case_reference, case.handler) == ("RPW/12/2026", "string", "string string")


def test_polling_an_ezd_that_fails_raises_delivery_error(prism: str, calls: Calls) -> None:
    prefer(prism, "code=500")
    parcel = DeliveredParcel("s-1", {"rpw": "RPW/12/2026", "numer": "12", "rok": "2026", "id_pismo": "string"})
    with pytest.raises(DeliveryError, match="answered 500"):
        EzdRpAdapter(settings(prism)).fetch_events([parcel])


# -- scripted answers: what depends on EZD's state ----------------------------------------------------

FAKE = "http://ezd.test"


class Script(requests.adapters.HTTPAdapter):
    """EZD RP answering from a list of (method, path pattern, answer), each used once, in any order;
    an answer is (status, JSON body) or an exception to raise. Records what was asked."""

    def __init__(self, *answers: tuple[str, str, Any]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.asked: list[tuple[str, str, Any]] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        path = str(request.path_url).removeprefix(API)
        body = json.loads(request.body) if request.body and "json" in str(request.headers.get("Content-Type")) else None
        self.asked.append((str(request.method), path, body))
        for index, (method, pattern, answer) in enumerate(self.answers):
            if method == request.method and re.fullmatch(pattern, path):
                del self.answers[index]
                if isinstance(answer, Exception):
                    raise answer
                code, content = answer
                raw = urllib3.HTTPResponse(body=io.BytesIO(json.dumps(content).encode() if content is not None
                                                           else b""), status=code, preload_content=False,
                                           headers={"Content-Type": "application/json"})
                return self.build_response(request, raw)
        raise AssertionError(f"EZD RP was not expected to be asked {request.method} {path}")

    def made(self) -> list[tuple[str, str]]:
        return [(method, path) for method, path, _ in self.asked]


@pytest.fixture
def scripted() -> Iterator[Any]:
    """An adapter whose EZD RP answers from a script."""
    config = {**settings(FAKE), "OFFICE_UNITS": "OR:Wydział Organizacyjny;FB:Wydział Finansowo-Budżetowy"}
    adapter = EzdRpAdapter(config)

    def use(*answers: tuple[str, str, Any]) -> tuple[EzdRpAdapter, Script]:
        script = Script(*answers)
        adapter._session().mount(FAKE, script)
        return adapter, script

    yield use
    EzdRpAdapter._sessions.pop(FAKE).close()


def page(*items: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"lista": list(items), "pageInfo": {"indexEnd": len(items), "indexStart": 0, "pageNumber": 0,
                                                   "pageSize": 25}}


NO_ENTRY = ("POST", "/rpw/_search", page({"numerNadawczy": "OK-2026-OTHER999", "numerRPW": "RPW/3/2026"}))


def metadata(**system: Any) -> tuple[int, dict[str, Any]]:
    def dictionary(*options: tuple[str, str], value: str) -> dict[str, Any]:
        return {"wartosc": value, "listaDostepnychWartosci": [{"id": i, "wartoscText": t} for i, t in options]}

    return 200, {
        "numerRPW": "RPW/8/2026", "idPismo": "p-8", "status": 2,
        "zalaczniki": [{"nazwa": "UPO-OK-2026-ABCD2345"}],  # attached by the attempt that crashed, name without .xml
        "metadane": {
            "metadaneSystemowe": {
                "dataWplywu": "2026-03-02T10:30:15+01:00", "numerNadawczy": None,
                "sposobDostarczenia": dictionary(("sd1", "Poczta Polska"), ("sd7", "ePUAP"), value="sd1"),
                "rodzajDokumentu": dictionary(("rd1", "Pismo"), ("rd2", "Wniosek"), value="Pismo"),
                "typDokumentu": dictionary(("t1", "Papierowy"), ("t2", "Elektroniczny"), value="t1"),
                "dostep": dictionary(("d1", "Jawny"), value="d1"),
                **system,
            },
            "metadaneNiesystemowe": [{"idKonfiguracja": "m-1", "wartosc": "B5"},
                                     {"idKonfiguracja": "m-2", "wartosc": ""}],
        },
    }


def test_a_parcel_registered_already_is_found_not_registered_again(scripted: Any) -> None:
    adapter, script = scripted(("POST", "/rpw/_search", page(
        {"numerNadawczy": "OK-2026-OTHER999", "numerRPW": "RPW/3/2026", "idPismo": "p-3"},
        {"numerNadawczy": "OK-2026-ABCD2345", "numerRPW": "RPW/7/2026", "idPismo": "p-7", "czyUsuniety": False},
    )))
    receipt = adapter.deliver(envelope())
    assert receipt.reference == "RPW/7/2026" and receipt.details["id_pismo"] == "p-7"
    assert script.asked == [("POST", "/rpw/_search", {"searchValue": "OK-2026-ABCD2345", "page": 0, "pageSize": 25})]


def test_a_parcel_deleted_from_the_register_is_not_registered_again(scripted: Any) -> None:
    adapter, script = scripted(("POST", "/rpw/_search", page(
        {"numerNadawczy": "OK-2026-ABCD2345", "numerRPW": "RPW/7/2026", "czyUsuniety": True})))
    with pytest.raises(PermanentDeliveryError, match="RPW/7/2026, deleted from the register"):
        adapter.deliver(envelope())
    assert script.made() == [("POST", "/rpw/_search")]


@pytest.mark.parametrize("registered_as", [None, "RPW/8/2026"])
def test_a_half_made_parcel_is_finished_not_made_twice(scripted: Any, registered_as: str | None) -> None:
    """An attempt that crashed after creating the document (and perhaps registering it and attaching the UPO)."""
    registering = [] if registered_as else [("POST", "/dokumenty/d-1/rpw",
                                             (201, {"idPismo": "p-8", "numerRpw": "RPW/8/2026"}))]
    adapter, script = scripted(
        NO_ENTRY,
        ("POST", "/dokumenty/_search", page({"idDokument": "x", "nazwa": "Pismo ogólne do urzędu (OK-2026-ABCD2345)",
                                             "listaDokumentPrzestrzeni": [{"idDokumentPrzestrzeni": "d-1",
                                                                           "idPrzestrzenRobocza": "w-1"}]})),
        ("GET", "/dokumenty/d-1", (200, {"idDokumentPrzestrzeni": "d-1", "numerRpw": registered_as})),
        *registering,
        ("GET", "/rpw/8/2026/metadane", metadata()),
        ("POST", "/rpw/8/2026/zalaczniki", (201, {})),
        ("PUT", "/rpw/8/2026/metadane", (204, None)),
    )
    parcel = envelope(attachments=(Attachment("skan.pdf", "application/pdf", b"%PDF", "1" * 64),))
    receipt = adapter.deliver(parcel)
    assert receipt.reference == "RPW/8/2026"
    assert receipt.details == {"rpw": "RPW/8/2026", "numer": "8", "rok": "2026", "id_pismo": "p-8",
                               "id_dokumentu": "d-1"}
    made = script.made()
    assert made[:2] == [("POST", "/rpw/_search"), ("POST", "/dokumenty/_search")]  # the searches come first
    assert ("POST", "/obiegi") not in made  # no second document
    assert made.count(("POST", "/dokumenty/d-1/rpw")) == (0 if registered_as else 1)  # no second RPW entry
    assert made.count(("POST", "/rpw/8/2026/zalaczniki")) == 1  # the UPO is there: only the scan is sent
    assert made[-1] == ("PUT", "/rpw/8/2026/metadane")  # the key is set last
    system = script.asked[-1][2]["metadaneSystemowe"]
    assert (system["sposobDostarczenia"], system["rodzajDokumentu"], system["typDokumentu"], system["dostep"]) == \
        ("sd7", "rd1", "t2", "d1")
    assert system["dataWplywu"] == "2026-03-02T10:30:15+01:00" and system["numerNadawczy"] == "OK-2026-ABCD2345"
    assert script.asked[-1][2]["metadaneNiesystemowe"] == [{"id": "m-1", "wartosc": "B5"}]


def test_a_parcel_whose_metadata_carries_the_key_is_left_as_it_is(scripted: Any) -> None:
    adapter, script = scripted(
        NO_ENTRY,  # the register's search did not find it (e.g. it does not search numerNadawczy)
        ("POST", "/dokumenty/_search", page({"nazwa": "Pismo ogólne do urzędu (OK-2026-ABCD2345)",
                                             "listaDokumentPrzestrzeni": [{"idDokumentPrzestrzeni": "d-1"}]})),
        ("GET", "/dokumenty/d-1", (200, {"numerRpw": "RPW/8/2026"})),
        ("GET", "/rpw/8/2026/metadane", metadata(numerNadawczy="OK-2026-ABCD2345")),
    )
    assert adapter.deliver(envelope()).reference == "RPW/8/2026"
    assert ("PUT", "/rpw/8/2026/metadane") not in script.made()


@pytest.mark.parametrize(("answer", "retried", "says"), [
    ((401, {"type": "x", "status": 401, "instance": "/x"}), True, "PORTAL_EZDRP_TOKEN"),
    ((403, {"type": "x", "status": 403, "instance": "/x", "detail": "Brak uprawnienia Rejestry.PrzesylkiWplywajace"}),
     True, "PORTAL_EZDRP_SID"),
    ((404, {"type": "x", "status": 404, "instance": "/x", "detail": "Nie znaleziono stanowiska"}), False,
     "Nie znaleziono stanowiska"),
    ((400, {"type": "x", "status": 400, "instance": "/x", "title": "Błąd walidacji",
            "invalid-params": [{"name": "SearchValue", "reason": "za długie"}]}), False, "SearchValue: za długie"),
    ((429, None), True, "answered 429"),
    ((503, None), True, "answered 503"),
    (requests.ReadTimeout("read timed out"), True, "did not answer"),
])
def test_answers_that_may_succeed_later_are_retried_and_refusals_are_not(scripted: Any, answer: Any, retried: bool,
                                                                         says: str) -> None:
    adapter, _ = scripted(("POST", "/rpw/_search", answer))
    with pytest.raises(DeliveryError) as raised:
        adapter.deliver(envelope())
    assert isinstance(raised.value, PermanentDeliveryError) is not retried
    assert says in str(raised.value)


def test_an_unreadable_rpw_number_sets_the_parcel_aside(scripted: Any) -> None:
    adapter, _ = scripted(NO_ENTRY, ("POST", "/dokumenty/_search", page()),
                          ("POST", "/obiegi", (201, {"listaIdObieg": ["o-1"]})),
                          ("GET", "/obiegi/o-1/dokumenty", page({"idDokumentPrzestrzeni": "d-1", "nazwa": "x"})),
                          ("POST", "/dokumenty/d-1/rpw", (201, {"idPismo": "p-1", "numerRpw": "Wpływ nr 5"})))
    with pytest.raises(PermanentDeliveryError, match="cannot read"):
        adapter.deliver(envelope())


# -- case events from scripted answers ---------------------------------------------------------------

PARCEL = DeliveredParcel("s-1", {"reference": "RPW/8/2026", "rpw": "RPW/8/2026", "numer": "8", "rok": "2026",
                                 "id_pismo": "p-1"})
UNIT = ("GET", "/struktura/u-or", (200, {"id": "u-or", "symbol": "OR", "nazwa": "Wydział Organizacyjny",
                                          "kolejnoscWyswietlania": 1, "komorkiOrganizacyjne": [],
                                          "czyUsunieta": False}))


def entry(**case: Any) -> tuple[str, str, Any]:
    return ("POST", "/rpw/_search", page(
        {"idPismo": "p-other", "numerRPW": "RPW/80/2026", "sprawa": {"idSprawa": "wrong"}},  # matched the text only
        {"idPismo": "p-1", "numerRPW": "RPW/8/2026", "czyUsuniety": False, "sprawa": case},
    ))


def case(code: int) -> tuple[str, str, Any]:
    return ("GET", "/sprawy/s-9", (200, {
        "idSprawa": "s-9", "znak": "OR.0012.3.2026", "statusEnum": code, "idJednostka": "u-or",
        "idStanowiskoProwadzacy": "st-4", "dataRejestracji": "2026-03-03T08:00:00",
        "prowadzacy": {"imie": "Anna", "nazwisko": "Nowak", "pelnaPrezentacja": "Anna Nowak (inspektor)"},
    }))


@pytest.mark.parametrize(("code", "expected"), [
    (1, "in_progress"), (2, "postponed"), (3, "suspended"), (4, "closed"), (5, "resumed"),
    (7, "closed"),  # archived: it was closed
    (6, None),  # re-registered under another znak: nothing to say about this one
])
def test_a_case_is_reported_with_its_znak_handler_and_status(scripted: Any, code: int, expected: str | None) -> None:
    adapter, script = scripted(entry(idSprawa="s-9", znak="OR.0012.3.2026"), case(code), UNIT)
    updates = adapter.fetch_events([PARCEL])
    for update in updates:
        status.check_update(update)
    assert script.asked[0][2] == {"searchValue": "RPW/8/2026", "rok": 2026, "page": 0, "pageSize": 25}
    opened = updates[0]
    assert (opened.event_id, opened.kind, opened.data) == \
        ("sprawa:s-9:znak:OR.0012.3.2026", "case_opened", {"case_reference": "OR.0012.3.2026", "unit": "OR"})
    assert opened.occurred_at == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)  # EZD's local time, in UTC
    assert (updates[1].event_id, updates[1].kind, updates[1].data) == \
        ("pismo:p-1:przydzial:u-or:st-4", "assigned", {"unit": "OR", "handler": "Anna Nowak"})
    statuses = [(u.event_id, u.data) for u in updates if u.kind == "status_changed"]
    assert statuses == ([(f"sprawa:s-9:status:{expected}", {"status": expected})] if expected else [])


def test_an_assignment_is_reported_before_a_case_is_opened(scripted: Any) -> None:
    adapter, script = scripted(
        entry(), ("GET", "/rpw/8/2026/metadane", (200, {"idStanowiskoOdbiorca": "st-4", "idJednostka": "u-or",
                                                        "dataModyfikacji": "2026-03-02T12:00:00Z"})),
        UNIT, ("GET", "/struktura/u-or/stanowiska", page({"idStanowisko": "st-2", "imie": "Jan", "nazwisko": "Kos"},
                                                        {"idStanowisko": "st-4", "imie": "Anna", "nazwisko": "Nowak"})),
    )
    [update] = adapter.fetch_events([PARCEL])
    status.check_update(update)
    # the same id as the case handler's above: the clerk who got the letter and opened the case shows once
    assert (update.event_id, update.kind, update.data) == \
        ("pismo:p-1:przydzial:u-or:st-4", "assigned", {"unit": "OR", "handler": "Anna Nowak"})
    assert update.occurred_at == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_a_parcel_still_at_okienkos_workstation_has_no_events(scripted: Any) -> None:
    adapter, script = scripted(entry(), ("GET", "/rpw/8/2026/metadane",
                                         (200, {"idStanowiskoOdbiorca": SID, "idJednostka": "u-or"})))
    assert adapter.fetch_events([PARCEL]) == []
    assert not [p for _, p in script.made() if p.startswith("/struktura")]


def test_a_parcel_ezd_no_longer_knows_does_not_stop_the_others(scripted: Any) -> None:
    gone = DeliveredParcel("s-0", {"rpw": "RPW/5/2026", "id_pismo": "p-0"})
    adapter, _ = scripted(("POST", "/rpw/_search", (404, {"type": "x", "status": 404, "instance": "/x"})),
                          entry(idSprawa="s-9"), case(4), UNIT)
    updates = adapter.fetch_events([gone, PARCEL])
    assert {u.submission_id for u in updates} == {"s-1"}
    assert ("status_changed", {"status": "closed"}) in [(u.kind, u.data) for u in updates]


def test_a_deleted_case_is_not_reported(scripted: Any) -> None:
    adapter, _ = scripted(entry(idSprawa="s-9"), ("GET", "/sprawy/s-9", (200, {"idSprawa": "s-9", "czyUsuniety": True,
                                                                              "znak": "OR.0012.3.2026"})))
    assert adapter.fetch_events([PARCEL]) == []


# -- settings ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "says"), [
    ({"EZDRP_URL": ""}, "PORTAL_EZDRP_URL must be the http(s) address"),
    ({"EZDRP_URL": "ezd.leszno.pl"}, "PORTAL_EZDRP_URL must be the http(s) address"),
    ({"EZDRP_URL": "https://ezd.leszno.pl/ezdrp/integrator/v2"}, "PORTAL_EZDRP_URL must end before"),
    ({"EZDRP_TOKEN": ""}, "PORTAL_EZDRP_TOKEN is missing"),
    ({"EZDRP_TOKEN": "Bearer abc"}, "without the word Bearer"),
    ({"EZDRP_TOKEN": "abc def"}, "PORTAL_EZDRP_TOKEN has characters"),
    ({"EZDRP_SID": ""}, "PORTAL_EZDRP_SID must be the id"),
    ({"EZDRP_SID": "stanowisko 1"}, "PORTAL_EZDRP_SID must be the id"),
    ({"EZDRP_TIMEOUT": 0}, "PORTAL_EZDRP_TIMEOUT must be a positive number"),
])
def test_missing_or_malformed_settings_are_named(changes: dict[str, Any], says: str) -> None:
    adapter = EzdRpAdapter({**settings("https://ezd.leszno.pl"), **changes})
    with pytest.raises(ValueError, match=re.escape(says)):
        adapter.check_config()
    with pytest.raises(DeliveryError, match=re.escape(says)):  # the poller is told, not crashed
        adapter.fetch_events([PARCEL])


def test_good_settings_pass_and_the_outbox_check_names_missing_ones(app: Flask) -> None:
    EzdRpAdapter(settings("https://ezd.leszno.pl")).check_config()
    config = {**app.config, "DELIVERY_ADAPTERS": "ezdrp", "EZDRP_URL": "", "EZDRP_TOKEN": "", "EZDRP_SID": ""}
    assert outbox.check_routes(config) == ["ezdrp: PORTAL_EZDRP_URL must be the http(s) address of EZD RP, "
                                           "e.g. https://ezd.leszno.pl"]


@pytest.mark.parametrize(("written", "read"), [
    ("RPW/12/2026", ("12", "2026")), ("12/2026", ("12", "2026")), (" rpw / 0012 / 2026 ", ("12", "2026")),
])
def test_rpw_numbers_are_read_as_ezd_writes_them(written: str, read: tuple[str, str]) -> None:
    assert rpw_number(written) == read
