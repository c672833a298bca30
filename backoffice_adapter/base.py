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


@dataclass(frozen=True)
class DeliveryReceipt:
    """What the back office answered: its own identifiers for the parcel."""

    adapter: str
    reference: str  # e.g. the RPW number
    details: dict[str, Any] = field(default_factory=dict)


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
