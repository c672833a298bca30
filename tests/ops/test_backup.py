"""Backup and restore, as docs/operations.md tells the administrator to do it: `pg_dump -Fc`, a copy of the
document store, the instance keys; restored into a brand-new database, the audit chain and every receipt
still verify, and a document changed after the backup is caught."""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url

from backoffice_adapter import outbox
from portal.auth import pii
from portal.auth.models import Resident
from portal.extensions import db
from portal.inbox.models import Submission
from portal.storage.service import FilesystemStore
from tests.factories import make_resident, make_submission
from tests.helpers import ANNA, JAN

OKIENKO = str(Path(sys.executable).with_name("okienko"))


def plain(url: str) -> str:
    """A URL the PostgreSQL tools understand (no SQLAlchemy driver name)."""
    return url.replace("postgresql+psycopg://", "postgresql://")


@pytest.fixture
def pg(app_config: dict) -> tuple[str, str]:
    """The test database's server URL and this session's schema (conftest puts it in search_path)."""
    url = app_config["DATABASE_URL"]
    if url.startswith("sqlite"):
        pytest.skip("pg_dump and pg_restore are PostgreSQL's; with SQLite (make run) the backup is a copy of the "
                    "file (docs/operations.md)")
    base, _, options = url.partition("?")
    return plain(base), options.split("search_path%3D", 1)[1].split("&")[0]


@pytest.fixture
def new_database(pg: tuple[str, str]) -> Iterator[str]:
    """A brand-new, empty database on the same server, dropped afterwards."""
    base, _ = pg
    name = f"okienko_restore_{secrets.token_hex(4)}"
    admin = create_engine(base.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield make_url(base).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def okienko(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OKIENKO, *args], env=env, capture_output=True, text=True, timeout=120)


def test_a_restored_backup_passes_the_audit_and_every_receipt_still_verifies(
        app: Flask, app_config: dict, other_app, catalog: None, pki: Path, tmp_path: Path,
        pg: tuple[str, str], new_database: str) -> None:
    base, schema = pg
    blobs, restored_blobs, dump = tmp_path / "blobs", tmp_path / "restored-blobs", tmp_path / "okienko.dump"
    live = other_app(BLOB_STORE=f"filesystem:{blobs}")
    with live.app_context():
        jan = make_resident(JAN)
        anna = make_resident(ANNA)
        filed = [make_submission(pki, jan), make_submission(pki, jan), make_submission(pki, anna)]
        assert outbox.run_once() == 3  # delivered to the desk: the case events are in the backup too
        receipts = {s.receipt_id: (s.id, s.document_sha256) for s in filed}
        assert all(s.upo_sha256 for s in filed)

    # The backup: the database in PostgreSQL's custom format, the document store copied as files.
    subprocess.run(["pg_dump", "-Fc", "--no-owner", f"--schema={schema}", f"--dbname={base}", f"--file={dump}"],
                   check=True, capture_output=True)
    subprocess.run(["cp", "-a", f"{blobs}/.", str(restored_blobs)], check=True)

    # The restore: into a database that did not exist before.
    subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={new_database}", str(dump)],
                   check=True, capture_output=True)
    restored_url = f"{new_database}?options=-csearch_path%3D{schema}"
    restored = other_app(DATABASE_URL=restored_url, BLOB_STORE=f"filesystem:{restored_blobs}")
    assert restored.test_client().get("/ready").status_code == 200
    with restored.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 3
        assert pii.decrypt(db.session.scalars(select(Resident.pesel_encrypted)).first()) in (JAN, ANNA)

    env = {"PATH": os.environ["PATH"], "PORTAL_INSTANCE_DIR": str(tmp_path / "instance"),
           "PORTAL_DATABASE_URL": restored_url, "PORTAL_BLOB_STORE": f"filesystem:{restored_blobs}",
           "PORTAL_SECRET_KEY": app_config["SECRET_KEY"], "PORTAL_PII_KEY": app_config["PII_KEY"],
           "PORTAL_TRUST_ANCHORS": str(pki / "ca.pem"), "PORTAL_REVOCATION_MODE": "offline"}
    audit = okienko("audit", "verify", "--json", env=env)
    assert audit.returncode == 0, audit.stderr
    assert json.loads(audit.stdout)["intact"] and json.loads(audit.stdout)["entries"] >= 3
    checked = okienko("receipt", "verify-all", "--json", env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    report = json.loads(checked.stdout)
    assert report["checked"] == report["valid"] == 3 and report["problems"] == [] and report["intact"]

    # Tampering after the backup is caught: one document's bytes changed in the store...
    changed_id, (changed_submission, changed_address) = next(iter(receipts.items()))
    document = FilesystemStore(str(restored_blobs))._path(changed_address)
    document.write_bytes(document.read_bytes().replace("Proszę o naprawę.".encode(), "Proszę o nic.".encode()))
    checked = okienko("receipt", "verify-all", env=env)
    assert checked.returncode == 1
    assert f"INVALID {changed_id} ({changed_submission})" in checked.stderr and "does not match" in checked.stderr
    assert "2 of 3 receipt(s) valid" in checked.stdout
    # ...and another submission pointed at a different (intact) document: its receipt names other bytes.
    (other_id, (other_submission, _)), (_, (_, third_address)) = list(receipts.items())[1:]
    with restored.app_context():
        db.session.execute(update(Submission).where(Submission.id == other_submission)
                           .values(document_sha256=third_address))
        db.session.commit()
    checked = okienko("receipt", "verify-all", "--json", env=env)
    problems = {p["receipt_id"]: p["problem"] for p in json.loads(checked.stdout)["problems"]}
    assert checked.returncode == 1 and set(problems) == {changed_id, other_id}
    assert "not the one this receipt covers" in problems[other_id]

    # Without the PESEL key the restored residents cannot be read: the key is part of the backup.
    stranger = other_app(DATABASE_URL=restored_url, PII_KEY=base64.b64encode(secrets.token_bytes(32)).decode())
    with stranger.app_context(), pytest.raises(ValueError, match="cannot be decrypted"):
        pii.decrypt(db.session.scalars(select(Resident.pesel_encrypted)).first())
