from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
