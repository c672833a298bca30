"""Dispatch throughput: outbox rows delivered to the webhook adapter by 1 and 2 `okienko outbox run`
workers on PostgreSQL, against a local receiver (bench/office_receiver.py).

One real submission is accepted (signed, stored, receipted); the others are copies of its row under
new ids, sharing its document and receipt, so the run measures the dispatcher — claiming, building
the parcel, the signed HTTP POST, recording the outcome — and not signing.

Target (issue 7): ≥ 200 deliveries/s with 2 workers.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

from bench.report import write_section
from bench.scratch import REPO, free_port, scratch_office

NAME = "Dispatching to the back office"
COUNT = int(os.environ.get("BENCH_DISPATCH_COUNT", 3000))


def _prepare(env: dict[str, str], pki: Path) -> None:
    """One accepted submission, as the template of the copies."""
    os.environ.update(env)
    from portal import create_app
    from portal.extensions import db
    from portal.forms import service as forms
    from tests.factories import make_submission

    app = create_app()
    with app.app_context():
        forms.load_catalog(REPO / "catalog")
        make_submission(pki)
        db.session.remove()
        db.engine.dispose()


def _queue(connection: object, count: int) -> None:
    """`count` copies of the template submission, each owed one webhook delivery."""
    from sqlalchemy import text

    template = connection.execute(text("SELECT * FROM submission LIMIT 1")).mappings().one()  # type: ignore[attr-defined]
    rows = []
    for number in range(count):
        rows.append({**template, "id": str(uuid.uuid4()), "draft_id": str(uuid.uuid4()),
                     "receipt_id": f"OK-BENCH-{uuid.uuid4().hex[:12]}-{number}"})
    columns = ", ".join(template.keys())
    values = ", ".join(f":{key}" for key in template)
    from sqlalchemy import JSON, bindparam

    statement = text(f"INSERT INTO submission ({columns}) VALUES ({values})").bindparams(  # noqa: S608
        bindparam("verdict", type_=JSON), bindparam("attachments", type_=JSON))
    connection.execute(statement, rows)  # type: ignore[attr-defined]
    connection.execute(text(  # type: ignore[attr-defined]
        "INSERT INTO outbox_message (submission_id, adapter, state, attempts, next_attempt_at, created_at, is_copy) "
        "SELECT id, 'webhook', 'pending', 0, now(), now(), false FROM submission "
        "WHERE id NOT IN (SELECT submission_id FROM outbox_message)"))


def _run_workers(env: dict[str, str], workers: int, admin: object, count: int) -> tuple[float, int]:
    from sqlalchemy import text

    with admin.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(text("DELETE FROM outbox_message"))
        connection.execute(text("DELETE FROM case_event WHERE kind <> 'filed'"))
        connection.execute(text("DELETE FROM submission WHERE receipt_id LIKE 'OK-BENCH-%'"))
        _queue(connection, count)
    okienko = str(Path(sys.executable).with_name("okienko"))
    started = time.perf_counter()
    processes = [subprocess.Popen([okienko, "outbox", "run", "--poll", "0.05"], env=env, cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        while True:
            with admin.connect() as connection:  # type: ignore[attr-defined]
                waiting = connection.execute(text(
                    "SELECT count(*) FROM outbox_message WHERE state <> 'success'")).scalar_one()
            if waiting == 0 or time.perf_counter() - started > 600:
                break
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.terminate()
            process.wait(20)
    with admin.connect() as connection:  # type: ignore[attr-defined]
        delivered, first, last = connection.execute(text(
            "SELECT count(*), min(delivered_at), max(delivered_at) FROM outbox_message WHERE state = 'success'")).one()
    # From the first delivery to the last: the workers' start-up (imports, the app) is not dispatching.
    return (last - first).total_seconds() if delivered > 1 else elapsed, int(delivered)


def run(count: int = COUNT) -> str:
    from sqlalchemy import create_engine

    receiver_port = free_port()
    secret = secrets.token_hex(32)
    receiver = subprocess.Popen([sys.executable, "-m", "bench.office_receiver", str(receiver_port), secret], cwd=REPO)
    results: dict[int, tuple[float, int]] = {}
    try:
        with scratch_office(PORTAL_DELIVERY_ADAPTERS="webhook",
                            PORTAL_WEBHOOK_URL=f"http://127.0.0.1:{receiver_port}/parcels",
                            PORTAL_WEBHOOK_SECRET=secret, PORTAL_EVENTS_POLL_SECONDS="3600") as office:
            scoped = create_engine(office.url)
            try:
                _prepare(office.env, office.pki)
                for workers in (1, 2):
                    results[workers] = _run_workers(office.env, workers, scoped, count)
            finally:
                scoped.dispose()
    finally:
        receiver.terminate()
        receiver.wait(10)
    lines = [f"| {workers} | {delivered} | {elapsed:.1f} | {delivered / elapsed:.0f} |"
             for workers, (elapsed, delivered) in results.items()]
    body = (f"`okienko outbox run` workers on PostgreSQL delivering {count} parcels (a ~5 KB signed document and "
            "its UPO, base64 in a signed JSON body) to the `webhook` adapter; the receiver (aiohttp, one process) "
            "checks each signature. Everything runs on this machine; the time runs from the first delivery to "
            "the last.\n\n"
            "| Workers | Delivered | Seconds | Deliveries/s |\n| --- | --- | --- | --- |\n" + "\n".join(lines)
            + "\n\nTarget: ≥ 200 deliveries/s with 2 workers.")
    write_section(NAME, body)
    return body
