"""The case-events webhook behind its signature: schemathesis's unsigned requests are refused (401), and
correctly signed fuzzed bodies reach the parser, which answers 200 or 400 as described — never a server
error — and whatever it accepted is shown safely afterwards, on the JSON look-up and the public page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.core import NOT_SET

from backoffice_adapter import webhook
from portal.inbox import service as inbox
from portal.status import service as status
from tests.api.description import CHECKS, WEBHOOK_SECRET, schema
from tests.factories import make_submission
from tests.forms.strategies import hostile_text, unescaped_markup

EVENTS = schema["/api/zdarzenia"]["POST"]
LOOKUP = schema["/api/sprawy/sprawdz"]["POST"]
FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
# Each example of these posts a batch and reads the case back twice (JSON and the page).
FUZZ_DEEP = settings(FUZZ, max_examples=25)


@dataclass
class Filed:
    submission_id: str
    receipt_id: str
    code: str


@pytest.fixture
def filed(app: Flask, catalog: None, pki: Path, live_portal: str) -> Iterator[Filed]:
    saved = app.config.get("WEBHOOK_SECRET")
    app.config["WEBHOOK_SECRET"] = WEBHOOK_SECRET
    with app.app_context():
        submission = make_submission(pki)
        yield Filed(submission.id, submission.receipt_id, inbox.access_code(submission.receipt_id))
    app.config["WEBHOOK_SECRET"] = saved


def post_signed(base_url: str, body: bytes, secret: str = WEBHOOK_SECRET) -> requests.Response:
    return requests.post(f"{base_url}/api/zdarzenia", data=body, timeout=30,
                         headers={"Content-Type": "application/json", webhook.HEADER: webhook.sign(secret, body)})


def as_bytes(body: Any) -> bytes:
    """The body as sent: negative cases may be raw bytes already."""
    if body is NOT_SET:
        return b""
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@FUZZ
@given(case=st.one_of(EVENTS.as_strategy(GenerationMode.POSITIVE), EVENTS.as_strategy(GenerationMode.NEGATIVE)))
def test_unsigned_events_are_refused(case: Any, live_portal: str, filed: Filed) -> None:
    response = case.call(base_url=live_portal, timeout=30)
    assert response.status_code == 401, response.text
    case.validate_response(response, checks=CHECKS)


@FUZZ
@given(case=st.one_of(EVENTS.as_strategy(GenerationMode.POSITIVE), EVENTS.as_strategy(GenerationMode.NEGATIVE)),
       wrong=st.sampled_from(["", "x", WEBHOOK_SECRET[:-1] + "t"]))
def test_a_wrong_secret_is_refused_whatever_the_body(case: Any, wrong: str, live_portal: str, filed: Filed) -> None:
    response = post_signed(live_portal, as_bytes(case.body), secret=wrong)
    assert response.status_code == 401, response.text
    case.validate_response(response, checks=CHECKS)


@FUZZ
@given(case=st.one_of(EVENTS.as_strategy(GenerationMode.POSITIVE), EVENTS.as_strategy(GenerationMode.NEGATIVE)))
def test_signed_fuzzed_bodies_get_a_described_answer(case: Any, live_portal: str, filed: Filed) -> None:
    response = post_signed(live_portal, as_bytes(case.body))
    assert response.status_code in (200, 400), response.text
    case.validate_response(response, checks=CHECKS)


OFFSETS = st.timedeltas(-timedelta(hours=23, minutes=59), timedelta(hours=23, minutes=59)).map(timezone)


def moments(first: int = status.EVENT_YEARS[0], last: int = status.EVENT_YEARS[1]) -> st.SearchStrategy[str]:
    """ISO 8601 times with any UTC offset, in the years the portal accepts (or any, for careless ones)."""
    return st.builds(lambda moment, zone: moment.replace(tzinfo=zone).isoformat(),
                     st.datetimes(datetime(first, 1, 1), datetime(last, 12, 31, 23, 59)), OFFSETS)


def well_formed(submission_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """Events the description allows, for the real submission, with any text in their fields (markup,
    control characters, NUL, right-to-left marks) and any time: each must be applied."""
    text = hostile_text(300).filter(lambda value: value.strip() and len(value) <= 2000)

    def for_kind(kind: str) -> st.SearchStrategy[dict[str, Any]]:
        required, optional = status.EVENT_KINDS[kind]
        chosen = st.sets(st.sampled_from(sorted(optional)), min_size=0 if required else 1) if optional else \
            st.just(set())
        data = chosen.flatmap(lambda extra: st.fixed_dictionaries(
            {n: st.sampled_from(status.CASE_STATUSES) if n == "status" else text for n in sorted(required | extra)}))
        return st.fixed_dictionaries({"id": st.uuids().map(str), "submission_id": st.just(submission_id),
                                      "kind": st.just(kind), "occurred_at": moments(), "data": data})

    return st.sampled_from(sorted(status.EVENT_KINDS)).flatmap(for_kind)


def careless(submission_id: str) -> st.SearchStrategy[dict[str, Any]]:
    """A well-formed event with one thing wrong, or made of anything at all."""
    def spoil(item: dict[str, Any], spoiler: tuple[str, Any]) -> dict[str, Any]:
        key, value = spoiler
        if key == "data" and isinstance(value, dict):
            return {**item, "data": {**item["data"], **value}}
        return {**item, key: value}

    spoilers = st.one_of(
        st.tuples(st.sampled_from(["id", "submission_id", "kind", "occurred_at", "data"]),
                  st.one_of(hostile_text(140), st.none(), st.integers(), st.lists(st.integers(), max_size=2))),
        st.tuples(st.just("data"), st.dictionaries(st.sampled_from(["unknown", "status", "rpw", "message"]),
                                                   st.one_of(hostile_text(), st.just(""), st.integers()),
                                                   min_size=1)),
        st.tuples(st.just("occurred_at"), st.datetimes().map(datetime.isoformat)),  # no UTC offset
        st.tuples(st.just("occurred_at"), st.one_of(moments(1, 1999), moments(2100, 9999))),
    )
    return st.one_of(st.builds(spoil, well_formed(submission_id), spoilers),
                     st.dictionaries(hostile_text(20), hostile_text(40), max_size=5))


@FUZZ_DEEP
@given(data=st.data())
def test_signed_well_formed_events_with_any_text_are_applied_and_shown_safely(
        data: st.DataObject, live_portal: str, filed: Filed) -> None:
    batch = data.draw(st.lists(well_formed(filed.submission_id), min_size=1, max_size=3))
    response = post_signed(live_portal, json.dumps({"events": batch}).encode())
    assert response.status_code == 200, response.text
    EVENTS.validate_response(response)
    looked_up = LOOKUP.Case(body={"upo": filed.receipt_id, "kod": filed.code}, media_type="application/json")
    answer = looked_up.call_and_validate(base_url=live_portal, checks=CHECKS, timeout=30)
    assert answer.status_code == 200
    page = public_page(live_portal, filed)
    assert page.status_code == 200
    assert unescaped_markup(page.text) == []


@FUZZ
@given(data=st.data())
def test_a_batch_with_one_careless_event_is_refused_whole(data: st.DataObject, live_portal: str,
                                                          filed: Filed) -> None:
    good = data.draw(st.lists(well_formed(filed.submission_id), max_size=2))
    bad = data.draw(careless(filed.submission_id))
    batch = data.draw(st.permutations([*good, bad]))
    response = post_signed(live_portal, json.dumps({"events": batch}).encode())
    assert response.status_code in (200, 400), response.text  # a spoiler may happen to be valid
    EVENTS.validate_response(response)
    event(f"answered {response.status_code}")


def public_page(base_url: str, filed: Filed) -> requests.Response:
    with requests.Session() as browser:
        form = browser.get(f"{base_url}/sprawdz-sprawe", timeout=30).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form)
        assert token
        return browser.post(f"{base_url}/sprawdz-sprawe", timeout=30,
                            data={"csrf_token": token.group(1), "upo": filed.receipt_id, "kod": filed.code})


@pytest.mark.parametrize(("field", "value"), [("submission_id", "a\x00b"), ("id", "e\x00"),
                                              ("occurred_at", "0001-01-01T00:00:00+23:59"),
                                              ("occurred_at", "9999-12-31T23:59:00-23:59")])
def test_what_the_fuzzing_found_is_refused_not_a_server_error(live_portal: str, filed: Filed, field: str,
                                                              value: str) -> None:
    """NUL in an id broke the look-up on PostgreSQL; years 1 and 9999 overflowed the deadline's arithmetic."""
    item = {"id": "e1", "submission_id": filed.submission_id, "kind": "status_changed",
            "occurred_at": "2026-11-20T10:00:00+01:00", "data": {"status": "suspended"}, field: value}
    response = post_signed(live_portal, json.dumps({"events": [item]}).encode())
    assert response.status_code == 400, response.text
    looked_up = LOOKUP.Case(body={"upo": filed.receipt_id, "kod": filed.code}, media_type="application/json")
    assert looked_up.call_and_validate(base_url=live_portal, checks=CHECKS, timeout=30).status_code == 200
