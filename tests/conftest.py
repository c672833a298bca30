"""Test fixtures: a real database built by the migrations, the sandbox as a separate process,
the portal served over real HTTP, and helpers that walk the sandbox pages like a browser."""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from werkzeug.serving import make_server

from tests.faults import private_postgres, private_postgres_cluster, small_volume  # noqa: F401 - fixtures
from tests.pages import PageCheckingClient

REPO = Path(__file__).resolve().parent.parent
# A shell that starts the suite in the background (scripts/test runs the SQLite half so) makes it ignore Ctrl+C,
# and the processes the tests start would inherit that: the servers stopped with SIGINT would never stop. A handler
# (unlike an ignored signal) is reset to the default when a child process starts.
signal.signal(signal.SIGINT, signal.default_int_handler)
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"

# Property tests: in CI the same examples every run (derandomize), so a green run is no luck and a red one
# fails again for whoever reruns it; a developer explores new ones with HYPOTHESIS_PROFILE=explore (README).
hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", max_examples=500, print_blob=True)
IN_CI = os.environ.get("CI", "").lower() not in ("", "0", "false")
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if IN_CI else "default"))


# Fixtures through which a test reaches the database: in-process (`app`) or in processes it starts.
DATABASE_FIXTURES = {"app", "database_url"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--database-tests-only", action="store_true",
                     help="run only the tests that reach the database (the second database's run in make test: "
                          "a test that never opens it would only repeat itself)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--database-tests-only"):
        return
    kept = [item for item in items if DATABASE_FIXTURES & set(getattr(item, "fixturenames", ()))]
    skipped = [item for item in items if item not in kept]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = kept


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up in {timeout} s")


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """PostgreSQL (a fresh schema for this session) or SQLite, chosen by PORTAL_TEST_DATABASE_URL."""
    configured = os.environ.get("PORTAL_TEST_DATABASE_URL", DEFAULT_PG)
    if configured.startswith("sqlite"):
        path = tmp_path_factory.mktemp("db") / "okienko-test.db"
        yield f"sqlite:///{path}"
        return
    from portal.config import normalise_database_url

    url = normalise_database_url(configured)
    schema = f"okienko_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in url else "?"
    yield f"{url}{separator}options=-csearch_path%3D{schema}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture(scope="session")
def sandbox_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory, sandbox_port: int) -> Path:
    directory = tmp_path_factory.mktemp("pki")
    subprocess.run([sys.executable, "-m", "sandbox", "pki", str(directory), "--crl-url",
                    f"http://127.0.0.1:{sandbox_port}/pki/ca.crl"], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return directory


@pytest.fixture(scope="session")
def portal_port() -> int:
    return free_port()


@pytest.fixture(scope="session")
def sandbox_url(pki: Path, portal_port: int, sandbox_port: int,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sandbox, started as its own process, exactly as `make run` starts it."""
    port = sandbox_port
    log = (tmp_path_factory.mktemp("logs") / "sandbox.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "run", "--port", str(port), "--pki", str(pki),
         "--portal-url", f"http://127.0.0.1:{portal_port}",
         "--state", str(tmp_path_factory.mktemp("sandbox-state"))],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{url}/health")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


@pytest.fixture(scope="session")
def app_config(database_url: str, pki: Path, sandbox_url: str, portal_port: int,
               tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return {
        "MAIL_DIR": str(tmp_path_factory.mktemp("mail")),
        "SPOOL_DIR": str(tmp_path_factory.mktemp("spool")),
        "CATALOG_LOAD_AT_START": False,
        "TESTING": True,
        "SECRET_KEY": secrets.token_hex(32),
        "PII_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "DATABASE_URL": database_url,
        "BASE_URL": f"http://127.0.0.1:{portal_port}",
        "RESIDENT_OIDC_ISSUER": f"{sandbox_url}/wk",
        "CLERK_OIDC_ISSUER": f"{sandbox_url}/office-idp",
        "TPSIGNING_URL": f"{sandbox_url}/tpsigning5",
        "SANDBOX_URL": sandbox_url,
        "TSA_URL": f"{sandbox_url}/tsa",
        "TRUST_ANCHORS": str(pki / "ca.pem"),
        "TSL_SIGNERS": str(pki / "tsl-signer.pem"),
        "TPSIGNING_WSSE_CERT": str(pki / "office-system.pem"),
        "TPSIGNING_WSSE_KEY": str(pki / "office-system.key"),
        "SEAL_CERT": str(pki / "office-seal.pem"),
        "SEAL_KEY": str(pki / "office-seal.key"),
        "TRUSTED_PROFILE_SEALS": str(pki / "tp-seal.pem"),
        "REVOCATION_HOSTS": sandbox_url,
        "REVOCATION_MODE": "offline",
        "CATALOG_DIR": str(REPO / "catalog"),
        "LOG_LEVEL": "WARNING",
        # Tests look receipts up far more often than a person could; the limit itself is tested with its own app.
        "LOOKUP_RATE_LIMIT": "100000 per minute",
        "LOGIN_RATE_LIMIT": "100000 per minute",
        "SUBMIT_RATE_LIMIT": "100000 per minute",
        "VERIFY_RATE_LIMIT": "100000 per minute",
        "EDORECZENIA_NOTIFY_RATE_LIMIT": "100000 per minute",
    }


@pytest.fixture(scope="session")
def app(app_config: dict[str, Any]) -> Iterator[Flask]:
    """The application, its database built by running the real migrations."""
    from flask_migrate import upgrade

    from portal import create_app

    application = create_app(app_config)
    application.test_client_class = PageCheckingClient  # every page a test fetches is checked (tests/pages.py)
    with application.app_context():
        upgrade()
    yield application
    with application.app_context():
        from portal.extensions import db

        db.engine.dispose()


@pytest.fixture
def other_app(app: Flask, app_config: dict[str, Any]) -> Iterator[Any]:
    """Another portal instance on the same database with some settings changed (several offices,
    a key rotation, a provider that is down). Its connections are closed after the test."""
    from portal import create_app
    from portal.extensions import db

    made: list[Flask] = []

    def make(**changes: Any) -> Flask:
        made.append(create_app({**app_config, **changes}))
        made[-1].test_client_class = PageCheckingClient
        return made[-1]

    yield make
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_database(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with empty tables (except the migrations' own)."""
    yield
    if "app" not in request.fixturenames:
        return
    application: Flask = request.getfixturevalue("app")
    with application.app_context():
        from portal.extensions import db

        db.session.remove()
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our own table names


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.test_request_context():
        yield
        from portal.extensions import db

        db.session.remove()


@pytest.fixture
def catalog(app: Flask) -> None:
    from portal.forms import service

    with app.app_context():
        report = service.load_catalog(Path(app.config["CATALOG_DIR"]))
        assert not report.errors, report.errors


@pytest.fixture
def client(app: Flask) -> PageCheckingClient:
    """The resident's browser: `client.get_page(url)` reads a page as a page (tests/pages.py)."""
    return app.test_client()  # type: ignore[return-value]  # test_client_class is set on the app fixture


@pytest.fixture(scope="session")
def live_portal(app: Flask, portal_port: int) -> Iterator[str]:
    """The portal over real HTTP on the port the sandbox was told about."""
    server = make_server("127.0.0.1", portal_port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{portal_port}"
    wait_for(f"{url}/health")
    yield url
    server.shutdown()


@pytest.fixture
def smtp(app: Flask, tmp_path: Path) -> Iterator[Path]:
    """A real SMTP server process (aiosmtpd) delivering into a maildir; the portal is pointed at it."""
    port = free_port()
    maildir = tmp_path / "maildir"
    process = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}",
                                "-c", "aiosmtpd.handlers.Mailbox", str(maildir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not maildir.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    saved = {k: app.config[k] for k in ("SMTP_HOST", "SMTP_PORT")}
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    try:
        yield maildir
    finally:
        app.config.update(saved)
        process.terminate()
        process.wait(timeout=10)
