"""`desk`: the built-in clerk desk of Okienko, for offices without an EZD (and every `make run`).

A back-office adapter like any other, registered when the portal starts (`create_app`): the delivery package
does not know the desk exists."""

from __future__ import annotations

from backoffice_adapter.base import BackOfficeAdapter, DeliveryReceipt, Envelope, register
from portal.desk import service as desk


@register("desk")
class DeskAdapter(BackOfficeAdapter):
    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        parcel = desk.receive(envelope)
        return DeliveryReceipt(adapter="desk", reference=parcel.rpw, details={"rpw": parcel.rpw})
