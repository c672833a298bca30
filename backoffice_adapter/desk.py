"""`desk`: the built-in clerk desk of Okienko, for offices without an EZD (and every `make run`)."""

from __future__ import annotations

from backoffice_adapter.base import BackOfficeAdapter, DeliveryReceipt, Envelope, register


@register("desk")
class DeskAdapter(BackOfficeAdapter):
    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        from portal.desk import service as desk  # the desk is a portal domain; imported when used

        parcel = desk.receive(envelope)
        return DeliveryReceipt(adapter="desk", reference=parcel.rpw, details={"rpw": parcel.rpw})
