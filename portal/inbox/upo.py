"""The UPO (urzędowe poświadczenie przedłożenia) in the UPP structure, sealed by the office.

The resident's proof of filing: office, sender, the filing moment (`DataDoreczenia`, the
commit time of the submission), when the receipt was made, and the SHA-256 digest of the
exact bytes received, all under the office's enveloped XAdES seal. A printout proves
nothing; this XML does.

Decision: the sender is named and identified by the portal account, not the PESEL, so that
a receipt shown to anyone for verification does not disclose it; the PESEL is in the
signed document the digest covers.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from lxml import etree

from portal.signing import xades
from portal.signing.keys import Seal

UPO = "http://crd.gov.pl/xml/schematy/UPO/2008/05/09/"
DS = "http://www.w3.org/2000/09/xmldsig#"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
OFFICE_ID = "IdentyfikatorUrzedu"  # TypIdentyfikatora of the office
ACCOUNT_ID = "IdentyfikatorKontaOkienko"  # TypIdentyfikatora of a resident: their account in the portal


@dataclass(frozen=True)
class ReceiptData:
    receipt_id: str
    office_name: str
    office_id: str
    sender_name: str
    sender_id: str
    filed_at: datetime
    issued_at: datetime
    document_id: str
    document_sha256: bytes
    service: str
    document_name: str


def _el(parent: etree._Element, local: str, text: str | None = None, ns: str = UPO, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{local}", attrs)
    if text is not None:
        element.text = text
    return element


def _party(parent: etree._Element, role: str, name: str, identifier: str, kind: str) -> None:
    """Adresat, Nadawca or the issuer: a name and an identifier of the given kind."""
    party = _el(parent, role)
    _el(party, "Nazwa", name)
    _el(party, "IdentyfikatorPodmiotu", identifier, TypIdentyfikatora=kind)


def _sealed(root: etree._Element, document_urn: str, document_sha256: bytes, seal: Seal, issued_at: datetime,
            stamp: Callable[[bytes], bytes] | None) -> bytes:
    """The receipt with a reference to the digest of the document it covers, under the office's seal."""
    reference = _el(root, "Reference", ns=DS, URI=document_urn)
    _el(reference, "DigestMethod", ns=DS, Algorithm=SHA256)
    _el(reference, "DigestValue", base64.b64encode(document_sha256).decode(), ns=DS)
    xades.seal_enveloped(root, seal, issued_at, stamp)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with the offset written out, milliseconds kept: the legal moment is exact."""
    return moment.isoformat(timespec="milliseconds")


def build(data: ReceiptData, seal: Seal, stamp: Callable[[bytes], bytes] | None = None) -> bytes:
    root = etree.Element(f"{{{UPO}}}Dokument", nsmap={None: UPO, "ds": DS})
    upp = _el(root, "UPP")
    _el(upp, "IdentyfikatorPoswiadczenia", data.receipt_id)
    _party(upp, "Adresat", data.office_name, data.office_id, OFFICE_ID)
    _party(upp, "Nadawca", data.sender_name, data.sender_id, ACCOUNT_ID)
    _el(upp, "DataDoreczenia", timestamp(data.filed_at))
    _el(upp, "DataWytworzeniaPoswiadczenia", timestamp(data.issued_at))
    _el(upp, "IdentyfikatorDokumentu", data.document_id)
    _el(upp, "InformacjaUzupelniajaca", data.service, TypInformacjiUzupelniajacej="Usluga")
    _el(upp, "InformacjaUzupelniajaca", data.document_name, TypInformacjiUzupelniajacej="NazwaDokumentu")
    return _sealed(root, f"urn:okienko:dokument:{data.document_id}", data.document_sha256, seal, data.issued_at, stamp)


@dataclass(frozen=True)
class DeliveryData:
    """What the UPD (urzędowe poświadczenie doręczenia) of an outgoing letter states."""

    receipt_id: str
    office_name: str
    office_id: str
    addressee_name: str
    addressee_id: str
    received_at: datetime  # DataOdbioru: when the resident opened the letter
    issued_at: datetime
    document_id: str
    document_sha256: bytes
    case_reference: str
    document_name: str


def build_delivery(data: DeliveryData, seal: Seal, stamp: Callable[[bytes], bytes] | None = None) -> bytes:
    """The UPD: the office certifies when the resident received its letter; sealed like the UPO."""
    root = etree.Element(f"{{{UPO}}}Dokument", nsmap={None: UPO, "ds": DS})
    upd = _el(root, "UPD")
    _el(upd, "IdentyfikatorPoswiadczenia", data.receipt_id)
    _party(upd, "Adresat", data.addressee_name, data.addressee_id, ACCOUNT_ID)
    _party(upd, "Nadawca", data.office_name, data.office_id, OFFICE_ID)
    _party(upd, "PodmiotWystawiajacyPoswiadczenie", data.office_name, data.office_id, OFFICE_ID)
    _el(upd, "DataOdbioru", timestamp(data.received_at))
    _el(upd, "DataWytworzeniaPoswiadczenia", timestamp(data.issued_at))
    _el(upd, "IdentyfikatorDokumentu", data.document_id)
    _el(upd, "IdentyfikatorSprawy", data.case_reference)
    _el(upd, "InformacjaUzupelniajaca", data.document_name, TypInformacjiUzupelniajacej="NazwaDokumentu")
    return _sealed(root, f"urn:okienko:pismo:{data.document_id}", data.document_sha256, seal, data.issued_at, stamp)


@dataclass(frozen=True)
class ReceiptFacts:
    receipt_id: str | None
    filed_at: str | None  # UPO: when the document was filed; UPD: when the letter was received
    document_id: str | None
    document_sha256: bytes | None
    kind: str | None = None  # "UPO" or "UPD"


def read(root: etree._Element) -> ReceiptFacts:
    """The facts a receipt (UPO) or a delivery certificate (UPD) states (only meaningful once its
    seal has been verified)."""
    def text(path: str) -> str | None:
        node = root.find(path, {"u": UPO, "ds": DS})
        return node.text.strip() if node is not None and node.text else None

    kind = "UPD" if root.find(f"{{{UPO}}}UPD") is not None else "UPO" if root.find(f"{{{UPO}}}UPP") is not None \
        else None
    part = "u:UPD" if kind == "UPD" else "u:UPP"
    digest = text("ds:Reference/ds:DigestValue")
    return ReceiptFacts(
        receipt_id=text(f"{part}/u:IdentyfikatorPoswiadczenia"),
        filed_at=text(f"{part}/u:DataOdbioru" if kind == "UPD" else f"{part}/u:DataDoreczenia"),
        document_id=text(f"{part}/u:IdentyfikatorDokumentu"),
        document_sha256=base64.b64decode(digest) if digest else None,
        kind=kind,
    )
