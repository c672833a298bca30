from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from backoffice_adapter import outbox
from backoffice_adapter.models import DEAD, FAILED, IN_PROGRESS, PENDING, SUCCESS, OutboxMessage
from portal.db_types import utcnow
from portal.extensions import db
from tests.backoffice_adapter.office import OfficeEndpoint
from tests.factories import make_resident, make_submission
from tests.helpers import login_clerk, messages

REPO = Path(__file__).resolve().parents[2]


def test_two_workers_racing_deliver_each_submission_once(app: Flask, catalog: None, pki: Path,
                                                         office: OfficeEndpoint) -> None:
    if "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
        pytest.skip("SKIP LOCKED and several workers are a PostgreSQL matter; on SQLite one worker runs")
    with app.app_context():
        resident = make_resident()
        for _ in range(24):
            make_submission(pki, resident)
    start = threading.Barrier(2)

    def worker() -> None:
        with app.app_context():
            start.wait()
            while outbox.run_once(limit=3):
                pass
            db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert office.requests == 24 and len(office.parcels) == 24
    with app.app_context():
        assert {m.state for m in db.session.scalars(select(OutboxMessage))} == {SUCCESS}
        assert all(m.attempts == 1 for m in db.session.scalars(select(OutboxMessage)))


def test_a_worker_killed_mid_delivery_is_finished_by_another(app: Flask, app_config: dict[str, Any], catalog: None,
                                                             pki: Path, office: OfficeEndpoint) -> None:
    with app.app_context():
        submission_id = make_submission(pki).id
    office.mode, office.slow_seconds = "slow", 4.0
    config = {**app_config, "DELIVERY_ADAPTERS": "webhook", "WEBHOOK_URL": office.url,
              "WEBHOOK_SECRET": office.secret, "OUTBOX_LEASE_SECONDS": 2}
    script = textwrap.dedent("""
        import json, sys
        from portal import create_app
        from backoffice_adapter import outbox
        app = create_app(json.loads(sys.stdin.readline()))
        with app.app_context():
            outbox.run_forever(0.2)
    """)
    worker = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, text=True, cwd=REPO,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert worker.stdin is not None
        worker.stdin.write(json.dumps(config) + "\n")
        worker.stdin.close()
        assert office.arrived.wait(30), "the worker never called the office"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    office.mode = "ok"
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage))
        assert message.state == IN_PROGRESS and message.submission_id == submission_id
        assert outbox.run_once() == 0  # the dead worker's lease still holds
        time.sleep(2.2)
        assert outbox.run_once() == 1
        db.session.refresh(message)
        assert message.state == SUCCESS and message.attempts == 2
    assert office.requests == 2 and len(office.parcels) == 1


def test_stuck_deliveries_are_reported_once_and_resent_by_an_administrator(
        app: Flask, client: FlaskClient, catalog: None, pki: Path, office: OfficeEndpoint, configure: Any,
        smtp: Path) -> None:
    configure(OUTBOX_ALERT_TO="it@leszno.pl", OUTBOX_ALERT_MINUTES=30)
    with app.app_context():
        make_submission(pki)
        office.mode = "refuse"
        outbox.run_once()
        assert outbox.alert_stuck() == 1 and outbox.alert_stuck() == 0
        [alert] = messages(smtp)
        assert alert["To"] == "it@leszno.pl" and "422" in alert.get_payload(decode=True).decode()
        message = db.session.scalar(select(OutboxMessage))
        assert message.state == DEAD and message.alerted_at is not None
        message_id = message.id
    login_clerk(client, "m.wojcik")
    assert client.get("/urzad/admin/przekazania").status_code == 403
    client.get("/urzad/wyloguj")
    with client.session_transaction() as session:
        session.clear()
    login_clerk(client, "admin")
    page = client.get("/urzad/admin/przekazania?stan=dead").get_data(as_text=True)
    assert "422" in page and "Wyślij ponownie" in page
    from tests.helpers import csrf_token

    token = csrf_token(client, "/urzad/admin/przekazania")
    answer = client.post(f"/urzad/admin/przekazania/{message_id}/ponow", data={"csrf_token": token})
    assert answer.status_code == 302
    office.mode = "ok"
    with app.app_context():
        message = db.session.get(OutboxMessage, message_id)
        assert message.state == PENDING and message.attempts == 0 and message.alerted_at is None
        assert outbox.run_once() == 1 and len(office.parcels) == 1


def test_a_delivery_waiting_too_long_is_stuck_even_before_it_dies(ctx: None, catalog: None, pki: Path,
                                                                  office: OfficeEndpoint, configure: Any) -> None:
    configure(OUTBOX_ALERT_MINUTES=30)
    make_submission(pki)
    message = db.session.scalar(select(OutboxMessage))
    assert outbox.stuck() == []
    message.state, message.created_at = FAILED, utcnow() - timedelta(minutes=31)
    db.session.commit()
    assert [m.id for m in outbox.stuck()] == [message.id]
    assert outbox.status()["oldest_waiting_seconds"] >= 31 * 60
