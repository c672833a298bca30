"""A small client of the e-Doręczenia User Agent API (../shared/specs/edoreczenia-ua-api-3.0.8.1.yaml).

One `Client` per process and mailbox: it holds the office's address (`PORTAL_EDORECZENIA_ADDRESS`), gets an
OAuth 2.0 token by client credentials and keeps it until shortly before it expires. In production the office's
system certificate is presented over mutual TLS (`cert=` of requests); the sandbox ignores it.

Every call has a time-out. Failures are two exceptions, so the callers (the outbox's dispatch, the evidence poll,
the incoming fetch) decide alike: `Transient` (connection refused or reset, time-out, 5xx, 408/425/429, a
refused token) is tried again later; `Refused` (any other 4xx: the service read the request and said no) is not.
The service's own words (ErrorInfo `error`, `error_description`) are in the message of both.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

API = "/api/v1"
RETRIED_CLIENT_ERRORS = {401, 408, 425, 429}
TOKEN_MARGIN_SECONDS = 60  # a token is renewed this long before the service says it expires


class EdoError(Exception):
    """A call to e-Doręczenia did not succeed."""

    def __init__(self, message: str, http_status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.error = error


class Transient(EdoError):
    """Try again later: the service could not be reached, was too slow, or answered 5xx/429."""


class Refused(EdoError):
    """The service refused the request as it is (4xx); asking again the same way will not help."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    content_type: str = "application/pdf"

    @property
    def sha3(self) -> str:
        return hashlib.sha3_256(self.content).hexdigest()

    @property
    def file_id(self) -> str:
        """The spec's FileMetadata requires a `fileId`; derived from the content, so a retry names it alike."""
        return str(uuid.UUID(self.sha3[:32])).upper()

    def as_json(self) -> dict[str, Any]:
        metadata = {"fileId": self.file_id, "filename": self.filename, "contentType": self.content_type,
                    "size": len(self.content), "alg": "SHA-3", "hash": self.sha3}
        return {"file": {"fileMetadata": metadata, "file": base64.b64encode(self.content).decode("ascii")}}


@dataclass(frozen=True)
class Settings:
    """What the client needs; `from_config` reads it from the portal's settings (portal/config.py)."""

    url: str  # base of the service, up to (not including) /api/v1
    token_url: str
    client_id: str
    client_secret: str
    address: str  # the office's own AE:PL-… address
    bae_url: str = ""  # base of the BAE search, up to (not including) /api/v1/addresses
    client_cert: str = ""
    client_key: str = ""
    timeout: float = 15.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        url = str(config.get("EDORECZENIA_URL") or "").rstrip("/")
        return cls(url=url, token_url=str(config.get("EDORECZENIA_TOKEN_URL") or f"{url}/oauth2/token"),
                   client_id=str(config.get("EDORECZENIA_CLIENT_ID") or ""),
                   client_secret=str(config.get("EDORECZENIA_CLIENT_SECRET") or ""),
                   address=str(config.get("EDORECZENIA_ADDRESS") or ""),
                   bae_url=str(config.get("EDORECZENIA_BAE_URL") or f"{url}/bae").rstrip("/"),
                   client_cert=str(config.get("EDORECZENIA_CLIENT_CERT") or ""),
                   client_key=str(config.get("EDORECZENIA_CLIENT_KEY") or ""),
                   timeout=float(config.get("EDORECZENIA_TIMEOUT") or 15))


def enabled(config: Mapping[str, Any]) -> bool:
    """The channel is on when PORTAL_EDORECZENIA_URL is set."""
    return bool(str(config.get("EDORECZENIA_URL") or "").strip())


def _explain(response: requests.Response) -> tuple[str, str | None]:
    """The service's own words from an ErrorInfo answer, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return (response.text[:300].strip() or response.reason or ""), None
    if isinstance(body, dict):
        error = body.get("error")
        words = " ".join(str(body[k]) for k in ("error", "error_description") if body.get(k))
        return words or str(body)[:300], str(error) if error else None
    return str(body)[:300], None


class Client:
    """The UA API calls Okienko makes, for the office's mailbox."""

    def __init__(self, settings: Settings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.http = session or requests.Session()
        if settings.client_cert:
            self.http.cert = (settings.client_cert, settings.client_key) if settings.client_key \
                else settings.client_cert
        self._token: str | None = None
        self._token_until = 0.0
        self._lock = threading.Lock()

    # --- transport -----------------------------------------------------------------------------------

    def _call(self, method: str, url: str, *, expect_json: bool = True, auth: bool = True,
              **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.settings.timeout)
        headers = dict(kwargs.pop("headers", None) or {})
        if auth:
            headers["Authorization"] = f"Bearer {self.token()}"
        try:
            response = self.http.request(method, url, headers=headers, **kwargs)
        except requests.Timeout as exc:
            raise Transient(f"e-Doręczenia did not answer {method} {url} in {kwargs['timeout']} s") from exc
        except requests.RequestException as exc:
            raise Transient(f"e-Doręczenia could not be reached ({method} {url}): {exc}") from exc
        if response.status_code == 401 and auth:
            self.forget_token()  # a revoked or expired token: the next attempt gets a new one
        if response.status_code >= 500 or response.status_code in RETRIED_CLIENT_ERRORS:
            words, error = _explain(response)
            raise Transient(f"e-Doręczenia answered {response.status_code} to {method} {url}: {words}",
                            response.status_code, error)
        if response.status_code >= 400:
            words, error = _explain(response)
            raise Refused(f"e-Doręczenia refused {method} {url} ({response.status_code}): {words}",
                          response.status_code, error)
        if not expect_json:
            return response
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise Transient(f"e-Doręczenia answered {method} {url} with something other than JSON") from exc

    def token(self) -> str:
        """A Bearer token for the office's client, fetched by client credentials and kept until near expiry."""
        with self._lock:
            if self._token and time.monotonic() < self._token_until:
                return self._token
            body = self._call("POST", self.settings.token_url, auth=False,
                              data={"grant_type": "client_credentials", "client_id": self.settings.client_id,
                                    "client_secret": self.settings.client_secret})
            if not isinstance(body, dict) or not body.get("access_token"):
                raise Transient("e-Doręczenia's token endpoint gave no access_token")
            lifetime = float(body.get("expires_in") or 300)
            self._token = str(body["access_token"])
            self._token_until = time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, lifetime / 2)
            return self._token

    def forget_token(self) -> None:
        self._token, self._token_until = None, 0.0

    def _mailbox(self, address: str | None = None) -> str:
        # AE:PL-… contains colons: percent-encoded whole, as a single path segment.
        return f"{self.settings.url}{API}/{quote(address or self.settings.address, safe='')}"

    @staticmethod
    def _segment(value: str) -> str:
        return quote(str(value), safe="")

    # --- sending -------------------------------------------------------------------------------------

    def send_message(self, *, to: str | None, subject: str, text: str = "",
                     attachments: Iterable[Attachment] = (), additional: Mapping[str, str] | None = None,
                     hybrid_address: Mapping[str, Any] | None = None, recipient_name: str | None = None,
                     ) -> str:
        """Send a message from the office; returns the task id (`messageTaskId`) of the 202 answer.

        `to` is the recipient's AE address (electronic); for the public hybrid service (printed and posted) pass
        `hybrid_address` (the spec's postal Address) instead.
        """
        recipient: dict[str, Any] = {}
        if hybrid_address is not None:
            recipient["address"] = dict(hybrid_address)
        if to:
            recipient["eDeliveryAddress"] = to
        if recipient_name:
            recipient["name"] = recipient_name
        message = {
            "messageMetadata": {
                "shippingService": "hybrid" if hybrid_address is not None else "electronic",
                "from": {"eDeliveryAddress": self.settings.address},
                "to": [recipient],
                "subject": subject,
                "additionalData": dict(additional or {}),
            },
            "textBody": text,
            "attachments": [a.as_json() for a in attachments],
        }
        body = self._call("POST", f"{self._mailbox()}/messages", json=message)
        task = body.get("messageTaskId") if isinstance(body, dict) else None
        if not task:
            raise Transient("e-Doręczenia accepted the message but gave no messageTaskId")
        return str(task)

    def task_result(self, task_id: str) -> list[dict[str, Any]]:
        """`GET …/messages/tasks/{id}`: what the sending task made (messageId per recipient)."""
        body = self._call("GET", f"{self._mailbox()}/messages/tasks/{self._segment(task_id)}")
        return list(body) if isinstance(body, list) else list((body or {}).get("messages") or [])

    def task_status(self, task_id: str) -> str:
        """`GET …/messages/tasks/{id}/status` → e.g. `FINISHED`."""
        body = self._call("GET", f"{self._mailbox()}/messages/tasks/{self._segment(task_id)}/status")
        return str((body or {}).get("messageTaskStatus") or "")

    # --- reading -------------------------------------------------------------------------------------

    def list_messages(self, *, label: str | None = None, opened: bool | None = None, limit: int = 100,
                      offset: int = 0, format: str = "metadata", **filters: Any) -> list[dict[str, Any]]:
        """`GET …/messages` with the spec's query filters (label SENT/INBOX, opened, recipient, dates …)."""
        params: dict[str, Any] = {"format": format, "limit": limit, "offset": offset}
        if label:
            params["label"] = label
        if opened is not None:
            params["opened"] = "true" if opened else "false"
        params.update({k: v for k, v in filters.items() if v is not None})
        body = self._call("GET", f"{self._mailbox()}/messages", params=params)
        return list((body or {}).get("messages") or [])

    def get_message(self, message_id: str, format: str = "metadata") -> dict[str, Any]:
        """`GET …/messages/{id}?format=` (`full` also marks an incoming message opened). The service answers with
        a list (the path takes several ids separated by commas); this is the one message asked for."""
        body = self._call("GET", f"{self._mailbox()}/messages/{self._segment(message_id)}", params={"format": format})
        if isinstance(body, list):
            body = next((m for m in body if isinstance(m, dict)), None)
        return dict(body or {})

    def attachment(self, message_id: str, attachment_id: str) -> bytes:
        """One attachment's bytes, asked for in the spec's form: an Attachment JSON (`file.file` in base64). A service
        that streams the file instead (the sandbox does, unless asked for JSON) gives the bytes: both are read."""
        response = self._call("GET", f"{self._mailbox()}/messages/{self._segment(message_id)}/attachments/"
                              f"{self._segment(attachment_id)}", expect_json=False,
                              headers={"Accept": "application/json"})
        if response.headers.get("Content-Type", "").split(";")[0].strip() != "application/json":
            return bytes(response.content)
        try:
            encoded = ((response.json() or {}).get("file") or {}).get("file")
            return base64.b64decode(encoded or "", validate=True)
        except (ValueError, AttributeError, TypeError) as exc:
            raise Transient(f"e-Doręczenia answered attachment {attachment_id} with an unreadable Attachment") \
                from exc

    def patch_control_data(self, message_id: str, patch: Mapping[str, Any]) -> None:
        """`PATCH …/messages/{id}/message_control_data` (MessageControlDataPatch)."""
        self._call("PATCH", f"{self._mailbox()}/messages/{self._segment(message_id)}/message_control_data",
                   json=dict(patch))

    def find_sent(self, key: str, limit: int = 200) -> dict[str, Any] | None:
        """The SENT message whose `additionalData.okienkoKey` is `key` (did an earlier attempt get through?)."""
        offset = 0
        while True:
            page = self.list_messages(label="SENT", limit=limit, offset=offset)
            for message in page:
                data = (message.get("messageMetadata") or {}).get("additionalData") or {}
                if isinstance(data, dict) and data.get("okienkoKey") == key:
                    return message
            if len(page) < limit:
                return None
            offset += limit

    # --- evidences -----------------------------------------------------------------------------------

    def evidences(self, message_id: str) -> list[dict[str, Any]]:
        """`GET …/messages/{id}/evidences` → the EvidenceWrapper's list (type, evidenceId, eventDate …)."""
        body = self._call("GET", f"{self._mailbox()}/messages/{self._segment(message_id)}/evidences")
        return list((body or {}).get("evidences") or [])

    def evidence_file(self, evidence_id: str, message_type: str = "purde") -> bytes:
        """`GET …/evidences/{purde|puh}/{id}`: the signed evidence document, bytes as served."""
        response = self._call("GET", f"{self._mailbox()}/evidences/{self._segment(message_type)}/"
                              f"{self._segment(evidence_id)}", expect_json=False)
        return bytes(response.content)

    # --- notifications -------------------------------------------------------------------------------

    def subscribe(self, *, evidence_url: str | None = None, message_url: str | None = None) -> str:
        """`PUT …/message_subscriptions`; returns the subscriptionId."""
        body: dict[str, str] = {}
        if evidence_url:
            body["evidenceCallbackUrl"] = evidence_url
        if message_url:
            body["messageCallbackUrl"] = message_url
        answer = self._call("PUT", f"{self._mailbox()}/message_subscriptions", json=body)
        return str((answer or {}).get("subscriptionId") or "")

    def subscriptions(self) -> Any:
        return self._call("GET", f"{self._mailbox()}/message_subscriptions")

    def unsubscribe(self) -> None:
        self._call("DELETE", f"{self._mailbox()}/message_subscriptions")

    # --- BAE -----------------------------------------------------------------------------------------

    def bae_search(self, *, pesel: str | None = None, nip: str | None = None,
                   address: str | None = None) -> list[dict[str, Any]]:
        """The national address database: the addresses registered for a PESEL (or NIP), or an address's owner."""
        params = {k: v for k, v in {"pesel": pesel, "nip": nip, "address": address}.items() if v}
        if not params:
            raise ValueError("bae_search needs a pesel, a nip or an address")
        body = self._call("GET", f"{self.settings.bae_url}{API}/addresses", params=params)
        return list((body or {}).get("addresses") or [])

    def active_address(self, pesel: str) -> str | None:
        """The resident's ACTIVE delivery address from the BAE, or None when they have none."""
        for entry in self.bae_search(pesel=pesel):
            if str(entry.get("status") or "ACTIVE").upper() == "ACTIVE" and entry.get("eDeliveryAddress"):
                return str(entry["eDeliveryAddress"])
        return None

    # --- incoming (portal/edoreczenia/incoming.py) ----------------------------------------------------------

    def incoming_message(self, message_id: str) -> dict[str, Any]:
        """`GET …/messages/{id}?format=full` for one id: the Message with its attachments' content. The path takes
        a list of ids, so the answer is a list (of one); a single object is accepted too. Reading it in full marks
        it opened at the provider."""
        body = self._call("GET", f"{self._mailbox()}/messages/{self._segment(message_id)}", params={"format": "full"})
        found = body[0] if isinstance(body, list) and body else body
        if not isinstance(found, dict):
            raise Transient(f"e-Doręczenia gave no message {message_id}")
        return found

    def mark_opened(self, message_id: str) -> None:
        """Mark an incoming item opened (taken in by the office's system): MessageControlDataPatch, whose value
        is an object."""
        self.patch_control_data_list(message_id, [{"op": "replace", "path": "/opened", "value": {"opened": True}}])

    def patch_control_data_list(self, message_id: str, patch: list[dict[str, Any]]) -> None:
        """`PATCH …/message_control_data` with the spec's PatchBody (a JSON Patch array of one operation)."""
        self._call("PATCH", f"{self._mailbox()}/messages/{self._segment(message_id)}/message_control_data",
                   json=patch)


def message_id_of(message: Mapping[str, Any] | None) -> str | None:
    """A listed or read Message's id: the spec puts it in `messageMetadata.messageId` (a bare `messageId` too)."""
    if not message:
        return None
    found = (message.get("messageMetadata") or {}).get("messageId") or message.get("messageId")
    return str(found) if found else None


_clients: dict[Settings, Client] = {}
_clients_lock = threading.Lock()


def client_for(config: Mapping[str, Any]) -> Client:
    """The process's client for these settings (one token cache per configuration)."""
    settings = Settings.from_config(config)
    with _clients_lock:
        if settings not in _clients:
            _clients[settings] = Client(settings)
        return _clients[settings]
