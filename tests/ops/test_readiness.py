"""/ready: 200 only when the database answers at the code's migration head, the document store takes writes
and the seal loads; otherwise 503 naming what failed. /health stays a bare liveness check."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from portal.config import normalise_database_url
from tests.faults import SmallVolume


@pytest.fixture
def empty_database_url(app_config: dict, tmp_path: Path) -> Iterator[str]:
    """A database that exists and answers, with no tables: not migrated."""
    url = app_config["DATABASE_URL"]
    if url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    schema = f"okienko_empty_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_database_url(url.split("?")[0]), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{url.split('?')[0]}?options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def ready(client: FlaskClient) -> tuple[int, dict]:
    response = client.get("/ready")
    assert response.headers["Cache-Control"] == "no-store"
    return response.status_code, response.get_json()


def test_a_working_portal_is_ready(client: FlaskClient) -> None:
    status, body = ready(client)
    assert status == 200, body
    assert body == {"status": "ready", "failed": [],
                    "checks": {"database": "ok", "migrations": "ok", "blob_store": "ok", "seal": "ok"}}


def test_a_filesystem_store_that_takes_writes_is_ready(other_app, tmp_path: Path) -> None:
    status, body = ready(other_app(BLOB_STORE=f"filesystem:{tmp_path / 'blobs'}").test_client())
    assert status == 200, body


def test_an_unreachable_database_is_not_ready_but_alive(other_app, app_config: dict, tmp_path: Path) -> None:
    if app_config["DATABASE_URL"].startswith("sqlite"):
        wrong = f"sqlite:///{tmp_path / 'no-such-folder' / 'okienko.db'}"
    else:
        wrong = "postgresql://postgres@127.0.0.1:9/okienko?connect_timeout=2"
    status, body = ready(other_app(DATABASE_URL=wrong).test_client())
    assert status == 503
    assert body["status"] == "not ready" and body["failed"] == ["database", "migrations"]
    assert body["checks"]["blob_store"] == "ok" and body["checks"]["seal"] == "ok"
    assert "no-such-folder" not in str(body) and "127.0.0.1" not in str(body)  # reasons go to the log only


def test_a_database_not_migrated_to_head_is_not_ready(other_app, empty_database_url: str) -> None:
    status, body = ready(other_app(DATABASE_URL=empty_database_url).test_client())
    assert status == 503 and body["failed"] == ["migrations"]


def test_an_unwritable_document_store_is_not_ready(other_app, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    client = other_app(BLOB_STORE=f"filesystem:{blocker / 'blobs'}").test_client()
    status, body = ready(client)
    assert status == 503 and body["failed"] == ["blob_store"]
    assert client.get("/health").status_code == 200  # alive: restarting it would not help


@pytest.mark.parametrize("small_volume", [4096], indirect=True)
def test_a_document_store_on_a_full_disk_is_not_ready(other_app, small_volume: SmallVolume,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    client = other_app(BLOB_STORE=f"filesystem:{small_volume.path}/blobs", BLOB_STORE_MIN_FREE_MB=1).test_client()
    assert ready(client)[0] == 200
    small_volume.fill()  # the folder is as writable as ever; the disk takes nothing
    status, body = ready(client)
    assert status == 503 and body["failed"] == ["blob_store"]
    assert body["hints"] == {"blob_store": "less free space than PORTAL_BLOB_STORE_MIN_FREE_MB (1 MB)"}
    assert str(small_volume.path) not in str(body)  # the path goes to the log only
    assert any("MB free on the volume of" in r.getMessage() and str(small_volume.path) in r.getMessage()
               for r in caplog.records)
    small_volume.release()
    assert ready(client)[0] == 200


def test_a_missing_or_mismatched_seal_is_not_ready(other_app, pki: Path, tmp_path: Path) -> None:
    status, body = ready(other_app(SEAL_KEY=str(tmp_path / "missing.key")).test_client())
    assert status == 503 and body["failed"] == ["seal"]
    status, body = ready(other_app(SEAL_KEY=str(pki / "tp-seal.key")).test_client())  # another certificate's key
    assert status == 503 and body["failed"] == ["seal"]


def test_a_database_behind_the_code_is_not_ready_one_ahead_is(other_app, empty_database_url: str) -> None:
    """Upgrades migrate first, then deploy: nodes still on the old code must stay in the pool meanwhile."""
    from flask_migrate import upgrade

    from portal import MIGRATIONS
    from portal.extensions import db
    from portal.ops.readiness import _revisions

    portal = other_app(DATABASE_URL=empty_database_url)
    with portal.app_context():
        upgrade()
        revisions = _revisions(MIGRATIONS)
        older = sorted(revisions.known - revisions.heads)[0]
        for stamped, expected in ((older, 503), ("f0f0f0f0newer", 200)):
            db.session.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": stamped})
            db.session.commit()
            status, body = ready(portal.test_client())
            assert status == expected, (stamped, body)
            assert body["failed"] == ([] if expected == 200 else ["migrations"])
