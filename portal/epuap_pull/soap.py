"""WS-Pull messages: reading the three requests and writing their answers exactly as pull.wsdl / obiektypk.xsd say.

The schema declares no elementFormDefault, so only the top elements (`ob:ZapytaniePull…`,
`ob:OdpowiedzPull…`, `ob:Wyjatek`) are in the namespace; their children are unqualified.
Answers are SOAP 1.1, document/literal, as the binding says.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import xmlschema
from lxml import etree

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
OB = "http://wsdl.epuap.gov.pl/obiekty/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
SPEC = Path(__file__).parent / "wsdl"

# The request element of each operation.
OPERATIONS = {
    f"{{{OB}}}ZapytaniePullOczekujace": "oczekujaceDokumenty",
    f"{{{OB}}}ZapytaniePullPobierz": "pobierzNastepny",
    f"{{{OB}}}ZapytaniePullPotwierdz": "potwierdzOdebranie",
}

# `status/kod` values. ePUAP answers 1 for success and 0 when no document waits; the others are Okienko's.
OK = 1
EMPTY = 0
UNKNOWN_DIGEST = -1


class BadRequest(Exception):
    """The message is not a WS-Pull request this service can read; answered with a Client fault."""

    def __init__(self, message: str, code: str = "Client") -> None:
        self.code = code
        super().__init__(message)


@dataclass(frozen=True)
class PullRequest:
    operation: str
    subject: str  # podmiot
    mailbox_name: str  # nazwaSkrytki
    mailbox_address: str  # adresSkrytki
    digest: str | None = None  # skrot (potwierdzOdebranie only)


@dataclass(frozen=True)
class PulledDocument:
    """One waiting document with what the answer to `pobierzNastepny` says about it."""

    file_name: str
    media_type: str
    content: bytes
    sent_at: datetime  # dataNadania: the filing moment stated on the UPO
    sender_id: str
    given_name: str
    family_name: str
    sender_name: str
    additional_data: bytes  # daneDodatkowe
    test: bool


@cache
def schema() -> xmlschema.XMLSchema:
    """obiektypk.xsd, read from the copy shipped with the portal; nothing is fetched."""
    return xmlschema.XMLSchema(str(SPEC / "obiektypk.xsd"), allow="local", defuse="always")


def operation_element(envelope: etree._Element) -> etree._Element:
    """The Body's one element, after checking this is a SOAP 1.1 envelope."""
    if envelope.tag == f"{{{SOAP12}}}Envelope":
        raise BadRequest("this service speaks SOAP 1.1 (the WSDL's binding), not SOAP 1.2", "VersionMismatch")
    if envelope.tag != f"{{{SOAP}}}Envelope":
        raise BadRequest("the request is not a SOAP envelope")
    bodies = envelope.findall(f"{{{SOAP}}}Body")
    if len(bodies) != 1:
        raise BadRequest("the SOAP envelope must have one Body")
    children = [child for child in bodies[0] if isinstance(child.tag, str)]
    if len(children) != 1:
        raise BadRequest("the SOAP Body must hold exactly one request element")
    return children[0]


def parse_request(element: etree._Element) -> PullRequest:
    """Check the request element against the schema and read it."""
    operation = OPERATIONS.get(element.tag)
    if operation is None:
        raise BadRequest(f"unknown request element {element.tag}; expected one of "
                         + ", ".join(f"ob:{etree.QName(t).localname}" for t in OPERATIONS))
    error = next(schema().iter_errors(element), None)
    if error is not None:
        reason = error.reason or str(error).splitlines()[0]
        raise BadRequest(f"the request does not match obiektypk.xsd: {reason}"[:500])

    def text(name: str) -> str:
        return (element.findtext(name) or "").strip()

    return PullRequest(operation=operation, subject=text("podmiot"), mailbox_name=text("nazwaSkrytki"),
                       mailbox_address=text("adresSkrytki"),
                       digest=text("skrot") if operation == "potwierdzOdebranie" else None)


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, name)  # unqualified, as the schema's local elements are
    if text is not None:
        element.text = text
    return element


def _status(parent: etree._Element, code: int, message: str | None) -> None:
    status = _sub(parent, "status")
    _sub(status, "kod", str(code))
    komunikat = _sub(status, "komunikat", message)
    if message is None:
        komunikat.set(f"{{{XSI}}}nil", "true")


def _answer(name: str, code: int, message: str | None) -> etree._Element:
    root = etree.Element(f"{{{OB}}}{name}", nsmap={"ob": OB, "xsi": XSI})
    _status(root, code, message)
    return root


def _datetime(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def waiting(count: int) -> etree._Element:
    root = _answer("OdpowiedzPullOczekujace", OK, None)
    _sub(root, "oczekujace", str(count))
    return root


def next_document(document: PulledDocument | None, mailbox_name: str, mailbox_address: str,
                  now: datetime) -> etree._Element:
    """The answer to `pobierzNastepny`. With no document waiting, status 0 and the required elements left empty:
    the schema has no optional form of this answer."""
    if document is None:
        root = _answer("OdpowiedzPullPobierz", EMPTY, "Brak dokumentów oczekujących na pobranie")
        empty = PulledDocument(file_name="", media_type="", content=b"", sent_at=now, sender_id="", given_name="",
                               family_name="", sender_name="", additional_data=b"", test=False)
        _document_parts(root, empty, mailbox_name, mailbox_address, person=False)
        return root
    root = _answer("OdpowiedzPullPobierz", OK, None)
    _document_parts(root, document, mailbox_name, mailbox_address, person=True)
    return root


def _document_parts(root: etree._Element, document: PulledDocument, mailbox_name: str, mailbox_address: str,
                    person: bool) -> None:
    subject = _sub(root, "danePodmiotu")
    _sub(subject, "identyfikator", document.sender_id)
    _sub(subject, "typOsoby", "F" if person else "")
    if person:
        _sub(subject, "imieSkrot", document.given_name)
        _sub(subject, "nazwiskoNazwa", document.family_name)
    # The PESEL stays in the signed document; the envelope does not repeat it.
    _sub(subject, "zgoda", "false")
    sender = _sub(root, "daneNadawcy")
    if person:
        _sub(sender, "uzytkownik", document.sender_name)
    _sub(root, "dataNadania", _datetime(document.sent_at))
    _sub(root, "nazwaSkrytki", mailbox_name)
    _sub(root, "adresSkrytki", mailbox_address)
    # Replies go to the resident through the portal or e-Doręczenia; there is no ePUAP inbox to name.
    _sub(root, "adresOdpowiedzi").set(f"{{{XSI}}}nil", "true")
    _sub(root, "czyTestowe", "true" if document.test else "false")
    _sub(root, "daneDodatkowe", base64.b64encode(document.additional_data).decode())
    content = _sub(root, "dokument")
    _sub(content, "nazwaPliku", document.file_name)
    if document.media_type:
        _sub(content, "typPliku", document.media_type)
    _sub(content, "zawartosc", base64.b64encode(document.content).decode())


def confirmed(code: int, message: str | None) -> etree._Element:
    return _answer("OdpowiedzPullPotwierdz", code, message)


def envelope(payload: etree._Element) -> bytes:
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soapenv": SOAP})
    etree.SubElement(root, f"{{{SOAP}}}Body").append(payload)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def fault(code: str, message: str, kod: int, security: bool = False) -> bytes:
    """A SOAP 1.1 fault; its detail is the WSDL's fault message, `ob:Wyjatek` (kod, komunikat).

    `code` is `Client`, `Server` or `VersionMismatch` in the SOAP namespace, or, with `security`,
    one of WS-Security's fault codes (`FailedAuthentication` …) in the wsse namespace.
    """
    root = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soapenv": SOAP, "wsse": WSSE, "ob": OB})
    body = etree.SubElement(root, f"{{{SOAP}}}Body")
    element = etree.SubElement(body, f"{{{SOAP}}}Fault")
    _sub(element, "faultcode", f"{'wsse' if security else 'soapenv'}:{code}")
    _sub(element, "faultstring", message)
    detail = _sub(element, "detail")
    exception = etree.SubElement(detail, f"{{{OB}}}Wyjatek")
    _sub(exception, "kod", str(kod))
    _sub(exception, "komunikat", message)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def wsdl(endpoint: str) -> bytes:
    """pull.wsdl as shipped, with the service address pointing at this portal."""
    tree = etree.parse(str(SPEC / "pull.wsdl"))  # noqa: S320 - our own file, shipped with the code
    address = tree.find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
    assert address is not None
    address.set("location", endpoint)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
