"""`okienko` on a fresh install: every command answers, and says what it needs only when it needs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from lxml import etree

from portal import cli
from sandbox.tpsigning import xades as sandbox_xades
from tests.helpers import JAN

OKIENKO = str(Path(sys.executable).with_name("okienko"))
# What a command that needs no web application must not pay for at every start.
HEAVY = ("flask", "sqlalchemy", "lxml", "weasyprint", "portal.forms", "portal.models", "backoffice_adapter")


def fresh(tmp_path: Path) -> dict[str, str]:
    """The environment of a machine where `okienko keys init` and `okienko db upgrade` never ran."""
    return {"PATH": "/usr/bin:/bin", "PORTAL_INSTANCE_DIR": str(tmp_path / "instance")}


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OKIENKO, *args], env=env, capture_output=True, text=True, timeout=120)


def every_command(group: click.Group, ctx: click.Context, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += every_command(command, ctx, (*path, name))
    return found


def test_help_works_before_keys_init_without_importing_the_portal(tmp_path: Path) -> None:
    env = fresh(tmp_path)
    result = run(env, "--help")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    for name in ("keys", "db", "catalog", "signature", "receipt", "outbox", "clerks", "demo", "config"):
        assert f"\n  {name} " in result.stdout, name
    probe = subprocess.run([sys.executable, "-c", (
        "import sys\nfrom portal import cli\ntry:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])")], env=env, capture_output=True, text=True, check=True)
    assert probe.stdout.strip().splitlines()[-1] == "[]", probe.stdout[-2000:]
    assert not (tmp_path / "instance").exists(), "asking for help writes nothing"


def test_the_commands_that_need_no_application_import_neither_flask_nor_sqlalchemy(tmp_path: Path) -> None:
    for command in (["keys", "init"], ["config", "docs"], ["config", "check"], ["deadline", "kpa-1m",
                                                                              "2026-12-01T10:00:00+01:00"]):
        probe = subprocess.run([sys.executable, "-c", (
            f"import sys\nfrom portal import cli\ntry:\n    cli.main({command!r})\nexcept SystemExit:\n    pass\n"
            "print([m for m in ('flask', 'sqlalchemy') if m in sys.modules])")], env=fresh(tmp_path),
            capture_output=True, text=True, check=True)
        assert probe.stdout.strip().splitlines()[-1] == "[]", (command, probe.stdout[-2000:], probe.stderr[-2000:])


def test_the_list_in_help_says_what_each_domain_command_says_of_itself() -> None:
    # `okienko --help` shows Main.lazy's line without importing the domain's cli.py: it must not drift.
    width = 78
    with click.Context(cli.main) as ctx:
        for name, (target, listed) in cli.Main.lazy.items():
            if target.startswith("portal.cli:"):
                continue  # Flask's and Flask-Migrate's own commands, described in our words
            command = cli.main.get_command(ctx, name)
            assert command is not None, name
            assert click.Command(name, help=listed).get_short_help_str(width) == command.get_short_help_str(width), name


def test_every_command_and_group_still_answers_help(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli.portal_config, "SECRETS_FILE", tmp_path / "none.json")
    runner = CliRunner()
    with click.Context(cli.main) as ctx:
        commands = every_command(cli.main, ctx)
    assert {("keys", "init"), ("db", "upgrade"), ("signature", "verify"), ("receipt", "verify-all"),
            ("outbox", "run"), ("clerks", "import"), ("sandbox", "pki"), ("config", "check"), ("demo",),
            ("smoke",), ("deadline",), ("audit", "verify"), ("trust", "import")} <= set(commands)
    for path in commands:
        result = runner.invoke(cli.main, [*path, "--help"], env={"PORTAL_SECRET_KEY": "", "PORTAL_PII_KEY": ""})
        assert result.exit_code == 0, (path, result.output, result.exception)
        assert "Usage: " in result.output


def test_signature_verify_needs_neither_keys_nor_a_database(pki: Path, tmp_path: Path) -> None:
    root = etree.fromstring(b'<Dokument xmlns="urn:test"><T>A</T></Dokument>')
    sandbox_xades.seal(root, (pki / "residents" / f"{JAN}.pem").read_bytes(),
                       (pki / "residents" / f"{JAN}.key").read_bytes())
    (tmp_path / "signed.xml").write_bytes(etree.tostring(root))
    env = {**fresh(tmp_path), "PORTAL_TRUST_ANCHORS": str(pki / "ca.pem"), "PORTAL_REVOCATION_MODE": "offline"}
    result = run(env, "signature", "verify", str(tmp_path / "signed.xml"), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["signer"] == "Jan Kowalski"
    assert "Traceback" not in result.stderr
    offline = run(fresh(tmp_path), "signature", "verify", str(tmp_path / "signed.xml"), "--offline")
    assert offline.returncode == 0 and offline.stdout.startswith("TOTAL_PASSED"), offline.stdout + offline.stderr
    assert not (tmp_path / "instance" / "secrets.json").exists()


def test_a_command_that_needs_the_keys_says_so(tmp_path: Path) -> None:
    result = run(fresh(tmp_path), "drafts", "purge")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "run `okienko keys init` first" in result.stderr


def test_a_command_that_needs_the_tables_says_so(tmp_path: Path) -> None:
    (tmp_path / "instance").mkdir()
    env = {**fresh(tmp_path), "PORTAL_SECRET_KEY": "x", "PORTAL_PII_KEY": "eA=="}
    for command in (("catalog", "list"), ("audit", "verify"), ("outbox", "status")):
        result = run(env, *command)
        assert result.returncode == 1 and "Traceback" not in result.stderr, (command, result.stderr)
        assert "run `okienko db upgrade` first" in result.stderr, (command, result.stderr)


def test_a_database_that_does_not_answer_is_named_not_a_traceback(tmp_path: Path) -> None:
    env = {**fresh(tmp_path), "PORTAL_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"}
    result = run(env, "catalog", "list")
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot reach the database" in result.stderr and "127.0.0.1:9" in result.stderr


def test_migrations_and_the_catalog_need_no_keys(tmp_path: Path) -> None:
    (tmp_path / "instance").mkdir()
    env = fresh(tmp_path)
    upgraded = run(env, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert run(env, "catalog", "list").returncode == 0
    assert not (tmp_path / "instance" / "secrets.json").exists()
