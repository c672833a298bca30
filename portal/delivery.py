"""The portal's side of delivery: what it hands the outbox at start-up (backoffice_adapter/hooks.py).

The portal enqueues (the inbox) and registers its own adapters (portal/desk/adapter.py,
portal/epuap_pull/adapter.py); the outbox reaches back only through these hooks.
"""

from __future__ import annotations

from flask import Flask

from backoffice_adapter import hooks
from backoffice_adapter.base import DeliveryError, DeliveryReceipt
from portal import chores
from portal.audit import service as audit
from portal.db_types import utcnow
from portal.inbox import service as inbox
from portal.notify import mail
from portal.status import service as status
from portal.storage.service import StorageUnavailable


def init_app(app: Flask) -> None:
    hooks.init_app(app, hooks.PortalHooks(
        envelope=inbox.envelope,
        waits_for_store=(StorageUnavailable,),
        delivered=record_delivered,
        resent=record_resend,
        send_mail=send_mail,
        worker_chores=chores.WorkerChores,
    ))


def record_delivered(submission_id: str, adapter: str, receipt: DeliveryReceipt) -> None:
    """Tell the resident: delivered, and the RPW number when the back office gave one."""
    now = utcnow()
    status.record_event_once(submission_id, status.DELIVERED, f"{submission_id}:delivered", now, adapter=adapter)
    if rpw := receipt.details.get("rpw"):
        status.record_event_once(submission_id, status.REGISTERED, f"{adapter}:{rpw}:registered", now, rpw=str(rpw))


def record_resend(submission_id: str, adapter: str) -> None:
    audit.record("outbox.resend", "submission", submission_id, adapter=adapter)


def send_mail(to: str, subject: str, body: str, attachments: tuple[tuple[str, str, bytes], ...],
              message_id: str) -> None:
    try:
        mail.send(to, subject, body, attachments=attachments, message_id=message_id)
    except mail.MailNotSent as exc:
        raise DeliveryError(str(exc)) from exc
