"""Sending e-mail: SMTP when configured, otherwise a folder of .eml files (what `make run` uses).

Notices to residents and administrators never carry personal data beyond what the recipient
needs to act (a case reference, a service's name): no PESEL, no document content. The one
exception is the `smtp` back-office adapter, whose message *is* the parcel, sent to the office's
own registry mailbox.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from flask import current_app

log = logging.getLogger(__name__)


class MailNotSent(RuntimeError):
    pass


def send(to: str, subject: str, body: str, attachments: tuple[tuple[str, str, bytes], ...] = (),
         message_id: str | None = None) -> None:
    """Send a plain-text message; `attachments` are (file name, media type, content).

    A fixed `message_id` lets the receiving side recognise a message sent again after a failure.
    """
    config = current_app.config
    message = EmailMessage()
    message["From"] = config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = message_id or make_msgid(domain="okienko")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(body)
    for name, media_type, content in attachments:
        main, _, sub = media_type.partition("/")
        message.add_attachment(content, maintype=main, subtype=sub or "octet-stream", filename=name)
    if not config["SMTP_HOST"]:
        folder = Path(config["MAIL_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{uuid.uuid4()}.eml").write_bytes(bytes(message))
        log.info("mail written to %s (no SMTP server configured)", folder)
        return
    try:
        with smtplib.SMTP(config["SMTP_HOST"], int(config["SMTP_PORT"]), timeout=15) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if config["SMTP_USER"]:
                smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"] or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailNotSent(str(exc)) from exc
