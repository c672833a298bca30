"""The README's two commands on a fresh machine: `make test` brings what it needs itself, CI adds nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from hypothesis import settings

REPO = Path(__file__).resolve().parent.parent


def test_make_test_installs_and_starts_what_it_needs_before_any_test() -> None:
    steps = subprocess.run(["make", "-n", "test"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    assert "scripts/deps test" in steps
    assert steps.index("scripts/deps test") < steps.index("scripts/test")
    runs = (REPO / "scripts" / "test").read_text()
    assert 'PORTAL_TEST_DATABASE_URL=sqlite "$BIN/pytest"' in runs and '"$BIN/pytest" "$@"' in runs


def test_ci_runs_the_readme_command_and_nothing_else() -> None:
    script = (REPO / ".ci" / "run").read_text()
    commands = [line.strip() for line in script.splitlines() if line.strip() and not line.startswith("#")]
    assert commands[-1] == "exec make test"
    assert not any(word in script for word in ("apt-get", "pg_ctlcluster", "redis-server", "pytest"))


def test_the_dependency_check_is_silent_when_everything_is_there() -> None:
    # The suite is running, so PostgreSQL, Redis and every package are there: nothing to say, nothing to do.
    checked = subprocess.run([str(REPO / "scripts" / "deps"), "test"], capture_output=True, text=True,
                             env={**os.environ, "PORTAL_TEST_DATABASE_URL": "sqlite"})
    assert checked.returncode == 0 and checked.stdout == checked.stderr == "", checked.stdout + checked.stderr


def test_property_tests_are_derandomized_in_ci() -> None:
    if os.environ.get("CI", "").lower() in ("", "0", "false") or os.environ.get("HYPOTHESIS_PROFILE"):
        return  # outside CI any profile may be chosen
    assert settings.default.derandomize and settings.default.database is None


def test_the_package_metadata_gives_its_license_as_an_spdx_expression() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["license"] == "EUPL-1.2"  # a table here made setuptools warn three times per install


def test_the_sandbox_prints_its_addresses_and_accounts_without_a_development_server_banner(pki: Path) -> None:
    import signal
    import sys

    from tests.conftest import free_port, wait_for

    port = free_port()
    sandbox = subprocess.Popen([sys.executable, "-m", "sandbox", "run", "--port", str(port), "--pki", str(pki)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/")
    finally:
        sandbox.send_signal(signal.SIGINT)
        output = sandbox.communicate(timeout=60)[0]
    assert f"Sandbox services on http://127.0.0.1:{port}/" in output and "Jan Kowalski" in output
    assert "development server" not in output and "GET / " not in output, output
