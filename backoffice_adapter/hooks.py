"""What the delivery asks of the portal, handed over by the portal's application factory.

The delivery package knows only its own contract (`base`, `models`, `outbox`) and the portal's infrastructure
(the database, settings, metrics). Everything else it needs from the portal — a submission's parcel, telling
the resident it was delivered, auditing a re-send, sending mail, the worker's other chores — comes through the
`PortalHooks` that `portal.delivery.init_app` gives each application, so the portal depends on the delivery
and never the other way round.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask, current_app

from backoffice_adapter.base import DeliveryReceipt, Envelope

EXTENSION = "backoffice_adapter"


@dataclass(frozen=True)
class PortalHooks:
    #: The parcel of a submission, by its id. It may issue the receipt the parcel carries, which the document
    #: store must take: an error in `waits_for_store` means "try again soon", with no attempt counted.
    envelope: Callable[[str], Envelope]
    waits_for_store: tuple[type[Exception], ...]
    #: The system of record took a submission (submission id, adapter name, its receipt): tell the resident.
    #: Part of the delivery's transaction; copies are not reported.
    delivered: Callable[[str, str, DeliveryReceipt], None]
    #: An administrator sent a delivery again (submission id, adapter name): part of the re-send's transaction.
    resent: Callable[[str, str], None]
    #: Send an e-mail: (to, subject, body, attachments as (name, media type, content), Message-ID).
    #: Raises DeliveryError when the mail server does not take it.
    send_mail: Callable[[str, str, str, tuple[tuple[str, str, bytes], ...], str], None]
    #: Makes the chores one worker loop does between its rounds of deliveries (called once per loop; the result
    #: is called every round and keeps its own cadence).
    worker_chores: Callable[[], Callable[[], None]]


def init_app(app: Flask, hooks: PortalHooks) -> None:
    app.extensions[EXTENSION] = hooks


def portal() -> PortalHooks:
    """The hooks of the current application."""
    try:
        return current_app.extensions[EXTENSION]  # type: ignore[no-any-return]
    except KeyError:
        raise RuntimeError("this application has not connected the delivery to the portal "
                           "(portal.delivery.init_app, which create_app calls)") from None
