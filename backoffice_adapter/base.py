"""The one small interface every back-office target implements, and the registry of targets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar


@dataclass(frozen=True)
class Attachment:
    name: str
    media_type: str
    content: bytes
    sha256: str
    signature: dict[str, Any] | None = None  # its own signature's verdict, where the channel checks each file


@dataclass(frozen=True)
class Envelope:
    """Everything a back office needs to register a submission, and nothing it must look up elsewhere."""

    submission_id: str  # also the idempotency key: a second delivery must not make a second parcel
    receipt_id: str
    service_id: str
    service_version: str
    service_title: str
    unit: str
    jrwa_class: str
    sender_name: str
    filed_at: datetime
    document: bytes
    document_sha256: str
    upo: bytes
    signature: dict[str, Any]
    attachments: tuple[Attachment, ...] = field(default=())
    detached_signature: bytes | None = None
    reply_to: str | None = None  # the earlier submission (and so the case) this one supplements
    # How it reached the office: "okienko" (the portal's form; `upo` is the portal's receipt) or "edoreczenia"
    # (the office's e-Doręczenia box: `upo` is the provider's evidence A.1 of the sending, `receipt_id` its id,
    # `document` the message's text and the files as sent in `attachments`).
    channel: str = "okienko"
    sender_address: str | None = None  # the sender's electronic delivery address (AE:PL-…), when it has one
    subject: str | None = None  # the sender's own title, when the channel carries one


def metadata(envelope: Envelope) -> dict[str, Any]:
    """The parcel's description without its content: what manifests and JSON bodies share."""
    return {
        "submission_id": envelope.submission_id,
        "receipt_id": envelope.receipt_id,
        "service": {"id": envelope.service_id, "version": envelope.service_version, "title": envelope.service_title},
        "unit": envelope.unit,
        "jrwa_class": envelope.jrwa_class,
        "sender_name": envelope.sender_name,
        "filed_at": envelope.filed_at.isoformat(timespec="milliseconds"),
        "channel": envelope.channel,
        "sender_address": envelope.sender_address,
        "subject": envelope.subject,
        "signature": envelope.signature,
        "document_sha256": envelope.document_sha256,
        "reply_to": envelope.reply_to,
        "attachments": [{"name": a.name, "media_type": a.media_type, "sha256": a.sha256}
                        for a in envelope.attachments],
    }


@dataclass(frozen=True)
class DeliveryReceipt:
    """What the back office answered: its own identifiers for the parcel."""

    adapter: str
    reference: str  # e.g. the RPW number
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseUpdate:
    """Something the back office did with a submission, on its way back to the resident's timeline.

    `kind` is one of `portal.status.service.EVENT_KINDS`; `event_id` is unique within the source
    (the adapter or the webhook), so an event that arrives twice is applied once.
    """

    event_id: str
    submission_id: str
    kind: str
    occurred_at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeliveredParcel:
    """A delivery the back office acknowledged, as a polling adapter needs it to ask about the case."""

    submission_id: str
    receipt: dict[str, Any]  # what `DeliveryReceipt` carried: `reference` and the adapter's details


class DeliveryError(Exception):
    """A delivery that may succeed later (the target is down, timed out, answered 5xx)."""


class PermanentDeliveryError(DeliveryError):
    """A delivery that will never succeed as it is (the target refused it): no more retries."""


class BackOfficeAdapter(ABC):
    name: str = ""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config

    @abstractmethod
    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        """Deliver one submission. Must be safe to call again for the same envelope."""

    def check_config(self) -> None:  # noqa: B027 - optional hook
        """Raise ValueError naming the missing or wrong setting; called at start and by `okienko outbox check`."""

    #: Adapters whose back office must be asked for case events (rather than pushing them) say so.
    polls_events: bool = False

    def fetch_events(self, parcels: list[DeliveredParcel]) -> list[CaseUpdate]:
        """Case events for these delivered parcels since they were delivered; repeats are harmless."""
        return []


A = TypeVar("A", bound=type[BackOfficeAdapter])
_registry: dict[str, type[BackOfficeAdapter]] = {}


def register(name: str) -> Callable[[A], A]:
    def decorator(cls: A) -> A:
        if name in _registry:
            raise ValueError(f"a back-office adapter named {name!r} is already registered")
        cls.name = name
        _registry[name] = cls
        return cls

    return decorator


def adapter(name: str, config: dict[str, Any]) -> BackOfficeAdapter:
    try:
        return _registry[name](config)
    except KeyError:
        raise ValueError(f"unknown back-office adapter {name!r}; known: {', '.join(sorted(_registry))}") from None


def registered() -> list[str]:
    return sorted(_registry)
