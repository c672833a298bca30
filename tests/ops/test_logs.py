"""Structured logs: one JSON object per line, the request id on every line of a request, no PESEL, no names."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal.ops import logs
from tests.helpers import JAN, login_resident

Reader = Callable[[], list[dict]]


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict]]]:
    """What the portal's handler has written in JSON so far, parsed line by line."""
    stream = io.StringIO()
    handler = logs.PortalHandler("json", stream)
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("portal.access", "portal.ops.readiness", "portal.test")}
    root.addHandler(handler)
    for name in saved:
        logging.getLogger(name).setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def access_lines(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "portal.access"]


def test_each_request_writes_one_json_access_line_with_the_id_it_returns(client: FlaskClient,
                                                                         log_lines: Reader) -> None:
    health = client.get("/health", headers={"X-Request-ID": "lb-7f3a.91:x_y"})
    missing = client.get("/nie-ma-takiej-strony")
    lines = log_lines()
    first, second = access_lines(lines)
    assert health.headers["X-Request-ID"] == "lb-7f3a.91:x_y" == first["request_id"]
    assert first["method"] == "GET" and first["path"] == "/health" and first["endpoint"] == "pages.health"
    assert first["status"] == 200 and first["actor"] == "anonymous" and first["level"] == "INFO"
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert datetime.fromisoformat(first["time"]).utcoffset().total_seconds() == 0
    # No id given: one is made, returned and logged.
    assert len(missing.headers["X-Request-ID"]) == 32 and second["request_id"] == missing.headers["X-Request-ID"]
    assert second["status"] == 404 and second["endpoint"] == "unmatched"


@pytest.mark.parametrize("given", ["x" * 65, "<script>alert(1)</script>", "-starts-with-a-dash", "id with spaces"])
def test_an_unsafe_or_long_request_id_is_replaced(client: FlaskClient, given: str) -> None:
    answered = client.get("/health", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert answered != given and len(answered) == 32 and answered.isalnum()


def test_lines_logged_while_serving_carry_the_request_id(other_app, tmp_path: Path, log_lines: Reader) -> None:
    # (An application made while the portal's handler is installed sets that handler's format: JSON here.)
    broken = other_app(SEAL_KEY=str(tmp_path / "no-such.key"), LOG_FORMAT="json")
    response = broken.test_client().get("/ready", headers={"X-Request-ID": "probe-42"})
    assert response.status_code == 503
    lines = log_lines()
    warning = next(line for line in lines if line["logger"] == "portal.ops.readiness")
    assert warning["level"] == "WARNING" and warning["request_id"] == "probe-42" and "seal" in warning["message"]
    assert access_lines(lines)[-1]["request_id"] == "probe-42"


def test_a_resident_is_logged_as_a_kind_never_by_pesel_or_name(client: FlaskClient, catalog: None,
                                                              log_lines: Reader) -> None:
    login_resident(client)
    assert client.get("/moje-sprawy").status_code == 200
    logging.getLogger("portal.test").warning("careless message about %s", JAN)
    lines = log_lines()
    written = json.dumps(lines, ensure_ascii=False)
    cases = [line for line in access_lines(lines) if line["path"] == "/moje-sprawy"]
    assert cases and cases[0]["actor"] == "resident"
    assert JAN not in written and "Kowalski" not in written
    assert lines[-1]["message"] == "careless message about [PESEL?]"


def test_a_traceback_stays_one_line(log_lines: Reader) -> None:
    try:
        raise ValueError("boom 92051702482")
    except ValueError:
        logging.getLogger("portal.test").exception("failed")
    line = log_lines()[-1]
    assert line["message"] == "failed" and "ValueError: boom [PESEL?]" in line["exception"]


def test_the_format_follows_the_setting(app: Flask) -> None:
    assert logs.resolve_format({"LOG_FORMAT": "auto", "BASE_URL": "https://e.leszno.pl"}) == "json"
    assert logs.resolve_format({"LOG_FORMAT": "auto", "BASE_URL": "http://127.0.0.1:5000"}) == "text"
    assert logs.resolve_format({"LOG_FORMAT": "JSON", "BASE_URL": "http://127.0.0.1:5000"}) == "json"
    assert logs.resolve_format({"LOG_FORMAT": "text", "BASE_URL": "https://e.leszno.pl"}) == "text"
    with pytest.raises(ValueError, match="PORTAL_LOG_FORMAT"):
        logs.resolve_format({"LOG_FORMAT": "xml"})
    record = logging.LogRecord("portal.x", logging.INFO, __file__, 1, "plain %s", ("words",), None)
    record.request_id = "abc"
    assert logs.TextFormatter().format(record).endswith("INFO portal.x [abc]: plain words")
