"""Nothing secret or personal in the logs: a whole case — login, form, signing, filing, receipt, public
look-up, desk, letter, case events — runs with the portal at DEBUG and every logger's records captured
(the portal's, werkzeug's, urllib3's, zeep's, authlib's…), then the captured text is searched for the
residents' PESEL numbers, the keys and client secrets, session cookies, access codes and tokens.

Records are captured as they are made, before the portal's formatter scrubs PESEL-shaped numbers
(portal/ops/logs.py): that scrubbing is the last line of defence, not a reason to log them.
"""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.json.tag import TaggedJSONSerializer
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.serving import make_server

from backoffice_adapter import outbox, webhook
from portal.desk.models import DeskCase, IncomingParcel, OutgoingLetter
from portal.extensions import db
from portal.inbox import service as inbox
from portal.inbox.models import Submission
from tests.conftest import free_port, wait_for
from tests.helpers import (
    ANNA,
    JAN,
    csrf_token,
    login_clerk,
    login_resident,
    session_row,
    sign_with_trusted_profile,
    start_letter,
)
from tests.security.conftest import signed_pdf

SECRETS = {"WEBHOOK_SECRET": "webhook-secret-5f2c8e1a9b", "EZDRP_TOKEN": "ezd-bearer-token-77d1c0ffee",
           "SMTP_PASSWORD": "smtp-password-0c9a77"}


PLAIN_RECORD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)


class Everything(logging.Handler):
    """Every record of every logger, as text, with its exception and its extra fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        extra = {k: v for k, v in vars(record).items() if k not in PLAIN_RECORD}
        self.lines.append(self.format(record) + (" " + json.dumps(extra, default=str) if extra else ""))


@pytest.fixture
def captured() -> Iterator[Everything]:
    """DEBUG on the root; loggers the portal quietens on purpose stay as the portal sets them."""
    root = logging.getLogger()
    handler = Everything()
    saved = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)


def pesel_patterns(pesel: str) -> list[re.Pattern[str]]:
    """The number as typed, and as people format it (groups split by spaces, dashes or dots)."""
    return [re.compile(pesel), re.compile(r"[\s.\-]?".join(pesel))]


def session_values(client: FlaskClient, app: Flask) -> list[str]:
    """The session cookie — the session's id, a bearer credential — and what its stored session holds that
    is secret (the CSRF token). The OpenID id_token is not kept anywhere (tests/security/test_sessions.py)."""
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    if cookie is None:
        return []
    values = [cookie.value]
    row = session_row(app, client)
    if row is not None:
        data = TaggedJSONSerializer().loads(row.data)
        assert "id_token" not in data
        values += [str(data[k]) for k in ("csrf_token",) if data.get(k)]
    return values


def test_a_whole_case_leaves_no_secret_and_no_pesel_in_the_logs(other_app: Any, catalog: None, pki: Path,
                                                               captured: Everything) -> None:
    app = other_app(LOG_LEVEL="DEBUG", WEBHOOK_SECRET=SECRETS["WEBHOOK_SECRET"], EZDRP_TOKEN=SECRETS["EZDRP_TOKEN"],
                    SMTP_PASSWORD=SECRETS["SMTP_PASSWORD"])
    secrets: list[str] = [str(app.config[k]) for k in ("SECRET_KEY", "PII_KEY", "RESIDENT_OIDC_CLIENT_SECRET",
                                                       "CLERK_OIDC_CLIENT_SECRET")] + list(SECRETS.values())

    # The resident signs in, fills in the letter, signs with the trusted profile and files it.
    resident = app.test_client()
    browser = login_resident(resident, JAN)
    secrets += session_values(resident, app)
    draft_id = start_letter(resident, {"tytul": "Wniosek o naprawę chodnika"})
    filed = sign_with_trusted_profile(resident, browser, draft_id)
    assert filed.status_code == 302, filed.get_data(as_text=True)
    with app.app_context():
        submission = db.session.scalar(select(Submission))
        submission_id, receipt_id = submission.id, submission.receipt_id
        code = inbox.access_code(receipt_id)
    secrets.append(code)
    secrets.append(code.replace("-", ""))
    upo = resident.get(f"/moje-sprawy/{submission_id}/upo.xml").data
    assert resident.get(f"/moje-sprawy/{submission_id}/upo.pdf").status_code == 200

    # Anyone holding the receipt checks it and looks the case up — over real HTTP, so the server logs too.
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/health")
        # The forms post the code (the GET links that carry it in the address are a known limit: docs/security.md).
        visitor = requests.Session()
        page = visitor.get(f"{url}/sprawdz-sprawe", timeout=10).text
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        assert visitor.post(f"{url}/sprawdz-sprawe", data={"csrf_token": token, "upo": receipt_id, "kod": code},
                            timeout=10).ok
        assert visitor.post(f"{url}/sprawdz-sprawe", data={"csrf_token": token, "upo": receipt_id, "kod": "X" + code},
                            timeout=10).status_code == 404
        assert requests.post(f"{url}/api/sprawy/sprawdz", json={"upo": receipt_id, "kod": code}, timeout=10).ok
        assert requests.post(f"{url}/api/upo/weryfikacja", files={"upo": ("upo.xml", upo)}, timeout=30).ok
    finally:
        server.shutdown()

    # The office: delivery to the desk, the case, a letter the resident opens; a case event from the back office.
    with app.app_context():
        while outbox.run_once():
            pass
        parcel_id = db.session.scalar(select(IncomingParcel.id))
    clerk = app.test_client()
    login_clerk(clerk, "e.kaczmarek")
    secrets += session_values(clerk, app)
    assert clerk.get(f"/urzad/rpw/{parcel_id}").status_code == 200
    assert clerk.post(f"/urzad/rpw/{parcel_id}/sprawa", data={
        "csrf_token": csrf_token(clerk, f"/urzad/rpw/{parcel_id}"), "case-title": "Chodnik"}).status_code == 302
    with app.app_context():
        case_id = db.session.scalar(select(DeskCase.id))
    assert clerk.post(f"/urzad/sprawy/{case_id}/pismo", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(clerk, f"/urzad/sprawy/{case_id}"), "letter-kind": "answer",
        "letter-title": "Odpowiedź", "letter-file": (io.BytesIO(signed_pdf(pki)), "odpowiedz.pdf")}).status_code == 302
    with app.app_context():
        letter_id = db.session.scalar(select(OutgoingLetter.id))
    assert resident.get(f"/moje-sprawy/{submission_id}/pisma/{letter_id}").status_code == 200
    assert clerk.get(f"/urzad/sprawy/{case_id}/akta.zip").status_code == 200
    body = json.dumps({"events": [{"id": "ev-1", "submission_id": submission_id, "kind": "status_changed",
                                   "occurred_at": "2026-11-25T10:00:00+01:00",
                                   "data": {"status": "in_progress"}}]}).encode()
    event = resident.post("/api/zdarzenia", data=body, content_type="application/json",
                          headers={webhook.HEADER: webhook.sign(SECRETS["WEBHOOK_SECRET"], body, int(time.time()))})
    assert event.status_code in (200, 400), event.get_data(as_text=True)
    refused = resident.post("/api/zdarzenia", data=body, content_type="application/json",
                            headers={webhook.HEADER: f"t={int(time.time())},v1={'0' * 64}"})
    assert refused.status_code == 401

    # A second resident signs in and out; a failed login is logged (and audited) too.
    other = app.test_client()
    login_resident(other, ANNA)
    secrets += session_values(other, app)
    assert other.post("/wyloguj", data={"csrf_token": csrf_token(other, "/konto")}).status_code == 302
    assert other.get("/logowanie/powrot?error=access_denied&state=x").status_code == 400

    # The test's own HTTP client logs through urllib3 too; its lines name the test server's port. The portal's
    # outgoing calls (the providers, TpSigning5, the TSA) go elsewhere and stay in.
    lines = [line for line in captured.lines
             if not (line.split(" ", 2)[1].startswith("urllib3") and f":{port}" in line)]
    text = "\n".join(lines)
    assert len(captured.lines) > 50, "the flow logged almost nothing: is DEBUG capture working?"
    leaks = [f"PESEL {pesel} ({pattern.pattern})" for pesel in (JAN, ANNA) for pattern in pesel_patterns(pesel)
             if pattern.search(text)]
    leaks += [f"secret {value[:6]}…" for value in set(secrets) if value and value in text]
    assert leaks == [], [line for line in lines if any(v and v in line for v in secrets)][:5]
