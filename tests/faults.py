"""Real faults for tests: a PostgreSQL server of our own to stop and start, and a small volume to fill.

The shared PostgreSQL at 127.0.0.1:5432 serves every test run on the machine and must never go down, so a
test that needs a database outage starts a private cluster (Debian's initdb/pg_ctl, in a temporary folder,
on a free port) and stops *that*. A full disk is a tmpfs of a few hundred kilobytes mounted for the test
(root, as on CI) and filled with a file until the kernel answers ENOSPC.

Both skip with the reason when the machine cannot provide them; CI runs as root with PostgreSQL installed.
"""

from __future__ import annotations

import errno
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A PostgreSQL cluster this test run owns: stopping it disturbs nobody else."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.port = _free_port()
        # Not under pytest's tmp_path: that is root's private folder, and the server runs as postgres.
        self.root = Path(tempfile.mkdtemp(prefix="okienko-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self._as_postgres = os.geteuid() == 0  # initdb refuses to run as root
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8",
                  "--locale=C.UTF-8")

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin_dir / tool), *args]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    @property
    def running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.data), check=False).returncode == 0

    def start(self) -> None:
        if self.running:
            return
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
        self._run("pg_ctl", "start", "-D", str(self.data), "-w", "-t", "60", "-l", str(self.log), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """`fast` closes every connection (a restart by an administrator); `immediate` is a crash."""
        if self.running:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-w", "-t", "60", "-m", mode)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}?connect_timeout=3"

    def new_database(self) -> str:
        """A fresh empty database on the cluster; returns its URL."""
        from sqlalchemy import create_engine, text

        name = f"t_{uuid.uuid4().hex[:12]}"
        engine = create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def private_postgres_cluster() -> Iterator[PrivatePostgres]:
    bin_dir = _postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: initdb cannot be run as the postgres user")
    try:
        cluster = PrivatePostgres(bin_dir)
    except (subprocess.CalledProcessError, LookupError, PermissionError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        pytest.skip(f"cannot make a private PostgreSQL cluster: {detail}")
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def private_postgres(private_postgres_cluster: PrivatePostgres) -> Iterator[PrivatePostgres]:
    """The private cluster, running at the start of the test and started again after it (whatever it stopped)."""
    private_postgres_cluster.start()
    yield private_postgres_cluster
    private_postgres_cluster.start()


class SmallVolume:
    """A tmpfs of its own: a file system that really runs out of space, without touching anyone else's disk."""

    def __init__(self, path: Path, size_kb: int) -> None:
        self.path = path
        self.size_kb = size_kb
        self._fillers = path / ".filler"

    def fill(self) -> None:
        """Write until the kernel says the device is full (ENOSPC): every later write fails."""
        self._fillers.mkdir(exist_ok=True)
        chunk = b"\0" * 4096
        number = len(list(self._fillers.iterdir()))
        while True:
            number += 1
            try:
                with (self._fillers / f"{number}").open("wb") as file:
                    while True:
                        file.write(chunk)
                        file.flush()
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
            if self.free_bytes() < 4096:
                return

    def release(self) -> None:
        """Space again."""
        shutil.rmtree(self._fillers, ignore_errors=True)

    def free_bytes(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def files(self, pattern: str) -> list[Path]:
        return [p for p in self.path.rglob(pattern) if self._fillers not in p.parents]


@pytest.fixture
def small_volume(request: pytest.FixtureRequest) -> Iterator[SmallVolume]:
    """A tmpfs of 512 KB (or `indirect` parametrisation's size in KB) mounted for this test; needs root, as CI
    runs — elsewhere the test is skipped, saying why."""
    mount_point = Path(tempfile.mkdtemp(prefix="okienko-volume-"))
    size_kb = int(getattr(request, "param", 512))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0777", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield SmallVolume(mount_point, size_kb)
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(mount_point)], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)  # a process of the test may still hold a file there
        else:
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
        mount_point.rmdir()


def environment(config: dict[str, object]) -> dict[str, str]:
    """The PORTAL_* variables that give a command (`okienko outbox run`) the same settings as a test's app."""
    from portal.config import SETTINGS

    names = {setting.name for setting in SETTINGS}
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    for key, value in config.items():
        if key in names and value is not None:
            env[f"PORTAL_{key}"] = str(value)
    return env


def migrated_portal(other_app: object, database_url: str, **changes: object) -> object:
    """A portal (`other_app`) on `database_url`, migrated and with the catalog loaded."""
    from flask_migrate import upgrade

    from portal.extensions import db
    from portal.forms import service as forms

    portal = other_app(DATABASE_URL=database_url, **changes)  # type: ignore[operator]
    with portal.app_context():
        upgrade()
        report = forms.load_catalog(Path(portal.config["CATALOG_DIR"]))
        assert not report.errors, report.errors
        db.session.remove()
    return portal
