"""`okienko keys`, `config`, `smoke`, `sandbox` and `demo`: the portal's own secrets, its settings, a smoke test
of a running portal, and the sandbox and the demo run on one machine. Only `keys rotate-pii` needs the
application."""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from portal import commands
from portal import config as portal_config

# The domain's modules are imported inside the commands, when one runs: `okienko --help`, a group's --help
# and the commands that need no application must not pay for Flask and SQLAlchemy (docs/decisions.md).


@commands.group("keys")
def keys_group() -> None:
    """The portal's own secrets."""


@keys_group.command("init", with_appcontext=False)
def keys_init() -> None:
    """Create instance/secrets.json (session key, PESEL encryption key) unless it exists."""
    path = portal_config.SECRETS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = portal_config.load_secrets()
    made = {
        "SECRET_KEY": existing.get("SECRET_KEY") or secrets.token_hex(32),
        "PII_KEY": existing.get("PII_KEY") or base64.b64encode(secrets.token_bytes(32)).decode(),
    }
    if made != existing:
        path.write_text(json.dumps(made, indent=2))
        path.chmod(0o600)
        click.echo(f"created secrets in {path}")
    else:
        click.echo(f"kept the secrets in {path}")


@keys_group.command("rotate-pii")
def keys_rotate_pii() -> None:
    """Re-encrypt every stored PESEL under PORTAL_PII_KEY; PORTAL_PII_KEY_PREVIOUS holds the old key."""
    from portal.auth import service

    click.echo(f"re-encrypted {service.rotate_pii_key()} resident record(s); PORTAL_PII_KEY_PREVIOUS may now go")


@commands.group("config")
def config_group() -> None:
    """The portal's settings."""


@config_group.command("docs", with_appcontext=False)
@click.option("--write", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="replace the table between the settings-table markers in this file (README.md)")
def config_docs(write: Path | None) -> None:
    """Print the table of every PORTAL_* setting (the one in README.md)."""
    table = portal_config.markdown_table()
    if write is None:
        click.echo(table)
        return
    text = write.read_text(encoding="utf-8")
    start = text.index("\n", text.index("<!-- settings table")) + 1
    end = text.index("<!-- end of settings table -->")
    write.write_text(text[:start] + table + "\n" + text[end:], encoding="utf-8")
    click.echo(f"updated the settings table in {write}")


@config_group.command("check", with_appcontext=False)
@click.option("--json", "as_json", is_flag=True)
@click.option("--strict", is_flag=True, help="exit 1 on warnings too")
def config_check_command(as_json: bool, strict: bool) -> None:
    """List every unsafe or missing production setting; exit 1 on any error (the web server would not start)."""
    from portal.ops import config_check

    report = config_check.check(portal_config.from_environment(), os.environ)
    click.echo(report.as_json() if as_json else report.text())
    if report.errors or (strict and report.warnings):
        sys.exit(1)


@click.command("smoke")
@click.option("--base-url", required=True, help="address of the running portal")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="folder for the three files")
@click.option("--resident", default="80010112357", show_default=True, help="PESEL of the sandbox resident")
@click.option("--trust", type=click.Path(path_type=Path), default=portal_config.INSTANCE_DIR / "pki" / "ca.pem",
              show_default=True, help="PEM of the CA that issued the office's seal")
def smoke_command(base_url: str, out: Path, resident: str, trust: Path) -> None:
    """File one submission through a running portal exactly as a resident would, and check the results."""
    from portal import smoke

    try:
        report = smoke.run(base_url, out, resident, trust)
    except smoke.SmokeFailed as failure:
        click.echo(f"FAILED at step '{failure.step}': {failure}", err=True)
        sys.exit(1)
    for line in report:
        click.echo(f"ok  {line}")


# --- the sandbox and the demo on one machine ------------------------------------------------------

@commands.group("sandbox")
def sandbox_group() -> None:
    """The sandbox stand-ins for login.gov.pl, the office's IdP and TpSigning5."""


@sandbox_group.command("pki", with_appcontext=False)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=portal_config.INSTANCE_DIR / "pki")
@click.option("--port", default=5001, show_default=True,
              help="the sandbox's port (its CRL address goes into certificates)")
def sandbox_pki(directory: Path, port: int) -> None:
    """Create the sandbox test PKI (CA, office seal, trusted-profile seal, TSA, residents)."""
    subprocess.run([sys.executable, "-m", "sandbox", "pki", str(directory), "--crl-url",
                    f"http://127.0.0.1:{port}/pki/ca.crl"], check=True)


@sandbox_group.command("run", with_appcontext=False)
@click.option("--port", default=5001, show_default=True)
@click.option("--portal-url", default=None, help="the portal's address (default: PORTAL_BASE_URL)")
def sandbox_run(port: int, portal_url: str | None) -> None:
    """Serve the sandbox on 127.0.0.1 (a separate process: it shares no code with the portal)."""
    portal_url = portal_url or portal_config.from_environment()["BASE_URL"]
    command = [sys.executable, "-m", "sandbox", "run", "--port", str(port), "--portal-url", portal_url,
               "--pki", str(portal_config.INSTANCE_DIR / "pki")]
    os.execv(sys.executable, command)  # noqa: S606 - this process becomes the sandbox


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True)
@click.option("--sandbox-port", default=5001, show_default=True)
def demo(host: str, port: int, sandbox_port: int) -> None:
    """Run the sandbox, the outbox worker and the portal together (what `make run` ends with)."""
    # The three processes share one configuration: the portal's addresses follow the chosen ports.
    env = {**os.environ, "PORTAL_BASE_URL": f"http://{host}:{port}", "PORTAL_SANDBOX_URL": f"http://{host}:{sandbox_port}"}
    # e-Doręczenia against the sandbox: a clerk's decision to Jan Kowalski reaches his box at
    # <sandbox>/edoreczenia/skrzynka/AE:PL-20384-51637-JKOWA-42; the sandbox notifies the portal's address.
    env.setdefault("PORTAL_EDORECZENIA_URL", f"http://{host}:{sandbox_port}/edoreczenia")
    env.setdefault("PORTAL_EDORECZENIA_CALLBACK_URL", f"http://{host}:{port}")
    base_url = env["PORTAL_BASE_URL"]
    bin_dir = Path(sys.executable).parent
    # The office's directory: dekretacja offers every demo clerk before they have signed in.
    subprocess.run([str(bin_dir / "okienko"), "clerks", "import", "--sandbox"], env=env, check=True)
    processes = [
        subprocess.Popen([sys.executable, "-m", "sandbox", "run", "--host", host, "--port", str(sandbox_port),
                          "--portal-url", base_url, "--pki", str(portal_config.INSTANCE_DIR / "pki")], env=env),
        subprocess.Popen([str(bin_dir / "okienko"), "outbox", "run"], env=env),
        # The production settings file (metrics across workers, one access line per request written by the
        # portal itself, in text since make run is http), with a smaller server for a laptop.
        subprocess.Popen([str(bin_dir / "gunicorn"), "-c", str(portal_config.REPO_ROOT / "gunicorn.conf.py"),
                          "--bind", f"{host}:{port}", "--workers", "2", "--threads", "4", "portal.wsgi:app"], env=env),
    ]
    time.sleep(1.5)
    click.echo("")
    click.echo(f"  Okienko portal:        {base_url}/")
    click.echo(f"  Clerk desk:            {base_url}/urzad/")
    click.echo(f"  Sandbox services:      {env['PORTAL_SANDBOX_URL']}/")
    click.echo("  Demo residents and clerks: listed on the sandbox page; choose one when signing in.")
    click.echo("  Stop with Ctrl+C.")
    # Stopped by `kill` as by Ctrl+C: the three processes go with it, never left holding the ports.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        stopped = next(p for p in processes if p.poll() is not None)
        click.echo(f"{' '.join(map(str, stopped.args[:3]))} stopped (exit code {stopped.returncode}): "
                   "stopping the others (is the port already taken?)", err=True)
    except KeyboardInterrupt:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
