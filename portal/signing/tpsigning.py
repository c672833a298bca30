"""Client of TpSigning5, the trusted-profile signing service (pz.gov.pl or the sandbox, by configuration)."""

from __future__ import annotations

import threading
from pathlib import Path

import requests
import zeep
from zeep.exceptions import Error as ZeepError

WSDL = Path(__file__).parent / "wsdl" / "tpSigning5.wsdl"
BINDING = "{http://signing.ws.comarch.gov}TpSigning5SoapBinding"


class SigningServiceError(RuntimeError):
    """The signing service could not be reached or refused the request."""


class TpSigningClient:
    def __init__(self, endpoint: str, timeout: float = 20) -> None:
        transport = zeep.Transport(timeout=timeout, operation_timeout=timeout)
        settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True, forbid_external=True,
                                 xml_huge_tree=True)
        client = zeep.Client(str(WSDL), transport=transport, settings=settings)
        self._service = client.create_service(BINDING, endpoint)

    def add_document(self, document: bytes, success_url: str, failure_url: str, additional_info: str) -> str:
        """Hand the document over; the answer is the address to send the resident to (and the task's id)."""
        try:
            url = self._service.addDocumentToSigning(doc=document, successURL=success_url, failureURL=failure_url,
                                                     additionalInfo=additional_info)
        except (ZeepError, requests.RequestException) as exc:
            raise SigningServiceError(str(exc)) from exc
        if not url:
            raise SigningServiceError("the signing service returned no address")
        return str(url)

    def signed_document(self, task_url: str) -> bytes | None:
        """The signed document, or None while the resident has not signed."""
        try:
            result = self._service.getSignedDocument(id=task_url)
        except (ZeepError, requests.RequestException) as exc:
            raise SigningServiceError(str(exc)) from exc
        return bytes(result) if result else None


_clients: dict[str, TpSigningClient] = {}
_lock = threading.Lock()


def client(endpoint: str) -> TpSigningClient:
    """Parsing the WSDL takes a while: one client per endpoint per process."""
    with _lock:
        if endpoint not in _clients:
            _clients[endpoint] = TpSigningClient(endpoint)
        return _clients[endpoint]
