"""The production server as configured: real gunicorn with gunicorn.conf.py, several workers, JSON logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REPO, free_port

WORKERS = 2


def start_gunicorn(app_config: dict, pki: Path, tmp_path: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """`gunicorn -c gunicorn.conf.py portal.wsgi:app` on the test database; the process, its address and the file
    its standard error goes to."""
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PORTAL_", "PROMETHEUS_"))}
    env.update({
        "PORTAL_DATABASE_URL": app_config["DATABASE_URL"], "PORTAL_SECRET_KEY": app_config["SECRET_KEY"],
        "PORTAL_PII_KEY": app_config["PII_KEY"], "PORTAL_INSTANCE_DIR": str(tmp_path / "instance"),
        "PORTAL_TRUST_ANCHORS": str(pki / "ca.pem"), "PORTAL_SEAL_CERT": str(pki / "office-seal.pem"),
        "PORTAL_SEAL_KEY": str(pki / "office-seal.key"),
        "PORTAL_TRUSTED_PROFILE_SEALS": str(pki / "tp-seal.pem"), "PORTAL_REVOCATION_MODE": "offline",
        "PORTAL_TSA_URL": "",
        "PORTAL_CATALOG_LOAD_AT_START": "false", "PORTAL_LOG_FORMAT": "json", "PORTAL_LOG_LEVEL": "INFO",
        "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(WORKERS), "GUNICORN_THREADS": "2",
    })
    errors = tmp_path / f"gunicorn-{port}.err"
    with errors.open("w") as sink:
        process = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "-c", "gunicorn.conf.py",
                                    "portal.wsgi:app"], cwd=REPO, env=env, stdout=sink, stderr=sink)
    return process, f"http://127.0.0.1:{port}", errors


@pytest.fixture
def gunicorn(app: Flask, app_config: dict, pki: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """gunicorn as in production on the test database (migrated by `app`); its address and its standard error."""
    process, url, errors = start_gunicorn(app_config, pki, tmp_path)
    try:
        yield url, errors
    finally:
        process.terminate()
        process.wait(timeout=30)


def wait_until_serving(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not serve {url}/health in {timeout} s")


def health_count(url: str) -> float:
    answer = requests.get(f"{url}/metrics", timeout=10)  # a new connection each time: any worker may answer
    assert answer.status_code == 200, answer.text
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if (sample.name == "okienko_http_request_duration_seconds_count"
                    and sample.labels == {"endpoint": "pages.health", "method": "GET"}):
                return sample.value
    return 0.0


def test_gunicorn_serves_health_ready_and_metrics_summed_over_its_workers(gunicorn: tuple[str, Path]) -> None:
    url, errors = gunicorn
    wait_until_serving(url)
    ready = requests.get(f"{url}/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    before = health_count(url)
    for number in range(20):
        response = requests.get(f"{url}/health", headers={"X-Request-ID": f"probe-{number}"}, timeout=5)
        assert response.status_code == 200 and response.headers["X-Request-ID"] == f"probe-{number}"
    # Whichever worker answers the scrape, it reports every worker's requests (multiprocess mode).
    assert [health_count(url) for _ in range(6)] == [before + 20] * 6
    time.sleep(0.5)  # the last access lines reach the file
    lines = [json.loads(line) for line in errors.read_text().splitlines() if line.strip()]  # every line is JSON
    access = [line for line in lines if line["logger"] == "portal.access" and line["path"] == "/health"]
    assert {line["request_id"] for line in access} >= {f"probe-{number}" for number in range(20)}
    assert len(access) == before + 20  # one line per request, and gunicorn's own access log is off
    booted = [line for line in lines if line["logger"] == "gunicorn.error" and "Booting worker" in line["message"]]
    assert len(booted) == WORKERS


def test_the_conf_file_picks_production_defaults() -> None:
    script = ("import runpy, json; c = runpy.run_path('gunicorn.conf.py'); "
              "print(json.dumps({k: c[k] for k in ('workers', 'threads', 'worker_class', 'bind', 'accesslog', "
              "'worker_tmp_dir', 'forwarded_allow_ips', 'timeout')})); "
              "import os, shutil; shutil.rmtree(os.environ['OKIENKO_OWN_METRICS_DIR'])")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PROMETHEUS_", "GUNICORN_", "WEB_CONCURRENCY", "PORT", "FORWARDED_"))}
    settings = json.loads(subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, check=True,
                                         capture_output=True, text=True).stdout)
    assert settings["workers"] == 2 * len(os.sched_getaffinity(0)) + 1
    assert settings["worker_class"] == "gthread" and settings["threads"] == 4
    assert settings["bind"] == ["127.0.0.1:8000"] and settings["accesslog"] is None
    assert settings["worker_tmp_dir"] == "/dev/shm" and settings["forwarded_allow_ips"] == "127.0.0.1,::1"


def workers_of(master: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def metrics_folder_of(master: int) -> Path | None:
    """The folder where this master's workers write their counters (`<kind>_<worker pid>.db`)."""
    workers = workers_of(master)
    for folder in Path("/dev/shm").glob("okienko-metrics-*"):  # noqa: S108 - where gunicorn.conf.py makes them
        if any(file.stem.rsplit("_", 1)[-1] in map(str, workers) for file in folder.glob("*.db")):
            return folder
    return None


def test_the_metrics_folder_of_a_killed_master_is_removed_at_the_next_start(app: Flask, app_config: dict,
                                                                             pki: Path, tmp_path: Path) -> None:
    if not Path("/dev/shm").is_dir():  # noqa: S108
        pytest.skip("no /dev/shm: gunicorn.conf.py makes its metrics folder elsewhere")
    first, url, _ = start_gunicorn(app_config, pki, tmp_path)
    try:
        wait_until_serving(url)
        requests.get(f"{url}/health", timeout=5)  # a worker writes its counters
        folder = metrics_folder_of(first.pid)
        assert folder is not None
        workers = workers_of(first.pid)
    finally:
        first.kill()  # SIGKILL: no on_exit, nothing cleaned up
        first.wait(timeout=30)
    for pid in workers:  # its workers notice their master is gone and leave; any left are stopped here
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, 9)
    assert folder.exists()  # left behind by the killed master
    second, url, _ = start_gunicorn(app_config, pki, tmp_path)
    try:
        wait_until_serving(url)
        assert not folder.exists()
        requests.get(f"{url}/health", timeout=5)
        own = metrics_folder_of(second.pid)  # the new master's own folder
        assert own is not None
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert not own.exists()  # a clean stop removes it, as before
