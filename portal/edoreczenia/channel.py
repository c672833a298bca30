"""Which way a letter must go to a resident (docs/edoreczenia.md, "The rule"), shown to the clerk before sending.

1. **e-Doręczenia** when the national database of electronic addresses (BAE) has an active address for the
   resident's PESEL: delivery to that address is what the law requires of a public body.
2. Else **the portal** (opening the letter makes the UPD) when the resident can be reached there: they have
   confirmed an e-mail address for notices, so they learn that a letter waits.
3. Else **the public hybrid service**: printed and posted to the resident's postal address, through the same API.
4. No address of any kind: the portal, and the clerk is warned.

When the BAE cannot be asked (the service is down), the portal is *not* chosen silently: the letter waits in
the dispatch queue as "undecided" and the rule runs again when it is dispatched, until the BAE answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

from portal.auth import pii
from portal.auth.models import Resident
from portal.edoreczenia import client as edo

EDORECZENIA = "edoreczenia"
PORTAL = "portal"
HYBRID = "hybrid"
UNDECIDED = "undecided"

NAMES = {
    EDORECZENIA: _l("e-Doręczenia (adres do doręczeń elektronicznych)"),
    PORTAL: _l("portal Okienko (z urzędowym poświadczeniem doręczenia)"),
    HYBRID: _l("publiczna usługa hybrydowa (list polecony)"),
    UNDECIDED: _l("do ustalenia przy wysyłce"),
}


@dataclass(frozen=True)
class Choice:
    channel: str
    reason: Any  # words for the clerk (lazy gettext)
    address: str | None = None  # the resident's AE address
    postal: dict[str, str] | None = None  # the spec's Address, for the hybrid service
    warning: bool = False  # something the clerk must know before sending (BAE down, no address at all)

    @property
    def name(self) -> Any:
        return NAMES[self.channel]


def postal_address(resident: Resident) -> dict[str, str] | None:
    """The resident's address from the identity provider as the UA API's `Address`; None when incomplete."""
    claim = resident.address or {}
    street = str(claim.get("street") or claim.get("street_address") or "").strip()
    city = str(claim.get("locality") or "").strip()
    postcode = str(claim.get("postal_code") or "").strip()
    if not (street and city and postcode):
        return None
    address = {"country": str(claim.get("country") or "PL"), "street": street, "postalCode": postcode, "city": city}
    if claim.get("building"):
        address["buildingNumber"] = str(claim["building"])
    if claim.get("flat"):
        address["houseNumber"] = str(claim["flat"])
    return address


def reachable_in_portal(resident: Resident) -> bool:
    return resident.email_confirmed_at is not None and bool(resident.email)


def choose(resident: Resident, config: Mapping[str, Any] | None = None) -> Choice:
    """The channel the rule gives for this resident now (asks the BAE when the channel is on)."""
    config = current_app.config if config is None else config
    if not edo.enabled(config):
        return Choice(PORTAL, _l("Kanał e-Doręczeń nie jest włączony w tym urzędzie: pismo trafi do portalu."))
    try:
        address = edo.client_for(config).active_address(pii.decrypt(resident.pesel_encrypted))
    except edo.EdoError:
        return Choice(UNDECIDED, _l("Nie udało się zapytać bazy adresów do doręczeń elektronicznych (BAE). "
                                    "Pismo poczeka w kolejce; kanał zostanie wybrany przy wysyłce, gdy baza "
                                    "odpowie — nie trafi do portalu bez tego sprawdzenia."), warning=True)
    if address:
        return Choice(EDORECZENIA, _l("Mieszkaniec ma adres do doręczeń elektronicznych %(address)s w bazie BAE: "
                                      "pismo musi trafić na ten adres.", address=address), address=address)
    if reachable_in_portal(resident):
        return Choice(PORTAL, _l("Mieszkaniec nie ma adresu w bazie BAE, ale korzysta z portalu i potwierdził "
                                 "adres e-mail do powiadomień: pismo trafi do portalu."))
    postal = postal_address(resident)
    if postal is not None:
        return Choice(HYBRID, _l("Mieszkaniec nie ma adresu w bazie BAE ani potwierdzonego e-maila w portalu: "
                                 "pismo zostanie wydrukowane i wysłane listem poleconym przez publiczną usługę "
                                 "hybrydową."), postal=postal)
    return Choice(PORTAL, _l("Mieszkaniec nie ma adresu w bazie BAE, potwierdzonego e-maila ani adresu pocztowego: "
                             "pismo trafi do portalu, ale może do niego nie dotrzeć — rozważ inną drogę."),
                  warning=True)
