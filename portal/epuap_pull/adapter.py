"""`epuap-pull`: each parcel waits in Okienko's own WS-Pull inbox until the office's EZD pulls it.

Many EZDs take their electronic inbox from ePUAP with WS-Pull. Okienko serves the same SOAP
interface at `/epuap/ws/pull` (`portal/epuap_pull/`), so such an EZD is pointed at the portal
with no change of its own. Delivering puts the submission in the queue, once: a redelivery
finds it there. The EZD then counts, fetches and confirms (docs/backoffice-epuap-pull.md).

Registered when the portal starts (`create_app`), the light application included.
"""

from __future__ import annotations

from backoffice_adapter.base import BackOfficeAdapter, DeliveryReceipt, Envelope, register


@register("epuap-pull")
class EpuapPullAdapter(BackOfficeAdapter):
    def check_config(self) -> None:
        # Imported when used: the light application (`okienko outbox check`, `catalog list` …) registers this
        # adapter, and the queue's SOAP stack would add a third to its start-up.
        from portal.epuap_pull import service

        service.check_settings(self.config)

    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        from portal.epuap_pull import service  # see check_config

        self.check_config()
        item = service.enqueue(envelope)
        address = service.mailbox(self.config).address
        return DeliveryReceipt(adapter=self.name, reference=f"{address}#{item.id}",
                               details={"mailbox": address, "queue_item": str(item.id)})
