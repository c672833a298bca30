from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select, text

from portal.audit import service as audit
from portal.audit.models import AuditEntry
from portal.extensions import db


def write_entries(count: int = 5) -> None:
    for number in range(count):
        audit.record("test.act", "thing", str(number), actor=("system", None), number=number)
        db.session.commit()


def test_an_untouched_log_verifies(ctx: None) -> None:
    write_entries()
    report = audit.verify()
    assert report.intact and report.entries == 5


def test_an_edited_entry_is_found(ctx: None) -> None:
    write_entries()
    db.session.execute(text("UPDATE audit_entry SET details = :d WHERE object_id = '2'"), {"d": '{"number": 7}'})
    db.session.commit()
    report = audit.verify()
    assert not report.intact and "was changed after it was written" in report.problem


def test_a_deleted_entry_is_found(ctx: None) -> None:
    write_entries()
    db.session.execute(text("DELETE FROM audit_entry WHERE object_id = '2'"))
    db.session.commit()
    report = audit.verify()
    assert not report.intact and "removed or changed" in report.problem


def test_entries_removed_at_the_end_are_found(ctx: None) -> None:
    write_entries()
    last = db.session.scalar(select(AuditEntry.id).order_by(AuditEntry.id.desc()))
    db.session.execute(text("DELETE FROM audit_entry WHERE id = :i"), {"i": last})
    db.session.commit()
    assert "at the end" in audit.verify().problem


def test_the_command_exits_non_zero_on_a_broken_chain(app: Flask, app_config: dict) -> None:
    with app.app_context():
        write_entries(2)
        db.session.execute(text("UPDATE audit_entry SET action = 'forged' WHERE object_id = '0'"))
        db.session.commit()
    env = {"PORTAL_DATABASE_URL": app_config["DATABASE_URL"], "PORTAL_SECRET_KEY": "x", "PORTAL_PII_KEY": "eA==",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([str(Path(sys.executable).with_name("okienko")), "audit", "verify"], env=env,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "BROKEN" in result.stderr


def test_a_rolled_back_act_leaves_no_entry(ctx: None) -> None:
    audit.record("test.undone", "thing", "1", actor=("system", None))
    db.session.rollback()
    write_entries(1)
    assert list(db.session.scalars(select(AuditEntry.action))) == ["test.act"]
    assert audit.verify().intact


def test_concurrent_writers_keep_one_unforked_chain(app: Flask) -> None:
    if "sqlite" in app.config["SQLALCHEMY_DATABASE_URI"]:
        pytest.skip("concurrent writers are a PostgreSQL matter; SQLite serialises them")
    barrier = threading.Barrier(6)

    def writer(number: int) -> None:
        with app.app_context():
            barrier.wait()
            for round_ in range(10):
                audit.record("test.concurrent", "thing", f"{number}-{round_}", actor=("system", None))
                audit.record("test.concurrent.second", "thing", f"{number}-{round_}", actor=("system", None))
                db.session.commit()
            db.session.remove()

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with app.app_context():
        report = audit.verify()
        assert report.intact and report.entries == 120
