"""Is this configuration fit to serve residents? `okienko config check`, and the web server's start.

Production is recognised as everywhere else in the portal: by an https PORTAL_BASE_URL (portal/config.py,
`flask_config`). A portal started that way with the sandbox's settings would log residents in at a stand-in
identity provider, seal receipts with a test key, and keep rate limits per process — so the web server
refuses to start (gunicorn.conf.py, portal/wsgi.py) while any *error* below is found; *warnings* are printed
and the server starts.

Each check is a plain function over the settings mapping (what `portal.config.from_environment()` makes)
and the environment it came from, reading only the files the settings name: no database, no network, no
application. The environment is needed for one question the mapping cannot answer — did a key come from
the environment or from instance/secrets.json?

In production the keys (PORTAL_SECRET_KEY, PORTAL_PII_KEY) must come from the environment, which the service
manager fills from a secret file of its own (systemd `EnvironmentFile=` readable by root only, a container
runtime's or Kubernetes' secret). instance/secrets.json is for `make run`: `okienko keys init` makes it on the
machine it runs on, so a second node or a rebuilt one quietly gets *other* keys — its PESEL numbers cannot be
read, the access codes printed on receipts stop working — and it lies in the instance folder beside the
database file, the mail and the spool, where it is copied along with them.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import os
import re
import stat
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from portal import config as portal_config

ERROR = "error"
WARNING = "warning"
# The sandbox's root CA (sandbox/pki.py). Named here, not imported: the portal shares no code with the sandbox.
SANDBOX_CA = "Okienko Sandbox Root CA"
EXPIRY_WARNING = timedelta(days=30)
SHORTEST_SECRET_KEY = 32  # characters; `okienko keys init` makes 64 hex digits (256 bits)

Config = Mapping[str, Any]
Environ = Mapping[str, str]


@dataclass(frozen=True)
class Problem:
    setting: str  # the environment variable, PORTAL_…
    level: str  # ERROR: the web server refuses to start; WARNING: printed only
    problem: str  # what is wrong
    fix: str  # what to do

    def line(self) -> str:
        return f"{self.setting}: {self.problem}. Fix: {self.fix}."


@dataclass
class Report:
    production: bool
    base_url: str
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    def as_dict(self) -> dict[str, Any]:
        return {"production": self.production, "base_url": self.base_url, "ok": not self.errors,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "problems": [asdict(p) for p in self.problems]}

    def as_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2)

    def summary(self) -> str:
        if not self.problems:
            return "no problems found: the configuration is fit for production"
        counts = f"{len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        if self.errors:
            return f"{counts}: in production (an https PORTAL_BASE_URL) the web server refuses to start until the " \
                "errors are fixed"
        return f"{counts}: the web server starts; read the warnings"

    def text(self) -> str:
        lines = [f"Production configuration check (PORTAL_BASE_URL={self.base_url})", ""]
        indent = " " * 9
        for problem in self.problems:
            lines += [f"{problem.level.upper():<8} {problem.setting}",
                      textwrap.fill(problem.problem, 110, initial_indent=indent, subsequent_indent=indent),
                      textwrap.fill(f"fix: {problem.fix}", 110, initial_indent=indent,
                                    subsequent_indent=indent + "     "),
                      ""]
        lines.append(self.summary())
        return "\n".join(lines)


class UnsafeConfiguration(RuntimeError):
    """The web server was started in production with errors in its configuration."""

    def __init__(self, report: Report) -> None:
        self.report = report
        super().__init__("refusing to serve: the production configuration check found "
                         f"{len(report.errors)} error(s):\n" + "\n".join(f"  - {p.line()}" for p in report.errors)
                         + "\n(`okienko config check` lists them and the warnings)")


def is_production(config: Config) -> bool:
    """The same test as portal/config.py's flask_config: production is an https public address."""
    return str(config.get("BASE_URL") or "").startswith("https://")


def check(config: Config, environ: Environ, now: datetime | None = None) -> Report:
    """Every problem of `config` (made from `environ`) for serving residents in production, in the checks' order."""
    now = now or datetime.now(UTC)
    report = Report(production=is_production(config), base_url=str(config.get("BASE_URL") or ""))
    for run in CHECKS:
        report.problems.extend(run(config, environ, now))
    return report


def refuse_unsafe_start(config: Config, environ: Environ) -> Report | None:
    """For the web server: in production, raise UnsafeConfiguration when the check finds an error. Outside
    production (tests, `make run`) nothing is checked and None is returned."""
    if not is_production(config):
        return None
    report = check(config, environ)
    if report.errors:
        raise UnsafeConfiguration(report)
    return report


# --- the checks ------------------------------------------------------------------------------------------

Check = Callable[[Config, Environ, datetime], Iterator[Problem]]


def _name(setting: str) -> str:
    return f"PORTAL_{setting}"


def _error(setting: str, problem: str, fix: str) -> Problem:
    return Problem(_name(setting), ERROR, problem, fix)


def _warning(setting: str, problem: str, fix: str) -> Problem:
    return Problem(_name(setting), WARNING, problem, fix)


def _default(setting: str) -> Any:
    return next(s.default for s in portal_config.SETTINGS if s.name == setting)


def _base_url(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    if not is_production(config):
        yield _error("BASE_URL", f"{config.get('BASE_URL')!r} is not https, so the portal runs as a development "
                     "server (session cookie without Secure, no HSTS, text logs) and its start is not checked",
                     "set PORTAL_BASE_URL to the portal's public https:// address")


def _sandbox_flag(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    if config.get("SANDBOX"):
        yield _error("SANDBOX", "is true: every page shows the SANDBOX banner and the login pages offer the "
                     "demo residents and clerks", "set PORTAL_SANDBOX=false")


# setting → (required, must be https, what to put there)
ENDPOINTS: dict[str, tuple[bool, bool, str]] = {
    "RESIDENT_OIDC_ISSUER": (True, True, "the https address of the office's login.gov.pl (Węzeł Krajowy) "
                             "OpenID Connect broker"),
    "CLERK_OIDC_ISSUER": (True, True, "the https issuer address of the office's own identity provider"),
    "TPSIGNING_URL": (True, True, "https://pz.gov.pl/ep-services/tpSigning5"),
    "TSA_URL": (False, False, "the address of a qualified time-stamping authority"),
    "EZDRP_URL": (False, True, "the EZD RP Integrator's https base address (empty when the ezdrp adapter is not "
                  "used)"),
    "WEBHOOK_URL": (False, True, "the office's integration endpoint over https (empty when the webhook adapter "
                    "is not used)"),
    "EDORECZENIA_URL": (False, True, "the https base address of the office's e-Doręczenia User Agent API, without "
                        "`/api/v1` (empty when the office does not send through e-Doręczenia; docs/edoreczenia.md)"),
}


def _origin(url: str) -> tuple[str, int | None] | None:
    """(host, port) of an address or of a bare host[:port]; None when it names no host."""
    parts = urlsplit(url if "://" in url else "//" + url)
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.hostname.lower(), port or default


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _shown(value: str) -> str:
    """An address as the report may print it (and the log keep): without a user, password or query, which can
    carry credentials (`https://user:token@…`, `?key=…`)."""
    parts = urlsplit(value if "://" in value else "//" + value)
    host = parts.netloc.rsplit("@", 1)[-1]
    shown = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else host + parts.path
    return shown + ("?…" if parts.query else "")


def _points_nowhere_safe(config: Config, value: str) -> str | None:
    """Why an address must not be used in production: the sandbox, or this machine."""
    where = _origin(value)
    if where is None:
        return f"{_shown(value)!r} is not an address"
    sandbox = _origin(str(config.get("SANDBOX_URL") or ""))
    # A bare host in REVOCATION_HOSTS has no port: the sandbox's host alone is enough to match it.
    if sandbox and where[0] == sandbox[0] and where[1] in (sandbox[1], None):
        return f"points at the sandbox (PORTAL_SANDBOX_URL): {_shown(value)}"
    if _is_loopback(where[0]):
        return f"points at this machine (loopback): {_shown(value)}"
    return None


def _endpoints(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    for setting, (required, https_only, wanted) in ENDPOINTS.items():
        value = str(config.get(setting) or "").strip()
        if not value:
            if required:
                yield _error(setting, "is not set", f"set it to {wanted}")
            elif setting == "TSA_URL":
                yield _warning(setting, "is empty: receipts are sealed without a time-stamp (XAdES-BES), so "
                               "nothing but the office's own clock vouches for the time of filing",
                               f"set it to {wanted}")
            continue
        unsafe = _points_nowhere_safe(config, value)
        if unsafe:
            yield _error(setting, unsafe, f"set it to {wanted}")
        elif urlsplit(value).scheme != "https":
            if https_only:
                yield _error(setting, f"is not https: {_shown(value)} (what travels there — tokens, documents, "
                             "personal data — can be read and changed on the way)", f"set it to {wanted}")
            else:
                # RFC 3161 answers are signed, and portal/signing/timestamp.py checks the token against the trust
                # anchors before a receipt carries it: over http an attacker can withhold a time-stamp, not forge
                # one. Many qualified TSAs answer on http only, so this cannot be a reason to refuse to start.
                yield _warning(setting, f"is not https: {_shown(value)} (the token is signed and checked, but the "
                               "request and the answer can be read and withheld on the way)",
                               "use the TSA's https address if it offers one")
    hosts = [h.strip() for h in str(config.get("REVOCATION_HOSTS") or "").split(",") if h.strip()]
    for host in hosts:
        unsafe = _points_nowhere_safe(config, host)
        # CRLs and OCSP answers are signed and commonly served over http: only where they come from matters.
        if unsafe:
            yield _error("REVOCATION_HOSTS", unsafe, "list only the hosts of the CAs' CRL and OCSP services, or "
                         "leave it empty (the hosts the trusted list names are allowed anyway)")


def _client_secrets(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    for prefix, provider in (("RESIDENT", "the residents' provider (login.gov.pl broker)"),
                             ("CLERK", "the office's identity provider")):
        setting = f"{prefix}_OIDC_CLIENT_SECRET"
        value = config.get(setting)
        if not value:
            yield _error(setting, "is not set", f"set it to the client secret registered with {provider}")
        elif value == _default(setting):
            yield _error(setting, "is the sandbox's demo secret, published in the source code",
                         f"set it to the client secret registered with {provider}")


def _from_secrets_file(setting: str, config: Config, environ: Environ) -> bool:
    """A key with a value that the environment did not give came from instance/secrets.json (its default is None)."""
    return bool(config.get(setting)) and _name(setting) not in environ


KEEP_THE_VALUE = ("move the value from {file} into the service's environment (an environment file readable by "
                  "root only, or the platform's secret store), the same on every node — do not make a new one: {why}")


def _kept_in_the_secrets_file(setting: str, why: str) -> Problem:
    """A key made on this machine by `okienko keys init`: moved into the environment, never made anew (`why`)."""
    return _error(setting, f"comes from {portal_config.SECRETS_FILE}, made on this machine by "
                  "`okienko keys init`; in production keys come from the environment",
                  KEEP_THE_VALUE.format(file=portal_config.SECRETS_FILE.name, why=why))


def _secret_key(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    value = str(config.get("SECRET_KEY") or "")
    new = ("set PORTAL_SECRET_KEY in the service's environment to 64 random hex digits "
           "(python -c 'import secrets; print(secrets.token_hex(32))'), the same on every node")
    if not value:
        yield _error("SECRET_KEY", "is not set: the portal cannot sign CSRF tokens nor derive receipts' access "
                     "codes", new)
    elif len(value) < SHORTEST_SECRET_KEY:
        yield _error("SECRET_KEY", f"is only {len(value)} characters long: a short key can be guessed, and with "
                     "it every receipt's access code", new)
    elif _from_secrets_file("SECRET_KEY", config, environ):
        yield _kept_in_the_secrets_file("SECRET_KEY", "the access codes on receipts already issued are derived from it")


def _pii_key(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    value = str(config.get("PII_KEY") or "")
    new = ("set PORTAL_PII_KEY in the service's environment to 32 random bytes in base64 "
           "(python -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())') "
           "on a new installation; an existing one needs the key its data was encrypted with")
    if not value:
        yield _error("PII_KEY", "is not set: PESEL numbers cannot be encrypted", new)
        return
    try:
        length = len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        length = -1
    if length != 32:
        yield _error("PII_KEY", "is not 32 bytes in base64", new)
    elif _from_secrets_file("PII_KEY", config, environ):
        yield _kept_in_the_secrets_file("PII_KEY", "every stored PESEL is encrypted under it")


def _rate_limits(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    storage = str(config.get("RATELIMIT_STORAGE") or "memory://")
    if storage.startswith("memory://"):
        yield _error("RATELIMIT_STORAGE", "is memory://: every gunicorn worker and every node counts for itself, "
                     "so each limit (access-code guesses, logins, filings) is that many times looser",
                     "set it to redis://host:6379 (a Redis every portal process reaches)")


def _revocation(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    mode = str(config.get("REVOCATION_MODE") or "")
    if mode == "offline":
        yield _error("REVOCATION_MODE", "is offline: no signer's certificate is checked for revocation, so a "
                     "signature made with a revoked (stolen) certificate is accepted",
                     "set it to require (or soft-fail)")
    elif mode not in ("require", "soft-fail"):
        yield _error("REVOCATION_MODE", f"is {mode!r}", "set it to require or soft-fail")


def _database(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    if str(config.get("DATABASE_URL") or "").startswith("sqlite"):
        yield _warning("DATABASE_URL", "is SQLite: one machine only, one outbox worker, and writes wait for each "
                       "other", "use PostgreSQL (postgresql://…)")


def _device(path: Path) -> int | None:
    """The device a folder is (or, not made yet, will be) on: that of its nearest existing ancestor."""
    for candidate in (path, *path.parents):
        try:
            return candidate.stat().st_dev
        except OSError:
            continue
    return None


def _spool_volume(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    name, _, root = str(config.get("BLOB_STORE") or "").partition(":")
    spool = str(config.get("SPOOL_DIR") or "")
    if name != "filesystem" or not root or not spool:
        return
    store_device, spool_device = _device(Path(root).absolute()), _device(Path(spool).absolute())
    if store_device is not None and store_device == spool_device:
        yield _warning("SPOOL_DIR", f"is on the same volume as the document store ({root}): when that "
                       "volume fills up, the store refuses a signed document and the spool cannot keep it for a "
                       "retry either, so the resident has to sign again",
                       "put PORTAL_SPOOL_DIR on another volume (docs/operations.md, \"When something fails\")")


def _proxies(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    if int(config.get("TRUSTED_PROXIES") or 0) == 0:
        yield _warning("TRUSTED_PROXIES", "is 0: right only if gunicorn itself terminates TLS (certfile/keyfile); "
                       "behind a TLS-terminating proxy the portal sees plain http (no HSTS) and counts every rate "
                       "limit against the proxy's address", "behind one proxy set PORTAL_TRUSTED_PROXIES=1")


def _logs(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    chosen = str(config.get("LOG_FORMAT") or "auto").strip().lower()
    if chosen == "text":
        yield _warning("LOG_FORMAT", "is text: lines for a person at a terminal, which a log store cannot split "
                       "into fields (request ids, status, duration)", "set it to json, or auto")
    elif chosen not in ("json", "auto"):
        yield _error("LOG_FORMAT", f"is {chosen!r}", "set it to json, text or auto")


def _mail(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    if not config.get("SMTP_HOST"):
        yield _warning("SMTP_HOST", "is empty: notices to residents and clerks are written to PORTAL_MAIL_DIR, "
                       "not sent", "set it to the office's SMTP server")


# --- certificates and keys -------------------------------------------------------------------------------

class _Unusable(Exception):
    pass


def _read(setting: str, config: Config) -> bytes:
    value = str(config.get(setting) or "").strip()
    if not value:
        raise _Unusable("is not set")
    try:
        return Path(value).read_bytes()
    except FileNotFoundError:
        raise _Unusable(f"names a file that does not exist: {value}") from None
    except OSError as exc:
        raise _Unusable(f"cannot be read: {value} ({exc.strerror or exc})") from None


def _certificates(setting: str, config: Config) -> list[x509.Certificate]:
    data = _read(setting, config)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError:
        certificates = []
    if not certificates:
        raise _Unusable(f"holds no PEM certificate: {config.get(setting)}")
    return certificates


def _common_name(name: x509.Name) -> str:
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(values[0].value) if values else name.rfc4514_string()


def _is_sandboxs(certificate: x509.Certificate) -> bool:
    return SANDBOX_CA in (_common_name(certificate.issuer), _common_name(certificate.subject))


def _public_bytes(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _seal(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    fix = ("point PORTAL_SEAL_CERT and PORTAL_SEAL_KEY at the office's qualified electronic seal (PEM certificate "
           "and its unencrypted PEM key, readable by the portal's user only)")
    try:
        certificate = _certificates("SEAL_CERT", config)[0]
    except _Unusable as unusable:
        yield _error("SEAL_CERT", f"{unusable}: no receipt can be sealed", fix)
        certificate = None
    try:
        key = serialization.load_pem_private_key(_read("SEAL_KEY", config), password=None)
    except _Unusable as unusable:
        yield _error("SEAL_KEY", f"{unusable}: no receipt can be sealed", fix)
        key = None
    except (ValueError, TypeError, UnsupportedAlgorithm):
        yield _error("SEAL_KEY", f"is not an unencrypted PEM private key: {config.get('SEAL_KEY')}", fix)
        key = None
    else:
        mode = os.stat(str(config["SEAL_KEY"])).st_mode
        if mode & (stat.S_IRWXO | stat.S_IWGRP):
            yield _warning("SEAL_KEY", f"may be read or changed by other users (mode {stat.filemode(mode)})",
                           f"chmod 600 {config['SEAL_KEY']} (or 640, owned by the portal's group)")
    if certificate is None:
        return
    if _is_sandboxs(certificate):
        yield _error("SEAL_CERT", f"is the sandbox's seal (issued by {SANDBOX_CA}): receipts sealed with it prove "
                     "nothing to anyone", fix)
    if certificate.not_valid_after_utc <= now:
        yield _error("SEAL_CERT", f"expired on {certificate.not_valid_after_utc:%Y-%m-%d}: receipts sealed with it "
                     "do not verify", "renew the seal certificate and point PORTAL_SEAL_CERT/KEY at the new one "
                     "(keep the old one in PORTAL_SEAL_CERTS)")
    elif certificate.not_valid_before_utc > now:
        yield _error("SEAL_CERT", f"is valid only from {certificate.not_valid_before_utc:%Y-%m-%d}", fix)
    elif certificate.not_valid_after_utc - now <= EXPIRY_WARNING:
        yield _warning("SEAL_CERT", f"expires on {certificate.not_valid_after_utc:%Y-%m-%d}, within "
                       f"{EXPIRY_WARNING.days} days", "order the new seal certificate now; on the day, point "
                       "PORTAL_SEAL_CERT/KEY at it and keep the old one in PORTAL_SEAL_CERTS")
    if key is not None and _public_bytes(certificate.public_key()) != _public_bytes(key.public_key()):
        yield _error("SEAL_KEY", "does not belong to PORTAL_SEAL_CERT: receipts sealed with it do not verify",
                     "point PORTAL_SEAL_KEY at the private key of the certificate in PORTAL_SEAL_CERT")


def _pinned(setting: str, what: str, fix: str, config: Config, required: bool = True, missing: str = ERROR,
            sandbox_harm: str = "") -> Iterator[Problem]:
    """A PEM file of certificates the portal trusts for one purpose: present, readable, and not the sandbox's.
    `missing` is the level of a file that is named but cannot be used; an unset one matters only when `required`."""
    try:
        certificates = _certificates(setting, config)
    except _Unusable as unusable:
        if required or str(unusable) != "is not set":
            yield Problem(_name(setting), missing, f"{unusable}: {what}", fix)
        return
    sandbox = [c for c in certificates if _is_sandboxs(c)]
    if sandbox:
        yield _error(setting, f"holds the sandbox's certificate {_common_name(sandbox[0].subject)!r} (issued by "
                     f"{SANDBOX_CA}){sandbox_harm}", fix)


def _trusted_profile(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    fix = ("put the trusted-profile service's (pz.gov.pl's) seal certificate(s) in a PEM file and point "
           "PORTAL_TRUSTED_PROFILE_SEALS at it")
    yield from _pinned("TRUSTED_PROFILE_SEALS", "no trusted-profile signature can name its signer", fix, config,
                       sandbox_harm=": whoever holds the sandbox's key can sign in any resident's name")
    try:
        certificates = _certificates("TRUSTED_PROFILE_SEALS", config)
    except _Unusable:
        return
    valid = [c for c in certificates if c.not_valid_before_utc <= now < c.not_valid_after_utc]
    if not valid:
        yield _error("TRUSTED_PROFILE_SEALS", "holds no certificate valid today: every trusted-profile signature "
                     "would be refused", fix)
    elif max(c.not_valid_after_utc for c in valid) - now <= EXPIRY_WARNING:
        yield _warning("TRUSTED_PROFILE_SEALS", f"its newest certificate expires within {EXPIRY_WARNING.days} days",
                       "add the trusted-profile service's next seal certificate to the file")


def _trust(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    harm = ": signatures made with the sandbox's test certificates, whose keys lie in any checkout, are trusted"
    value = str(config.get("TRUST_ANCHORS") or "").strip()
    if not value or not Path(value).is_file():
        # Not an error: the anchors may all come from the trusted list in the database (`okienko trust import`).
        yield _warning("TRUST_ANCHORS", f"no file{f' at {value}' if value else ''}: only the anchors imported into "
                       "the database count", "check `okienko trust list`; import the trusted list with "
                       "`okienko trust import`")
    else:
        yield from _pinned("TRUST_ANCHORS", "no signature can be trusted", "point PORTAL_TRUST_ANCHORS at the "
                           "qualified CAs' root certificates, or at nothing and import the trusted list "
                           "(`okienko trust import`)", config, sandbox_harm=harm)
    yield from _pinned("TSL_SIGNERS", "no trusted list can be imported", "point PORTAL_TSL_SIGNERS at the Polish "
                       "trusted-list operator's certificate(s), from the EU list of trusted lists", config,
                       required=False, missing=WARNING,
                       sandbox_harm=": a trusted list signed with the sandbox's key is imported")
    wsse = "point PORTAL_TPSIGNING_WSSE_CERT/KEY at the office's system certificate registered with pz.gov.pl"
    if not str(config.get("TPSIGNING_WSSE_CERT") or "").strip():
        yield _warning("TPSIGNING_WSSE_CERT", "is empty: TpSigning5 requests go unsigned (no WS-Security), which "
                       "pz.gov.pl refuses", wsse)
    yield from _pinned("TPSIGNING_WSSE_CERT", "TpSigning5 requests cannot be signed", wsse, config, required=False,
                       sandbox_harm=": pz.gov.pl refuses requests signed with it")


def _edoreczenia(config: Config, environ: Environ, now: datetime) -> Iterator[Problem]:
    """The e-Doręczenia channel, when it is on (PORTAL_EDORECZENIA_URL set): its derived endpoints, the office's
    registered client, its address and the provider seals that vouch for every legal date (docs/edoreczenia.md)."""
    if not str(config.get("EDORECZENIA_URL") or "").strip():
        return
    for setting, wanted in (("EDORECZENIA_TOKEN_URL", "the token endpoint of the e-Doręczenia authorisation server"),
                            ("EDORECZENIA_BAE_URL", "the https address of the BAE search"),
                            ("EDORECZENIA_CALLBACK_URL", "the portal's public https address, or nothing (then the "
                             "worker polls)")):
        value = str(config.get(setting) or "").strip()
        if not value:
            continue  # derived from PORTAL_EDORECZENIA_URL, checked above, or (the callback) simply off
        unsafe = _points_nowhere_safe(config, value)
        if unsafe:
            yield _error(setting, unsafe, f"set it to {wanted}")
        elif urlsplit(value).scheme != "https":
            yield _error(setting, f"is not https: {_shown(value)}", f"set it to {wanted}")
    secret = config.get("EDORECZENIA_CLIENT_SECRET")
    if secret and secret == _default("EDORECZENIA_CLIENT_SECRET"):
        yield _error("EDORECZENIA_CLIENT_SECRET", "is the sandbox's demo secret, published in the source code",
                     "set it to the secret of the office's system registered with e-Doręczenia, or leave it empty "
                     "when the system authenticates by its certificate alone")
    if bool(config.get("EDORECZENIA_CLIENT_CERT")) != bool(config.get("EDORECZENIA_CLIENT_KEY")):
        yield _error("EDORECZENIA_CLIENT_CERT", "and PORTAL_EDORECZENIA_CLIENT_KEY must be set together",
                     "point both at the office's system certificate and its private key (PEM)")
    for setting in ("EDORECZENIA_CLIENT_CERT", "EDORECZENIA_CLIENT_KEY"):
        if config.get(setting):
            try:
                _read(setting, config)
            except _Unusable as exc:
                yield _error(setting, str(exc), "point it at the office's system certificate / key (PEM)")
    address = str(config.get("EDORECZENIA_ADDRESS") or "")
    if not re.fullmatch(r"AE:PL-\d{5}-\d{5}-[A-Z]{5}-\d{2}", address):
        yield _error("EDORECZENIA_ADDRESS", f"is not an e-Doręczenia address: {_shown(address)!r}",
                     "set it to the office's address from the BAE, e.g. AE:PL-12345-67890-ABCDE-12")
    elif address == _default("EDORECZENIA_ADDRESS"):
        yield _error("EDORECZENIA_ADDRESS", "is the sandbox's demo office address",
                     "set it to the office's own address from the BAE")
    yield from _pinned("EDORECZENIA_EVIDENCE_SEALS", "no evidence can be trusted, so no letter gets a delivery date",
                       "put the e-Doręczenia provider's seal certificate(s) in a PEM file and point "
                       "PORTAL_EDORECZENIA_EVIDENCE_SEALS at it", config,
                       sandbox_harm=": whoever holds the sandbox's key can forge delivery dates")


CHECKS: list[Check] = [
    _base_url, _sandbox_flag, _endpoints, _client_secrets, _secret_key, _pii_key, _rate_limits, _seal,
    _trusted_profile, _trust, _revocation, _database, _spool_volume, _proxies, _logs, _mail, _edoreczenia,
]
