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
from portal import chores
from portal.db_types import utcnow
from portal.extensions import db
from tests.backoffice_adapter.office import OfficeEndpoint
from tests.factories import make_resident, make_submission
from tests.faults import PrivatePostgres, environment, migrated_portal
from tests.helpers import login_clerk, messages

REPO = Path(__file__).resolve().parents[2]
OKIENKO = Path(sys.executable).parent / "okienko"


def start_worker(config: dict[str, Any], log: Path, *options: str) -> subprocess.Popen[bytes]:
    """`okienko outbox run`, the real command, with the test app's settings in its environment."""
    with log.open("wb") as output:
        return subprocess.Popen([str(OKIENKO), "outbox", "run", "--poll", "0.2", *options], env=environment(config),
                                cwd=REPO, stdout=output, stderr=subprocess.STDOUT)


def worker_metric(port: int, name: str) -> float | None:
    import requests

    try:
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
    except requests.RequestException:
        return None
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(5)


def wait_until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


@pytest.fixture
def portal_on_private_database(private_postgres: PrivatePostgres, other_app: Any, office: OfficeEndpoint) -> Flask:
    """A portal whose database is the private cluster, which the test may stop; deliveries go to `office`."""
    return migrated_portal(other_app, private_postgres.new_database(), DELIVERY_ADAPTERS="webhook",
                           WEBHOOK_URL=office.url, WEBHOOK_SECRET=office.secret, LOG_LEVEL="INFO")


def _state(portal: Flask) -> tuple[str, int] | None:
    with portal.app_context():
        try:
            message = db.session.scalar(select(OutboxMessage))
            return (message.state, message.attempts) if message else None
        finally:
            db.session.remove()


def test_an_idle_worker_outlives_database_restarts_and_delivers_afterwards(
        portal_on_private_database: Flask, private_postgres: PrivatePostgres, office: OfficeEndpoint, pki: Path,
        tmp_path: Path) -> None:
    from tests.conftest import free_port

    portal = portal_on_private_database
    log = tmp_path / "worker.log"
    port = free_port()
    worker = start_worker(portal.config, log, "--metrics-port", str(port))
    try:
        wait_until(lambda: worker_metric(port, "okienko_outbox_worker_database_up") == 1, 20, "the worker is up")
        time.sleep(1)  # idle, polling
        for outage in (4, 6):
            private_postgres.stop("fast")  # an administrator restarts PostgreSQL: every connection is cut
            wait_until(lambda: worker_metric(port, "okienko_outbox_worker_database_up") == 0, outage,
                       "the worker reports the outage")
            time.sleep(outage)
            assert worker.poll() is None, f"the worker exited ({worker.returncode}):\n{log.read_text()}"
            private_postgres.start()
            wait_until(lambda: worker_metric(port, "okienko_outbox_worker_database_up") == 1, 15,
                       "the worker reports the database back")
        assert worker_metric(port, "okienko_outbox_worker_database_outages_total") == 2
        with portal.app_context():
            submission_id = make_submission(pki).id
            db.session.remove()
        wait_until(lambda: _state(portal) == (SUCCESS, 1), 30, "the submission filed after the outages is delivered")
        assert [p["parcel"]["submission_id"] for p in office.parcels.values()] == [submission_id]
        assert worker.poll() is None
    finally:
        stop_worker(worker)
    text = log.read_text()
    assert "the database is unavailable" in text and "the database is back" in text, text
    assert worker.returncode == 0, text  # SIGTERM: a clean stop


def test_a_delivery_held_when_the_database_went_down_goes_out_when_it_returns(
        portal_on_private_database: Flask, private_postgres: PrivatePostgres, office: OfficeEndpoint, pki: Path,
        tmp_path: Path) -> None:
    portal = portal_on_private_database
    assert int(portal.config["OUTBOX_LEASE_SECONDS"]) == 300
    with portal.app_context():
        make_submission(pki)
        db.session.remove()
    office.mode, office.slow_seconds = "slow", 3.0
    log = tmp_path / "worker.log"
    worker = start_worker(portal.config, log)
    try:
        assert office.arrived.wait(30), log.read_text()
        # The office is answering; PostgreSQL goes down before the worker can record the outcome.
        private_postgres.stop("fast")
        time.sleep(5)
        assert worker.poll() is None, f"the worker exited ({worker.returncode}):\n{log.read_text()}"
        private_postgres.start()
        office.mode = "ok"
        # Not after the 300 s lease: the worker lets go of what it held and delivers it again (idempotent).
        wait_until(lambda: (_state(portal) or ("", 0))[0] == SUCCESS, 30, "the held delivery is completed")
        assert len(office.parcels) == 1 and office.requests == 2
    finally:
        stop_worker(worker)


def test_a_killed_worker_has_counted_only_the_attempt_it_made(app: Flask, app_config: dict[str, Any],
                                                             catalog: None, pki: Path, office: OfficeEndpoint,
                                                             tmp_path: Path) -> None:
    with app.app_context():
        resident = make_resident()
        for _ in range(5):
            make_submission(pki, resident)
    office.mode, office.slow_seconds = "slow", 10.0
    config = {**app_config, "DELIVERY_ADAPTERS": "webhook", "WEBHOOK_URL": office.url,
              "WEBHOOK_SECRET": office.secret}
    log = tmp_path / "worker.log"
    worker = start_worker(config, log)
    try:
        assert office.arrived.wait(30), log.read_text()
    finally:
        os.kill(worker.pid, signal.SIGKILL)  # a crash in the middle of the first of the five
        worker.wait(10)
    with app.app_context():
        attempts = sorted(m.attempts for m in db.session.scalars(select(OutboxMessage)))
    # The four the worker had taken but never tried are as they were: a worker crashing again and again
    # cannot use up their attempts and set them aside as dead.
    assert attempts == [0, 0, 0, 0, 1]


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
        assert chores.alert_stuck() == 1 and chores.alert_stuck() == 0
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
