"""The TpSigning5 client (zeep, WS-Security) against the sandbox service, which checks what
pz.gov.pl checks: a request signed with a system certificate its CA issued."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from portal.signing import tpsigning, verify

DOCUMENT = '<?xml version="1.0" encoding="UTF-8"?><Dokument xmlns="urn:test"><a>zażółć</a></Dokument>'.encode()
REPO = Path(__file__).resolve().parents[2]


def test_signed_request_is_accepted_and_the_signed_document_comes_back(sandbox_url: str, pki: Path) -> None:
    client = tpsigning.TpSigningClient(f"{sandbox_url}/tpsigning5", str(pki / "office-system.key"),
                                       str(pki / "office-system.pem"))
    url = client.add_document(DOCUMENT, "http://127.0.0.1/ok", "http://127.0.0.1/anuluj", "Test")
    assert url.startswith(f"{sandbox_url}/tpsigning5/podpis/")
    assert client.signed_document(url) is None  # not confirmed yet
    confirmed = requests.post(url, data={"account": "80010112357"}, allow_redirects=False, timeout=10)
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "http://127.0.0.1/ok"
    signed = client.signed_document(url)
    verdict = verify.verify(signed, verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="offline",
                                                                trusted_profile_seals=(pki / "tp-seal.pem",)),
                            expected_document=DOCUMENT, resident_pesel="80010112357")
    assert verdict.valid and verdict.signer.source == "EPSignature"


def test_the_podpiszp_format_is_read_as_well(sandbox_url: str, pki: Path) -> None:
    requests.post(f"{sandbox_url}/tpsigning5/settings", data={"role_format": "PodpisZP"}, timeout=10)
    try:
        client = tpsigning.TpSigningClient(f"{sandbox_url}/tpsigning5", str(pki / "office-system.key"),
                                           str(pki / "office-system.pem"))
        url = client.add_document(DOCUMENT, "http://127.0.0.1/ok", "http://127.0.0.1/anuluj", "Test")
        requests.post(url, data={"account": "92051702482"}, allow_redirects=False, timeout=10)
        verdict = verify.verify(client.signed_document(url),
                                verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="offline",
                                                                trusted_profile_seals=(pki / "tp-seal.pem",)),
                                resident_pesel="92051702482")
        assert verdict.valid and verdict.signer.source == "PodpisZP" and verdict.signer.name == "Anna Nowak"
    finally:
        requests.post(f"{sandbox_url}/tpsigning5/settings", data={"role_format": "EPSignature"}, timeout=10)


def test_an_unsigned_request_is_refused(sandbox_url: str) -> None:
    client = tpsigning.TpSigningClient(f"{sandbox_url}/tpsigning5")
    with pytest.raises(tpsigning.SigningServiceError, match="WS-Security header missing"):
        client.add_document(DOCUMENT, "http://127.0.0.1/ok", "http://127.0.0.1/anuluj", "Test")


def test_a_request_signed_by_a_stranger_is_refused(sandbox_url: str, tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "sandbox", "pki", str(tmp_path)], check=True, capture_output=True, cwd=REPO)
    client = tpsigning.TpSigningClient(f"{sandbox_url}/tpsigning5", str(tmp_path / "office-system.key"),
                                       str(tmp_path / "office-system.pem"))
    with pytest.raises(tpsigning.SigningServiceError, match="not issued by the trusted CA"):
        client.add_document(DOCUMENT, "http://127.0.0.1/ok", "http://127.0.0.1/anuluj", "Test")


def test_an_unknown_task_is_a_fault_not_a_document(sandbox_url: str, pki: Path) -> None:
    client = tpsigning.TpSigningClient(f"{sandbox_url}/tpsigning5", str(pki / "office-system.key"),
                                       str(pki / "office-system.pem"))
    with pytest.raises(tpsigning.SigningServiceError):
        client.signed_document(f"{sandbox_url}/tpsigning5/podpis/{base64.urlsafe_b64encode(b'x' * 18).decode()}")
