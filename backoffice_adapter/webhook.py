"""`webhook`: each parcel as a signed JSON POST to the office's integration endpoint.

Requests are signed with HMAC-SHA256 under `PORTAL_WEBHOOK_SECRET`; the header
`X-Okienko-Signature: t=<unix time>,v1=<hex>` covers `<t>.<body>`, so a captured request cannot
be replayed outside the window (`PORTAL_WEBHOOK_REPLAY_SECONDS`) nor altered. Case events come
back to `/api/zdarzenia` signed the same way (`portal/status/inbound.py`). `Idempotency-Key` is
the submission id: the receiver must answer a repeated key with the first parcel's answer.
5xx, 408, 429 and time-outs are retried; any other 4xx means the parcel itself was refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import requests

from backoffice_adapter.base import (
    BackOfficeAdapter,
    DeliveryError,
    DeliveryReceipt,
    Envelope,
    PermanentDeliveryError,
    metadata,
    register,
)

HEADER = "X-Okienko-Signature"
RETRIED_CLIENT_ERRORS = {408, 425, 429}


def sign(secret: str, body: bytes, at: int | None = None) -> str:
    """The signature header's value for `body`, made now (or at `at`, a Unix time)."""
    at = int(time.time()) if at is None else at
    digest = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={at},v1={digest}"


class BadSignature(ValueError):
    pass


def verify(secret: str, header: str | None, body: bytes, window_seconds: int, now: float | None = None) -> None:
    """Raise BadSignature unless `header` signs `body` with `secret` within the replay window."""
    if not secret:
        raise BadSignature("no shared secret is configured")
    try:
        parts = dict(item.split("=", 1) for item in (header or "").split(","))
        at = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        raise BadSignature(f"missing or malformed {HEADER} header") from None
    now = time.time() if now is None else now
    if abs(now - at) > window_seconds:
        raise BadSignature("the signature's time is outside the replay window")
    expected = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, given):
        raise BadSignature("the signature does not match the body")


def _content(name: str, media_type: str, content: bytes) -> dict[str, Any]:
    return {"name": name, "media_type": media_type, "sha256": hashlib.sha256(content).hexdigest(),
            "content_base64": base64.b64encode(content).decode()}


def body(envelope: Envelope) -> bytes:
    parcel = metadata(envelope)
    parcel["document"] = _content("dokument.xml", "application/xml", envelope.document)
    parcel["upo"] = _content(f"UPO-{envelope.receipt_id}.xml", "application/xml", envelope.upo)
    parcel["detached_signature"] = (_content("dokument.xml.xades", "application/xml", envelope.detached_signature)
                                    if envelope.detached_signature else None)
    parcel["attachments"] = [_content(a.name, a.media_type, a.content) for a in envelope.attachments]
    return json.dumps(parcel, ensure_ascii=False, separators=(",", ":")).encode()


@register("webhook")
class WebhookAdapter(BackOfficeAdapter):
    _sessions: dict[str, requests.Session] = {}  # one connection pool per worker process and endpoint

    def check_config(self) -> None:
        if not str(self.config.get("WEBHOOK_URL", "")).startswith(("https://", "http://")):
            raise ValueError("PORTAL_WEBHOOK_URL must be the endpoint's http(s) address")
        if len(str(self.config.get("WEBHOOK_SECRET", ""))) < 32:
            raise ValueError("PORTAL_WEBHOOK_SECRET must be at least 32 characters")

    def _session(self) -> requests.Session:
        url = self.config["WEBHOOK_URL"]
        if url not in self._sessions:
            self._sessions[url] = requests.Session()
        return self._sessions[url]

    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        self.check_config()
        payload = body(envelope)
        headers = {"Content-Type": "application/json", "Idempotency-Key": envelope.submission_id,
                   HEADER: sign(self.config["WEBHOOK_SECRET"], payload)}
        try:
            response = self._session().post(self.config["WEBHOOK_URL"], data=payload, headers=headers,
                                            timeout=int(self.config["WEBHOOK_TIMEOUT"]))
        except requests.RequestException as exc:
            raise DeliveryError(f"the endpoint did not answer: {exc}") from exc
        if response.status_code >= 500 or response.status_code in RETRIED_CLIENT_ERRORS:
            raise DeliveryError(f"the endpoint answered {response.status_code}")
        if response.status_code >= 400:
            raise PermanentDeliveryError(f"the endpoint refused the parcel ({response.status_code}): "
                                         f"{response.text[:500]}")
        try:
            answer = response.json() if response.content else {}
        except ValueError:
            answer = {}
        answer = answer if isinstance(answer, dict) else {}
        details = {k: str(v) for k, v in answer.items() if k in ("rpw", "case_id", "document_id") and v}
        return DeliveryReceipt(adapter=self.name, reference=str(answer.get("reference") or answer.get("rpw")
                                                                or envelope.submission_id), details=details)
