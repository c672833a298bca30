"""Certificate paths and revocation, for every signature the portal checks (XAdES and PAdES alike).

Two rules keep a verification from being a way to make the portal reach out to the network:

- nothing is fetched for a certificate that does not already lead to a trust anchor with the
  certificates at hand (`path_to_anchor`, which never fetches, runs first);
- what is fetched afterwards (CRLs, OCSP answers, issuer certificates) comes only from hosts the
  trusted list or the configuration names, with short time-outs and a bound on the number of
  requests per verification (`Fetching`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import (
    InvalidCertificateError,
    PathBuildingError,
    PathValidationError,
    RevokedError,
)
from pyhanko_certvalidator.fetchers.api import Fetchers, FetchLimits
from pyhanko_certvalidator.fetchers.common_utils import FetchBudget
from pyhanko_certvalidator.fetchers.requests_fetchers.cert_fetch_client import RequestsCertificateFetcher
from pyhanko_certvalidator.fetchers.requests_fetchers.crl_client import RequestsCRLFetcher
from pyhanko_certvalidator.fetchers.requests_fetchers.ocsp_client import RequestsOCSPFetcher

from portal.ops.request_ids import outgoing_headers


class PathRefused(Exception):
    """The path does not hold; `code` is one of the verifier's reason codes."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)


@dataclass(frozen=True)
class Fetching:
    """Where and how much revocation data one verification may fetch."""

    hosts: frozenset[str] = frozenset()  # "host" or "host:port", lower case
    max_requests: int = 6
    timeout_seconds: float = 5.0


def host_of(url_or_host: str) -> str:
    """`https://Crl.Example.pl:8443/x.crl` → `crl.example.pl:8443`; a bare host is taken as it is."""
    text = url_or_host.strip()
    parts = urlsplit(text if "//" in text else f"//{text}")
    host = (parts.hostname or "").lower()
    return f"{host}:{parts.port}" if parts.port else host


def hosts(values: Iterable[str]) -> frozenset[str]:
    return frozenset(h for h in (host_of(v) for v in values if v and v.strip()) if h)


def may_fetch(url: str, allowed: frozenset[str]) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    # "host" allows every port of that host, "host:port" only that port.
    return host_of(url) in allowed or parts.hostname.lower() in allowed


class FetchRefused(requests.RequestException):
    pass


@dataclass
class _Answer:
    """What pyhanko's fetchers read of a response."""

    status_code: int
    headers: dict[str, str]
    content: bytes


# CRLs and issuer certificates (GET) are kept for ten minutes per process: a busy portal does not
# download the same CRL for every submission, and a newly revoked certificate is still seen soon.
GET_CACHE_SECONDS = 600
_get_cache: dict[str, tuple[float, _Answer]] = {}
_get_cache_lock = threading.Lock()


def forget_fetched() -> None:
    with _get_cache_lock:
        _get_cache.clear()


class _Guarded:
    """Every request a fetcher makes goes through here: allowed hosts only, short time-outs."""

    allowed: frozenset[str] = frozenset()
    per_request_timeout: float

    def _get(self, url: str, *, acceptable_content_types: Any) -> Awaitable[_Answer]:
        allowed = self.allowed

        def task() -> _Answer:
            if not may_fetch(url, allowed):
                raise FetchRefused(f"not fetched: {host_of(url) or url} is not a host the trust settings name")
            now = time.monotonic()
            with _get_cache_lock:
                cached = _get_cache.get(url)
            if cached is not None and cached[0] > now:
                return cached[1]
            response = requests.get(url, timeout=self.per_request_timeout, allow_redirects=False,
                                    headers={"Accept": ",".join(acceptable_content_types), **outgoing_headers()})
            if response.status_code != 200:
                raise requests.RequestException(f"status code {response.status_code}")
            answer = _Answer(200, dict(response.headers), response.content)
            with _get_cache_lock:
                if len(_get_cache) > 256:
                    _get_cache.clear()
                _get_cache[url] = (now + GET_CACHE_SECONDS, answer)
            return answer

        return asyncio.to_thread(task)

    def _post(self, url: str, data: bytes, *, content_type: str, acceptable_content_types: Any) -> Awaitable[_Answer]:
        allowed = self.allowed

        def task() -> _Answer:
            if not may_fetch(url, allowed):
                raise FetchRefused(f"not fetched: {host_of(url) or url} is not a host the trust settings name")
            response = requests.post(url, data=data, timeout=self.per_request_timeout, allow_redirects=False,
                                     headers={"Content-Type": content_type, **outgoing_headers(),
                                              "Accept": ",".join(acceptable_content_types)})
            if response.status_code != 200:
                raise requests.RequestException(f"status code {response.status_code}")
            return _Answer(200, dict(response.headers), response.content)

        return asyncio.to_thread(task)


class _CRLs(_Guarded, RequestsCRLFetcher):
    pass


class _OCSP(_Guarded, RequestsOCSPFetcher):
    pass


class _Issuers(_Guarded, RequestsCertificateFetcher):
    pass


def budget(fetching: Fetching) -> FetchBudget:
    """The requests one verification may make, shared by all its signatures."""
    return FetchBudget(FetchLimits(max_requests=fetching.max_requests, max_cert_requests=2,
                                   max_aia_urls_per_object=2))


def fetchers(fetching: Fetching, shared: FetchBudget | None = None) -> Fetchers:
    """Fresh fetchers for one verification, spending `shared` (or a budget of their own)."""
    spent = shared or budget(fetching)
    made = []
    for kind in (_OCSP, _CRLs, _Issuers):
        fetcher = kind(per_request_timeout=fetching.timeout_seconds, budget=spent)
        fetcher.allowed = fetching.hosts
        made.append(fetcher)
    return Fetchers(ocsp_fetcher=made[0], crl_fetcher=made[1], cert_fetcher=made[2])


def run_coroutine(coroutine: Any) -> Any:
    """pyhanko-certvalidator is asynchronous; the portal is not. Run it on a loop of its own, in a
    helper thread when the calling thread already runs one (an async server, a test harness)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _loaded(ders: Iterable[bytes]) -> list[asn1_x509.Certificate]:
    return [asn1_x509.Certificate.load(der) for der in ders]


MAX_PATH_LENGTH = 6  # certificates from the signer to an anchor: qualified providers need two or three


def path_to_anchor(chain: list[bytes], anchors: Iterable[bytes]) -> list[bytes] | None:
    """The certificates from the signer's (chain[0]) up to, not including, an anchor — or None when the
    certificates at hand lead to no anchor.

    A walk from issuer to issuer, each link's signature checked: a certificate that merely names a trusted
    CA as its issuer, signed by any key, leads nowhere. Nothing is fetched and no validity period or
    revocation is looked at: this says whether the rest of the work (digests, canonicalisation,
    revocation) is worth doing at all, and which certificates the full validation is given. Bounded whatever
    the input: each certificate is tried as a link at most once, so many certificates with one name cost a
    handful of signature checks, not a search over their orderings.
    """
    try:
        certs = [x509.load_der_x509_certificate(der) for der in chain]
        roots = [x509.load_der_x509_certificate(der) for der in anchors]
    except ValueError:
        return None
    root_ders = {root.public_bytes(serialization.Encoding.DER) for root in roots}
    current, path, tried = certs[0], [chain[0]], set()
    for _ in range(MAX_PATH_LENGTH):
        if current.public_bytes(serialization.Encoding.DER) in root_ders:
            return path  # the signer's certificate is itself an anchor (an administrator's pin)
        issuer = None
        for candidate in [*roots, *certs[1:]]:
            der = candidate.public_bytes(serialization.Encoding.DER)
            if der in tried or candidate.subject != current.issuer:
                continue
            tried.add(der)
            try:
                current.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature):
                continue
            issuer = candidate
            break
        if issuer is None:
            return None
        der = issuer.public_bytes(serialization.Encoding.DER)
        if der in root_ders:
            return path
        path.append(der)
        current = issuer
    return None


def context(anchors: Iterable[bytes], revocation_mode: str, fetching: Fetching, *,
            moment: datetime | None = None, other_certs: Iterable[bytes] = (),
            shared: FetchBudget | None = None) -> ValidationContext:
    """A validation context whose fetching obeys `fetching` (`offline`: nothing at all)."""
    offline = revocation_mode == "offline"
    return ValidationContext(
        trust_roots=_loaded(anchors),
        other_certs=_loaded(other_certs),
        allow_fetching=not offline,
        revocation_mode="soft-fail" if offline else revocation_mode,
        fetchers=None if offline else fetchers(fetching, shared),
        moment=moment,
    )


def validate(chain: list[bytes], anchors: Iterable[bytes], revocation_mode: str, fetching: Fetching,
             moment: datetime | None = None, shared: FetchBudget | None = None) -> list[str]:
    """The validated path's subjects, anchor first; raises PathRefused with the reason otherwise."""
    loaded = _loaded(chain)
    validation = context(anchors, revocation_mode, fetching, moment=moment, shared=shared)
    validator = CertificateValidator(loaded[0], intermediate_certs=loaded[1:], validation_context=validation)
    try:
        # Qualified certificates often carry only nonRepudiation: no key usage is demanded here.
        path = run_coroutine(validator.async_validate_usage(key_usage=set()))
    except RevokedError as exc:
        raise PathRefused("revoked") from exc
    except PathBuildingError as exc:
        raise PathRefused("untrusted") from exc
    except InvalidCertificateError as exc:
        raise PathRefused("expired" if "expired" in str(exc) or "not valid" in str(exc) else "untrusted") from exc
    except PathValidationError as exc:
        message = str(exc).lower()
        if "revocation" in message:
            raise PathRefused("revocation_unknown") from exc
        if "expired" in message or "not valid until" in message:
            raise PathRefused("expired") from exc
        raise PathRefused("untrusted") from exc
    return [cert.subject.human_friendly for cert in path]
