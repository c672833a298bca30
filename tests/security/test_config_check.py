"""Unsafe defaults in production are refused at start: `okienko config check` and the web server.

The attack is a mistake: a portal started with `PORTAL_BASE_URL=https://…` (production) while the rest is still
what `make run` made — residents logged in at the sandbox's stand-in identity provider, receipts sealed with
the sandbox's test key, the demo client secrets from the source code, keys from instance/secrets.json and
rate limits counted per process. Each test makes such a configuration for real (the sandbox PKI, `okienko keys
init`, throw-away certificates made here) and shows the refusal: by the command run as a real process, by the
pure check function rule by rule, and by gunicorn started with the production gunicorn.conf.py.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from portal import config as portal_config
from portal.ops import config_check
from tests.conftest import REPO, free_port

BIN = Path(sys.executable).parent
NOW = datetime.datetime.now(datetime.UTC)

# What the sandbox's settings look like to the check when PORTAL_BASE_URL is https: every one an error.
SANDBOX_ERRORS = {
    "PORTAL_SANDBOX", "PORTAL_RESIDENT_OIDC_ISSUER", "PORTAL_CLERK_OIDC_ISSUER", "PORTAL_TPSIGNING_URL",
    "PORTAL_TSA_URL", "PORTAL_REVOCATION_HOSTS", "PORTAL_EZDRP_URL", "PORTAL_WEBHOOK_URL",
    "PORTAL_RESIDENT_OIDC_CLIENT_SECRET", "PORTAL_CLERK_OIDC_CLIENT_SECRET", "PORTAL_SECRET_KEY", "PORTAL_PII_KEY",
    "PORTAL_RATELIMIT_STORAGE", "PORTAL_SEAL_CERT", "PORTAL_TRUSTED_PROFILE_SEALS", "PORTAL_TRUST_ANCHORS",
    "PORTAL_TSL_SIGNERS", "PORTAL_TPSIGNING_WSSE_CERT", "PORTAL_REVOCATION_MODE",
}
SANDBOX_WARNINGS = {"PORTAL_DATABASE_URL", "PORTAL_TRUSTED_PROXIES", "PORTAL_LOG_FORMAT", "PORTAL_SMTP_HOST"}


# --- a production office's certificates, made here ------------------------------------------------------

def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key: rsa.RSAPrivateKey, issuer: x509.Name, issuer_key: rsa.RSAPrivateKey,
                 *, days: int = 365, since: int = 1, ca: bool = False) -> x509.Certificate:
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(days=since)).not_valid_after(NOW + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256()))


def _write(path: Path, *items: x509.Certificate | rsa.RSAPrivateKey) -> str:
    data = b""
    for item in items:
        if isinstance(item, x509.Certificate):
            data += item.public_bytes(serialization.Encoding.PEM)
        else:
            data += item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    path.write_bytes(data)
    if path.suffix == ".key":
        path.chmod(0o600)
    return str(path)


@pytest.fixture(scope="module")
def office_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A qualified CA of our own (not the sandbox's), the office's seal and system certificate issued by it, the
    trusted-profile service's seal, a trusted-list operator; plus the seal's certificate expired, expiring soon,
    and another key, for the checks that look at them."""
    directory = tmp_path_factory.mktemp("office-pki")
    ca_key, seal_key, system_key, tp_key, tsl_key, other_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(6))
    ca_name = _name("Centrum Kwalifikowane Testowe Root CA")
    ca = _certificate("Centrum Kwalifikowane Testowe Root CA", ca_key, ca_name, ca_key, days=3650, ca=True)
    _write(directory / "ca.pem", ca)
    _write(directory / "office-seal.pem", _certificate("Urząd Miasta Leszna — pieczęć", seal_key, ca_name, ca_key))
    _write(directory / "office-seal.key", seal_key)
    _write(directory / "office-system.pem", _certificate("Urząd Miasta Leszna — system", system_key, ca_name, ca_key))
    _write(directory / "office-system.key", system_key)
    _write(directory / "tp-seal.pem", _certificate("Profil Zaufany — pieczęć", tp_key, ca_name, ca_key))
    _write(directory / "tsl-signer.pem", _certificate("Operator listy zaufanej", tsl_key, ca_name, ca_key))
    _write(directory / "seal-expired.pem",
           _certificate("Urząd Miasta Leszna — pieczęć", seal_key, ca_name, ca_key, since=400, days=-35))
    _write(directory / "seal-expiring.pem",
           _certificate("Urząd Miasta Leszna — pieczęć", seal_key, ca_name, ca_key, days=10))
    _write(directory / "tp-seal-expired.pem",
           _certificate("Profil Zaufany — pieczęć", tp_key, ca_name, ca_key, since=400, days=-35))
    _write(directory / "other.key", other_key)
    (directory / "empty.pem").write_bytes(b"")
    return directory


def _outside_environment() -> dict[str, str]:
    """This process's environment without any setting of the portal's or of gunicorn's."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("PORTAL_", "PROMETHEUS_", "GUNICORN_", "OKIENKO_"))
            and key not in ("WEB_CONCURRENCY", "PORT", "FORWARDED_ALLOW_IPS")}


@pytest.fixture
def production(office_pki: Path, tmp_path: Path) -> dict[str, str]:
    """The environment of a correctly configured office: the check finds nothing, not even a warning."""
    (tmp_path / "instance").mkdir()
    return {
        **_outside_environment(),
        "PORTAL_INSTANCE_DIR": str(tmp_path / "instance"),  # no secrets.json in it
        "PORTAL_BASE_URL": "https://e.leszno.example",
        "PORTAL_SANDBOX": "false",
        "PORTAL_RESIDENT_OIDC_ISSUER": "https://wk.leszno.example/realms/wk",
        "PORTAL_RESIDENT_OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),
        "PORTAL_CLERK_OIDC_ISSUER": "https://idp.leszno.example/realms/urzad",
        "PORTAL_CLERK_OIDC_CLIENT_SECRET": secrets.token_urlsafe(32),
        "PORTAL_TPSIGNING_URL": "https://pz.gov.pl/ep-services/tpSigning5",
        "PORTAL_TSA_URL": "https://tsa.kwalifikowane.example/tsp",
        "PORTAL_REVOCATION_HOSTS": "crl.kwalifikowane.example,http://ocsp.kwalifikowane.example",
        "PORTAL_EZDRP_URL": "https://ezd.leszno.example",
        "PORTAL_WEBHOOK_URL": "https://integracja.leszno.example/okienko",
        "PORTAL_SECRET_KEY": secrets.token_hex(32),
        "PORTAL_PII_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "PORTAL_RATELIMIT_STORAGE": "redis://redis.leszno.example:6379",
        "PORTAL_REVOCATION_MODE": "require",
        "PORTAL_DATABASE_URL": "postgresql://okienko@db.leszno.example/okienko",
        "PORTAL_TRUSTED_PROXIES": "1",
        "PORTAL_LOG_FORMAT": "json",
        "PORTAL_SMTP_HOST": "smtp.leszno.example",
        "PORTAL_SEAL_CERT": str(office_pki / "office-seal.pem"),
        "PORTAL_SEAL_KEY": str(office_pki / "office-seal.key"),
        "PORTAL_TRUSTED_PROFILE_SEALS": str(office_pki / "tp-seal.pem"),
        "PORTAL_TRUST_ANCHORS": str(office_pki / "ca.pem"),
        "PORTAL_TSL_SIGNERS": str(office_pki / "tsl-signer.pem"),
        "PORTAL_TPSIGNING_WSSE_CERT": str(office_pki / "office-system.pem"),
        "PORTAL_TPSIGNING_WSSE_KEY": str(office_pki / "office-system.key"),
        "PORTAL_EDORECZENIA_URL": "https://uaa.edoreczenia.example/api/v1",
        "PORTAL_EDORECZENIA_CLIENT_SECRET": secrets.token_urlsafe(32),
        "PORTAL_EDORECZENIA_ADDRESS": "AE:PL-64100-12345-UMLES-01",
        # Any certificate not of the sandbox stands for the provider's seal here.
        "PORTAL_EDORECZENIA_EVIDENCE_SEALS": str(office_pki / "tp-seal.pem"),
    }


@pytest.fixture
def left_as_make_run_made_it(pki: Path, tmp_path: Path) -> dict[str, str]:
    """An instance folder as `make run` leaves it (the sandbox PKI, `okienko keys init`'s secrets.json) and an
    environment that sets only the https address — plus an EZD and a webhook on plain http and this machine,
    text logs and revocation checking off, as someone trying things out might leave them."""
    instance = tmp_path / "make-run-instance"
    shutil.copytree(pki, instance / "pki")
    env = {**_outside_environment(), "PORTAL_INSTANCE_DIR": str(instance)}
    subprocess.run([str(BIN / "okienko"), "keys", "init"], env=env, cwd=REPO, check=True, capture_output=True)
    assert (instance / "secrets.json").exists()
    return {**env, "PORTAL_BASE_URL": "https://e.leszno.example", "PORTAL_EZDRP_URL": "http://127.0.0.1:8080",
            "PORTAL_WEBHOOK_URL": "http://integracja.leszno.example/okienko", "PORTAL_LOG_FORMAT": "text",
            "PORTAL_REVOCATION_MODE": "offline"}


def okienko(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "okienko"), *args], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=60)


# --- the command ---------------------------------------------------------------------------------------

def test_config_check_names_every_sandbox_default_left_in_production(left_as_make_run_made_it: dict) -> None:
    """`okienko config check` on make run's instance with an https address: exit 1, and every unsafe setting is
    named with what is wrong and what to do — the sandbox endpoints, the demo secrets, the keys from
    instance/secrets.json, memory rate limits, the sandbox's seal, trusted-profile seal, CA, trusted-list signer
    and system certificate, revocation off; the SQLite database, no proxy, text logs and no SMTP as warnings."""
    answer = okienko("config", "check", "--json", env=left_as_make_run_made_it)
    assert answer.returncode == 1, answer.stdout + answer.stderr
    report = json.loads(answer.stdout)
    assert report["production"] is True and report["ok"] is False
    errors = {p["setting"] for p in report["problems"] if p["level"] == "error"}
    warnings = {p["setting"] for p in report["problems"] if p["level"] == "warning"}
    assert errors == SANDBOX_ERRORS
    assert warnings >= SANDBOX_WARNINGS
    assert all(p["problem"] and p["fix"] for p in report["problems"])
    why = {p["setting"]: p["problem"] for p in report["problems"] if p["level"] == "error"}
    assert "sandbox" in why["PORTAL_RESIDENT_OIDC_ISSUER"] and "loopback" in why["PORTAL_EZDRP_URL"]
    assert "not https" in why["PORTAL_WEBHOOK_URL"] and "demo secret" in why["PORTAL_CLERK_OIDC_CLIENT_SECRET"]
    assert "secrets.json" in why["PORTAL_SECRET_KEY"] and "secrets.json" in why["PORTAL_PII_KEY"]
    assert "Okienko Sandbox Root CA" in why["PORTAL_SEAL_CERT"]
    assert "Okienko Sandbox Root CA" in why["PORTAL_TRUSTED_PROFILE_SEALS"]
    assert "Okienko Sandbox Root CA" in why["PORTAL_TRUST_ANCHORS"]
    # The secrets themselves are never printed.
    stored = json.loads((Path(left_as_make_run_made_it["PORTAL_INSTANCE_DIR"]) / "secrets.json").read_text())
    assert not any(value in answer.stdout for value in stored.values())

    text = okienko("config", "check", env=left_as_make_run_made_it)
    assert text.returncode == 1
    for setting in SANDBOX_ERRORS:
        assert f"ERROR    {setting}\n" in text.stdout
    for setting in SANDBOX_WARNINGS:
        assert f"WARNING  {setting}\n" in text.stdout
    assert text.stdout.count("fix: ") == len(report["problems"])
    assert "the web server refuses to start" in text.stdout


def test_config_check_passes_a_clean_production_configuration(production: dict) -> None:
    """Our own CA's seal, https endpoints off this machine, Redis, PostgreSQL, keys in the environment: exit 0
    even with --strict (no warning either). No database is reached: its host does not exist."""
    answer = okienko("config", "check", "--strict", env=production)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert "no problems found" in answer.stdout
    report = json.loads(okienko("config", "check", "--json", env=production).stdout)
    assert report == {"production": True, "base_url": "https://e.leszno.example", "ok": True, "errors": 0,
                      "warnings": 0, "problems": []}


def test_config_check_exits_0_on_warnings_only_unless_strict(production: dict) -> None:
    """Warnings are printed and do not fail the command (nor stop the server); --strict fails on them too."""
    env = {**production, "PORTAL_TRUSTED_PROXIES": "0"}
    assert okienko("config", "check", env=env).returncode == 0
    strict = okienko("config", "check", "--strict", env=env)
    assert strict.returncode == 1 and "WARNING  PORTAL_TRUSTED_PROXIES" in strict.stdout


# --- each rule, on the pure function -------------------------------------------------------------------

def _problems(env: dict[str, str]) -> list[tuple[str, str, str]]:
    report = config_check.check(portal_config.from_environment(env), env)
    return [(p.setting, p.level, p.problem) for p in report.problems]


# (changed settings, the one problem expected: setting, level, words of its description)
RULES = [
    ({"SANDBOX": "true"}, "SANDBOX", "error", "demo"),
    ({"RESIDENT_OIDC_ISSUER": "http://127.0.0.1:5001/wk"}, "RESIDENT_OIDC_ISSUER", "error", "sandbox"),
    ({"SANDBOX_URL": "https://sandbox.okienko.example", "RESIDENT_OIDC_ISSUER": "https://sandbox.okienko.example/wk"},
     "RESIDENT_OIDC_ISSUER", "error", "sandbox"),
    ({"RESIDENT_OIDC_ISSUER": ""}, "RESIDENT_OIDC_ISSUER", "error", "not set"),
    ({"CLERK_OIDC_ISSUER": "https://localhost:8443/realms/urzad"}, "CLERK_OIDC_ISSUER", "error", "loopback"),
    ({"CLERK_OIDC_ISSUER": "http://idp.leszno.example/realms/urzad"}, "CLERK_OIDC_ISSUER", "error", "not https"),
    ({"TPSIGNING_URL": "http://pz.gov.pl/ep-services/tpSigning5"}, "TPSIGNING_URL", "error", "not https"),
    ({"TPSIGNING_URL": "https://127.0.0.1:5001/tpsigning5"}, "TPSIGNING_URL", "error", "sandbox"),
    ({"TSA_URL": "http://[::1]:3180/tsa"}, "TSA_URL", "error", "loopback"),
    ({"TSA_URL": "http://time.kwalifikowane.example"}, "TSA_URL", "warning", "not https"),
    ({"TSA_URL": ""}, "TSA_URL", "warning", "without a time-stamp"),
    ({"EZDRP_URL": "http://ezd.leszno.example"}, "EZDRP_URL", "error", "not https"),
    ({"WEBHOOK_URL": "https://127.0.0.2/hook"}, "WEBHOOK_URL", "error", "loopback"),
    ({"WEBHOOK_URL": "http://integracja.leszno.example/okienko"}, "WEBHOOK_URL", "error", "not https"),
    ({"REVOCATION_HOSTS": "crl.kwalifikowane.example,127.0.0.1"}, "REVOCATION_HOSTS", "error", "sandbox"),
    ({"REVOCATION_HOSTS": "localhost:8080"}, "REVOCATION_HOSTS", "error", "loopback"),
    ({"RESIDENT_OIDC_CLIENT_SECRET": "okienko-sandbox-secret"}, "RESIDENT_OIDC_CLIENT_SECRET", "error", "demo"),
    ({"CLERK_OIDC_CLIENT_SECRET": "okienko-desk-sandbox-secret"}, "CLERK_OIDC_CLIENT_SECRET", "error", "demo"),
    ({"CLERK_OIDC_CLIENT_SECRET": ""}, "CLERK_OIDC_CLIENT_SECRET", "error", "not set"),
    ({"SECRET_KEY": "dev"}, "SECRET_KEY", "error", "only 3 characters"),
    ({"SECRET_KEY": ""}, "SECRET_KEY", "error", "not set"),
    ({"PII_KEY": base64.b64encode(b"sixteen byte key").decode()}, "PII_KEY", "error", "32 bytes"),
    ({"PII_KEY": "not base64 at all!"}, "PII_KEY", "error", "32 bytes"),
    ({"RATELIMIT_STORAGE": "memory://"}, "RATELIMIT_STORAGE", "error", "memory://"),
    ({"REVOCATION_MODE": "offline"}, "REVOCATION_MODE", "error", "revoked"),
    ({"DATABASE_URL": "sqlite:////var/lib/okienko/okienko.db"}, "DATABASE_URL", "warning", "SQLite"),
    ({"TRUSTED_PROXIES": "0"}, "TRUSTED_PROXIES", "warning", "gunicorn itself terminates TLS"),
    ({"LOG_FORMAT": "text"}, "LOG_FORMAT", "warning", "text"),
    ({"SMTP_HOST": ""}, "SMTP_HOST", "warning", "not sent"),
    ({"SEAL_CERT": "{office}/missing.pem"}, "SEAL_CERT", "error", "does not exist"),
    ({"SEAL_KEY": "{office}"}, "SEAL_KEY", "error", "cannot be read"),  # a folder, not a file
    ({"SEAL_KEY": "{office}/ca.pem"}, "SEAL_KEY", "error", "not an unencrypted PEM private key"),
    ({"SEAL_KEY": "{office}/other.key"}, "SEAL_KEY", "error", "does not belong"),
    ({"SEAL_CERT": "{office}/seal-expired.pem"}, "SEAL_CERT", "error", "expired"),
    ({"SEAL_CERT": "{office}/seal-expiring.pem"}, "SEAL_CERT", "warning", "within 30 days"),
    ({"SEAL_CERT": "{sandbox}/office-seal.pem", "SEAL_KEY": "{sandbox}/office-seal.key"}, "SEAL_CERT", "error",
     "Okienko Sandbox Root CA"),
    ({"TRUSTED_PROFILE_SEALS": ""}, "TRUSTED_PROFILE_SEALS", "error", "not set"),
    ({"TRUSTED_PROFILE_SEALS": "{office}/empty.pem"}, "TRUSTED_PROFILE_SEALS", "error", "no PEM certificate"),
    ({"TRUSTED_PROFILE_SEALS": "{office}/missing.pem"}, "TRUSTED_PROFILE_SEALS", "error", "does not exist"),
    ({"TRUSTED_PROFILE_SEALS": "{sandbox}/tp-seal.pem"}, "TRUSTED_PROFILE_SEALS", "error", "Okienko Sandbox Root CA"),
    ({"TRUSTED_PROFILE_SEALS": "{office}/tp-seal-expired.pem"}, "TRUSTED_PROFILE_SEALS", "error", "valid today"),
    ({"TRUST_ANCHORS": "{sandbox}/ca.pem"}, "TRUST_ANCHORS", "error", "Okienko Sandbox Root CA"),
    ({"TRUST_ANCHORS": ""}, "TRUST_ANCHORS", "warning", "imported into the database"),
    ({"TSL_SIGNERS": "{sandbox}/tsl-signer.pem"}, "TSL_SIGNERS", "error", "Okienko Sandbox Root CA"),
    ({"TPSIGNING_WSSE_CERT": "{sandbox}/office-system.pem", "TPSIGNING_WSSE_KEY": "{sandbox}/office-system.key"},
     "TPSIGNING_WSSE_CERT", "error", "Okienko Sandbox Root CA"),
    ({"TPSIGNING_WSSE_CERT": ""}, "TPSIGNING_WSSE_CERT", "warning", "unsigned"),
    ({"EDORECZENIA_URL": "http://127.0.0.1:5001/edoreczenia"}, "EDORECZENIA_URL", "error", "sandbox"),
    ({"EDORECZENIA_URL": "http://uaa.edoreczenia.example"}, "EDORECZENIA_URL", "error", "not https"),
    ({"EDORECZENIA_CALLBACK_URL": "http://e.leszno.example"}, "EDORECZENIA_CALLBACK_URL", "error", "not https"),
    ({"EDORECZENIA_BAE_URL": "https://localhost/bae"}, "EDORECZENIA_BAE_URL", "error", "loopback"),
    ({"EDORECZENIA_CLIENT_SECRET": "sandbox-edoreczenia-secret"}, "EDORECZENIA_CLIENT_SECRET", "error", "demo"),
    ({"EDORECZENIA_CLIENT_CERT": "{office}/office-system.pem"}, "EDORECZENIA_CLIENT_CERT", "error", "together"),
    ({"EDORECZENIA_ADDRESS": "AE:PL-41058-29316-UMLES-17"}, "EDORECZENIA_ADDRESS", "error", "demo office"),
    ({"EDORECZENIA_ADDRESS": "urzad@leszno.pl"}, "EDORECZENIA_ADDRESS", "error", "not an e-Doręczenia address"),
    ({"EDORECZENIA_EVIDENCE_SEALS": "{sandbox}/edoreczenia-seal.pem"}, "EDORECZENIA_EVIDENCE_SEALS", "error",
     "forge delivery dates"),
    ({"EDORECZENIA_EVIDENCE_SEALS": "{office}/missing.pem"}, "EDORECZENIA_EVIDENCE_SEALS", "error", "no evidence"),
]


@pytest.mark.parametrize(("changes", "setting", "level", "words"), RULES,
                         ids=[f"{r[1]}-{r[2]}-{i}" for i, r in enumerate(RULES)])
def test_each_unsafe_setting_is_found_alone(production: dict, office_pki: Path, pki: Path, changes: dict,
                                            setting: str, level: str, words: str) -> None:
    """A clean production configuration with one thing changed: exactly that one problem, at its level."""
    env = {**production, **{f"PORTAL_{name}": value.format(office=office_pki, sandbox=pki)
                            for name, value in changes.items()}}
    found = _problems(env)
    assert [(s, lv) for s, lv, _ in found] == [(f"PORTAL_{setting}", level)], found
    assert words in found[0][2]


def test_keys_from_instance_secrets_json_are_refused_in_production(production: dict) -> None:
    """The same keys, but found in instance/secrets.json instead of the environment: both refused, with the advice
    to move the value (not make a new one — the stored PESELs and the printed access codes depend on it)."""
    config = portal_config.from_environment(production)
    environ = {k: v for k, v in production.items() if k not in ("PORTAL_SECRET_KEY", "PORTAL_PII_KEY")}
    report = config_check.check(config, environ)
    assert [(p.setting, p.level) for p in report.problems] == [("PORTAL_SECRET_KEY", "error"),
                                                              ("PORTAL_PII_KEY", "error")]
    assert all("secrets.json" in p.problem and "do not make a new one" in p.fix for p in report.problems)


def test_credentials_in_an_address_are_not_repeated_in_the_report(production: dict) -> None:
    """A webhook address carrying a user, password and key: the finding names the address without them, since
    the report goes to the terminal and, at start, to the log."""
    env = {**production, "PORTAL_WEBHOOK_URL": "http://okienko:hunter2-password@integracja.leszno.example/hook?key=k3y"}
    found = _problems(env)
    assert [(s, lv) for s, lv, _ in found] == [("PORTAL_WEBHOOK_URL", "error")]
    assert "http://integracja.leszno.example/hook?…" in found[0][2]
    assert "hunter2" not in found[0][2] and "k3y" not in found[0][2]


def test_a_development_address_is_itself_a_finding_but_nothing_refuses_it(production: dict) -> None:
    """With an http PORTAL_BASE_URL the command says it is not production (exit 1), while the start-up refusal,
    which tests and `make run` pass through, lets it be."""
    env = {**production, "PORTAL_BASE_URL": "http://127.0.0.1:5000"}
    config = portal_config.from_environment(env)
    report = config_check.check(config, env)
    assert [(p.setting, p.level) for p in report.problems] == [("PORTAL_BASE_URL", "error")]
    assert config_check.refuse_unsafe_start(config, env) is None
    with pytest.raises(config_check.UnsafeConfiguration, match="PORTAL_SANDBOX"):
        config_check.refuse_unsafe_start(portal_config.from_environment({**production, "PORTAL_SANDBOX": "1"}),
                                         production)


# --- the web server ------------------------------------------------------------------------------------

def _gunicorn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", "GUNICORN_THREADS": "2"}
    with log.open("w") as sink:
        return subprocess.Popen([str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "portal.wsgi:app"], cwd=REPO,
                                env=env, stdout=sink, stderr=sink)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_gunicorn_refuses_to_start_in_production_with_the_sandbox_settings(left_as_make_run_made_it: dict,
                                                                           tmp_path: Path) -> None:
    """`gunicorn -c gunicorn.conf.py portal.wsgi:app` with PORTAL_BASE_URL=https://… on make run's instance: the
    master logs every error (one JSON line each: PORTAL_LOG_FORMAT=json), stops with exit status 1 before it
    listens or starts a worker, and no traceback is printed."""
    env = {**left_as_make_run_made_it, "PORTAL_LOG_FORMAT": "json"}
    port, log = free_port(), tmp_path / "gunicorn.log"
    process = _gunicorn(env, port, log)
    try:
        assert process.wait(timeout=60) == 1
    finally:
        if process.poll() is None:
            process.kill()
    output = log.read_text()
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    refused = {line["message"].split(": ", 2)[1] for line in lines
               if line["message"].startswith("configuration error: ")}
    assert refused == SANDBOX_ERRORS, output
    assert all(line["level"] == "ERROR" for line in lines if line["message"].startswith("configuration error"))
    assert any("the production configuration check found" in line["message"] for line in lines)
    assert "Traceback" not in output and "Booting worker" not in output and "Listening at" not in output
    assert not _listening(port)


def test_the_wsgi_module_refuses_too_without_gunicorn_conf(left_as_make_run_made_it: dict) -> None:
    """Another WSGI server (or gunicorn without the conf file) imports portal.wsgi: it raises, naming the errors."""
    answer = subprocess.run([sys.executable, "-c", "import portal.wsgi"], env=left_as_make_run_made_it, cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert answer.returncode != 0
    assert "UnsafeConfiguration: refusing to serve" in answer.stderr
    assert "PORTAL_SANDBOX: is true" in answer.stderr and "PORTAL_SEAL_CERT" in answer.stderr


@pytest.fixture
def migrated(database_url: str, production: dict) -> Iterator[dict[str, str]]:
    """The clean production environment on the test database, migrated by `okienko db upgrade` run with it."""
    env = {**production, "PORTAL_DATABASE_URL": database_url, "PORTAL_CATALOG_LOAD_AT_START": "false"}
    upgraded = okienko("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stdout + upgraded.stderr
    yield env


def test_gunicorn_starts_in_production_when_the_check_passes(migrated: dict, tmp_path: Path) -> None:
    """The same start with the clean production settings serves /health; no configuration error is logged (on
    SQLite, PORTAL_TEST_DATABASE_URL=sqlite, its one warning is)."""
    port, log = free_port(), tmp_path / "gunicorn.log"
    process = _gunicorn(migrated, port, log)
    try:
        deadline = datetime.datetime.now() + datetime.timedelta(seconds=60)
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert datetime.datetime.now() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        process.terminate()
        process.wait(timeout=30)
    output = log.read_text()
    assert "configuration error" not in output and "Booting worker" in output
    warned = [json.loads(line)["message"] for line in output.splitlines() if "configuration warning" in line]
    on_sqlite = migrated["PORTAL_DATABASE_URL"].startswith("sqlite")
    assert len(warned) == (1 if on_sqlite else 0) and all("PORTAL_DATABASE_URL" in m for m in warned), warned
