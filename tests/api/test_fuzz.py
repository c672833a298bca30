"""Schemathesis fuzzes every operation in portal/api/openapi.yaml against the portal over real HTTP:
valid and invalid requests alike must never get a server error, and each answer must have a status code,
a media type and a body the description promises."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from flask import Flask
from hypothesis import HealthCheck, settings

from tests.api.description import CHECKS, WEBHOOK_SECRET, schema


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


@pytest.fixture
def webhook_secret(app: Flask) -> Iterator[str]:
    saved = app.config.get("WEBHOOK_SECRET")
    app.config["WEBHOOK_SECRET"] = WEBHOOK_SECRET
    yield WEBHOOK_SECRET
    app.config["WEBHOOK_SECRET"] = saved


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_answers_as_described(case: Any, live_portal: str, http: requests.Session,
                                              webhook_secret: str) -> None:
    response = case.call_and_validate(base_url=live_portal, session=http, checks=CHECKS, timeout=30)
    if (case.operation.path, case.method.upper()) == ("/api/zdarzenia", "POST"):  # unsigned: always refused
        assert response.status_code == 401, response.text
