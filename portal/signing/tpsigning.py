"""Client of TpSigning5, the trusted-profile signing service (pz.gov.pl or the sandbox, by configuration)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import requests
import xmlsec
import zeep
from zeep.exceptions import Error as ZeepError
from zeep.wsse.signature import BinarySignature

from portal.ops.request_ids import outgoing_headers

WSDL = Path(__file__).parent / "wsdl" / "tpSigning5.wsdl"
BINDING = "{http://signing.ws.comarch.gov}TpSigning5SoapBinding"


class SigningServiceError(RuntimeError):
    """The signing service could not be reached or refused the request."""


class SystemCertificateSignature(BinarySignature):
    """WS-Security: every request signed (RSA-SHA256) with the office's system certificate, which travels
    as a BinarySecurityToken — what pz.gov.pl requires of a relying party.

    Responses are not signature-checked: the service does not sign them; they come over TLS.
    """

    def __init__(self, key_file: str, cert_file: str) -> None:
        super().__init__(key_file, cert_file, signature_method=xmlsec.Transform.RSA_SHA256,
                         digest_method=xmlsec.Transform.SHA256)

    def verify(self, envelope: Any) -> Any:
        return envelope


class TpSigningClient:
    def __init__(self, endpoint: str, wsse_key: str | None = None, wsse_cert: str | None = None,
                 timeout: float = 20) -> None:
        transport = zeep.Transport(timeout=timeout, operation_timeout=timeout)
        settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                                 xml_huge_tree=True)
        wsse = SystemCertificateSignature(wsse_key, wsse_cert) if wsse_key and wsse_cert else None
        client = zeep.Client(str(WSDL), transport=transport, settings=settings, wsse=wsse)
        self._settings = client.settings
        self._service = client.create_service(BINDING, endpoint)

    def _call(self, operation: str, **arguments: Any) -> Any:
        """One SOAP call carrying the request id, so the service's logs and ours name the same request.
        (zeep keeps such per-call settings per thread: the shared client stays safe across threads.)"""
        with self._settings(extra_http_headers=outgoing_headers() or None):
            return getattr(self._service, operation)(**arguments)

    def add_document(self, document: bytes, success_url: str, failure_url: str, additional_info: str) -> str:
        """Hand the document over; the answer is the address to send the resident to (and the task's id)."""
        try:
            url = self._call("addDocumentToSigning", doc=document, successURL=success_url, failureURL=failure_url,
                             additionalInfo=additional_info)
        except (ZeepError, requests.RequestException) as exc:
            raise SigningServiceError(str(exc)) from exc
        if not url:
            raise SigningServiceError("the signing service returned no address")
        return str(url)

    def signed_document(self, task_url: str) -> bytes | None:
        """The signed document, or None while the resident has not signed."""
        try:
            result = self._call("getSignedDocument", id=task_url)
        except (ZeepError, requests.RequestException) as exc:
            raise SigningServiceError(str(exc)) from exc
        return bytes(result) if result else None


_clients: dict[str, TpSigningClient] = {}
_lock = threading.Lock()


def client(endpoint: str, wsse_key: str | None = None, wsse_cert: str | None = None) -> TpSigningClient:
    """Parsing the WSDL takes a while: one client per endpoint and certificate per process."""
    key = f"{endpoint}|{wsse_key}|{wsse_cert}"
    with _lock:
        if key not in _clients:
            _clients[key] = TpSigningClient(endpoint, wsse_key, wsse_cert)
        return _clients[key]
