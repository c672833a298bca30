"""Readiness: can this node serve residents right now? `/health` only says the process answers.

A load balancer sends traffic to a node only while `/ready` says so. Each check is small: the database
answers, its schema is the one this code expects (migrations at head), the document store takes writes,
and the office's seal (which signs every receipt) loads. The answer names the checks that failed; the
reasons, which may name hosts and paths, go to the log only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app
from sqlalchemy import text

from portal.extensions import db
from portal.storage import service as storage

log = logging.getLogger(__name__)


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)  # name → "ok" or "failed"
    reasons: dict[str, str] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)  # name → what failed, in words that name no host or path

    @property
    def ready(self) -> bool:
        return all(result == "ok" for result in self.checks.values())

    @property
    def failed(self) -> list[str]:
        return [name for name, result in self.checks.items() if result != "ok"]

    def public(self) -> dict[str, object]:
        answer: dict[str, object] = {"status": "ready" if self.ready else "not ready", "checks": self.checks,
                                     "failed": self.failed}
        if self.hints:
            answer["hints"] = self.hints
        return answer


class NotReady(RuntimeError):
    def __init__(self, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.hint = hint  # safe to show in the answer (no host, no path)


def _database() -> None:
    db.session.execute(text("SELECT 1"))


@dataclass(frozen=True)
class _Revisions:
    heads: frozenset[str]
    known: frozenset[str]


@cache
def _revisions(directory: str) -> _Revisions:
    """The migrations shipped with this code (read once per process: the code does not change under it)."""
    config = Config()
    config.set_main_option("script_location", directory)
    script = ScriptDirectory.from_config(config)
    return _Revisions(frozenset(script.get_heads()), frozenset(r.revision for r in script.walk_revisions()))


def _migrations() -> None:
    """The schema must be at least what this code expects. A database *ahead* of the code (a revision this code
    does not know) is fine: upgrades migrate first and deploy the new code after, and the nodes still running
    the old code must keep serving meanwhile (docs/operations.md)."""
    # The application knows where its migrations are (portal.init_migrations): importing `portal` for the
    # path would make the package and its ops module import each other.
    revisions = _revisions(current_app.extensions["migrate"].directory)
    current = frozenset(MigrationContext.configure(db.session.connection()).get_current_heads())
    if not current:
        raise NotReady("the database has no schema: run `okienko db upgrade`")
    behind = current & revisions.known - revisions.heads
    if behind:
        raise NotReady(f"database at {sorted(behind)}, code expects {sorted(revisions.heads)}: "
                       "run `okienko db upgrade`")


def _blob_store() -> None:
    """The store takes writes — and, on a file system, has room for them: a full disk refuses every document
    while the folder still looks writable."""
    store = storage.store()
    store.check_config()
    free = store.free_bytes()
    floor_mb = int(current_app.config["BLOB_STORE_MIN_FREE_MB"])
    if free is not None and free < floor_mb * 1024 * 1024:
        where = getattr(store, "root", "the store")
        raise NotReady(f"{free / 1024 / 1024:.1f} MB free on the volume of {where}, below "
                       f"PORTAL_BLOB_STORE_MIN_FREE_MB={floor_mb}",
                       hint=f"less free space than PORTAL_BLOB_STORE_MIN_FREE_MB ({floor_mb} MB)")


@cache
def _seal_loads(cert_path: str, key_path: str, stamp: tuple[float, float]) -> None:
    """The certificate and the key parse, and belong together. Cached per file version: a key is slow to load."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password=None)
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (cert.public_key().public_bytes(serialization.Encoding.DER, public)
            != key.public_key().public_bytes(serialization.Encoding.DER, public)):
        raise NotReady("the seal's key does not belong to its certificate")


def _seal() -> None:
    cert, key = current_app.config["SEAL_CERT"], current_app.config["SEAL_KEY"]
    _seal_loads(cert, key, (os.path.getmtime(cert), os.path.getmtime(key)))


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database,
    "migrations": _migrations,
    "blob_store": _blob_store,
    "seal": _seal,
}


def check() -> Readiness:
    result = Readiness()
    for name, run in CHECKS.items():
        if name == "migrations" and result.checks.get("database") != "ok":
            result.checks[name] = "failed"
            result.reasons[name] = "the database did not answer"
            continue
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - any failure of a check means "not ready", with its reason logged
            db.session.rollback()
            result.checks[name] = "failed"
            result.reasons[name] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if getattr(exc, "hint", None):
                result.hints[name] = exc.hint  # type: ignore[attr-defined]
        else:
            result.checks[name] = "ok"
    for name, reason in result.reasons.items():
        log.warning("not ready: %s: %s", name, reason)
    return result
