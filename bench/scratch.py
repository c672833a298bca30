"""What every benchmark stands on: a portal of its own on PostgreSQL, and gunicorn serving it.

A benchmark gets a fresh schema built by the migrations, its own keys and the sandbox's test PKI, its settings
in the environment, and leaves nothing behind. The servers run with the production gunicorn.conf.py, sized
by BENCH_WORKERS and BENCH_THREADS.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get("PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CLIENTS = 32
WORKERS = int(os.environ.get("BENCH_WORKERS", 2 * (os.cpu_count() or 1) + 1))
THREADS = int(os.environ.get("BENCH_THREADS", 4))
# The benchmarks measure the portal, not its abuse limits: one address and one resident send everything.
UNLIMITED = "1000000 per minute"


@dataclass(frozen=True)
class Office:
    env: dict[str, str]  # the environment every process of this office runs with
    folder: Path  # its instance folder (keys, the test PKI in `pki/`)
    schema: str
    url: str  # SQLAlchemy's address of its schema

    @property
    def pki(self) -> Path:
        return self.folder / "pki"


@contextmanager
def scratch_office(**settings: str) -> Iterator[Office]:
    """An office for one benchmark, removed afterwards; `settings` are PORTAL_* variables added or replaced."""
    from sqlalchemy import create_engine, text

    folder = Path(tempfile.mkdtemp(prefix="okienko-bench-"))
    schema = f"okienko_bench_{secrets.token_hex(4)}"
    url = DATABASE.replace("postgresql://", "postgresql+psycopg://")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    env = {**os.environ,
           "PORTAL_DATABASE_URL": f"{DATABASE}?options=-csearch_path%3D{schema}",
           "PORTAL_SECRET_KEY": secrets.token_hex(32),
           "PORTAL_PII_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
           "PORTAL_INSTANCE_DIR": str(folder), "PORTAL_TRUST_ANCHORS": str(folder / "pki" / "ca.pem"),
           "PORTAL_SEAL_CERT": str(folder / "pki" / "office-seal.pem"),
           "PORTAL_SEAL_KEY": str(folder / "pki" / "office-seal.key"),
           "PORTAL_REVOCATION_MODE": "offline", "PORTAL_TSA_URL": "", "PORTAL_LOG_LEVEL": "WARNING",
           "PORTAL_CATALOG_LOAD_AT_START": "false",
           "PORTAL_LOOKUP_RATE_LIMIT": UNLIMITED, "PORTAL_LOGIN_RATE_LIMIT": UNLIMITED,
           "PORTAL_SUBMIT_RATE_LIMIT": UNLIMITED, "PORTAL_VERIFY_RATE_LIMIT": UNLIMITED,
           **settings}
    try:
        subprocess.run([sys.executable, "-m", "sandbox", "pki", str(folder / "pki")], check=True, capture_output=True)
        subprocess.run([str(Path(sys.executable).with_name("okienko")), "db", "upgrade"], env=env, check=True,
                       capture_output=True)
        yield Office(env, folder, schema, f"{url}?options=-csearch_path%3D{schema}")
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)


def letter_writer(pki: Path) -> tuple[Any, Any, bytes, bytes]:
    """In an office's application context: the catalog loaded, the one resident who files everything, the
    general letter's service, and the resident's qualified certificate and key (PEM)."""
    # The portal reads its settings when imported: only now is the benchmark's environment in place.
    from portal.auth import pii
    from portal.auth.models import Resident
    from portal.extensions import db
    from portal.forms import service as forms
    from portal.forms.models import EService

    forms.load_catalog(REPO / "catalog")
    resident = Resident(pesel_index=pii.blind_index("80010112357"), pesel_encrypted=pii.encrypt("80010112357"),
                        given_name="Jan", family_name="Kowalski", address={"locality": "Leszno"})
    db.session.add(resident)
    db.session.commit()
    eservice = db.session.query(EService).filter_by(slug="pismo-ogolne", current=True).one()
    cert = (pki / "residents" / "80010112357.pem").read_bytes()
    key = (pki / "residents" / "80010112357.key").read_bytes()
    return resident, eservice, cert, key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(port: int, timeout: float = 30) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/health", timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def _gunicorn(app: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """gunicorn with the production configuration (gunicorn.conf.py), sized for the bench."""
    sized = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(WORKERS),
             "GUNICORN_THREADS": str(THREADS), "GUNICORN_LOG_LEVEL": "warning"}
    return subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", str(REPO / "gunicorn.conf.py"),
                             app], env=sized, cwd=REPO)


@contextmanager
def serving(env: dict[str, str], *apps: str) -> Iterator[list[str]]:
    """Each WSGI app (`module:app`) under its own gunicorn, up and answering; their base addresses."""
    ports = [free_port() for _ in apps]
    servers = []
    try:
        for app, port in zip(apps, ports, strict=True):
            servers.append(_gunicorn(app, port, env))
        for port in ports:
            _wait(port)
        yield [f"http://127.0.0.1:{port}" for port in ports]
    finally:
        for server in servers:
            server.terminate()
            server.wait(10)
