"""`smtp`: each parcel e-mailed to the registry's mailbox, for offices without an EZD to integrate.

The message carries the signed document, the UPO, the detached signature (if any) and the
attachments, with the metadata in the body. Its Message-ID is derived from the submission id, so
a message sent again after a failure is recognisably the same parcel (mail systems and the
registry's rules can drop the duplicate); the registry clerk enters it in the RPW by hand.
"""

from __future__ import annotations

import json

from backoffice_adapter.base import BackOfficeAdapter, DeliveryError, DeliveryReceipt, Envelope, metadata, register
from backoffice_adapter.hooks import portal


@register("smtp")
class SmtpAdapter(BackOfficeAdapter):
    def check_config(self) -> None:
        if "@" not in str(self.config.get("REGISTRY_MAILBOX", "")):
            raise ValueError("PORTAL_REGISTRY_MAILBOX must be the registry's e-mail address")

    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        self.check_config()
        files = [("dokument.xml", "application/xml", envelope.document),
                 (f"UPO-{envelope.receipt_id}.xml", "application/xml", envelope.upo)]
        if envelope.detached_signature:
            files.append(("dokument.xml.xades", "application/xml", envelope.detached_signature))
        files += [(a.name, a.media_type, a.content) for a in envelope.attachments]
        body = (f"Pismo złożone przez Okienko — {envelope.service_title}\n"
                f"Nadawca: {envelope.sender_name}\n"
                f"Data złożenia (z UPO): {envelope.filed_at.isoformat(timespec='seconds')}\n"
                f"Identyfikator UPO: {envelope.receipt_id}\n"
                f"Komórka: {envelope.unit}, klasa JRWA: {envelope.jrwa_class}\n\n"
                "Proszę zarejestrować przesyłkę w RPW. Dowodem złożenia jest załączony plik UPO.\n\n"
                + json.dumps(metadata(envelope), ensure_ascii=False, indent=2) + "\n")
        message_id = f"<{envelope.submission_id}@okienko>"
        try:
            portal().send_mail(self.config["REGISTRY_MAILBOX"],
                               f"[Okienko] {envelope.receipt_id} — {envelope.service_title}", body, tuple(files),
                               message_id)
        except DeliveryError as exc:
            raise DeliveryError(f"the mail server did not take the parcel: {exc}") from exc
        return DeliveryReceipt(adapter=self.name, reference=message_id)
