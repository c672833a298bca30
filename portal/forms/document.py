"""The e-document: a CRWDE-style `wnio:Dokument` built from a filled form, valid against its XSD.

The XML is what the resident signs and what the office keeps as the original; a PDF or
HTML is only its picture. A document that does not validate is our fault, never the
resident's, so it is refused with `DocumentInvalid` and logged as a server error.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from lxml import etree

from portal.forms import schemas
from portal.forms.definitions import ServiceDefinition

log = logging.getLogger(__name__)

NS = schemas.NAMESPACES


@dataclass(frozen=True)
class Sender:
    given_name: str
    family_name: str
    pesel: str
    address: dict[str, Any] | None


@dataclass(frozen=True)
class AttachedFile:
    """An attachment as the document names it: the signature covers its SHA-256, not its bytes."""

    label: str
    filename: str
    media_type: str
    sha256: str


@dataclass(frozen=True)
class Addressee:
    name: str
    street: str
    building: str
    postcode: str
    town: str


class DocumentInvalid(RuntimeError):
    """The portal produced XML its own schema refuses: a defect to fix, not a resident's error."""

    def __init__(self, service_id: str, errors: list[str]) -> None:
        self.errors = errors
        super().__init__(f"generated document for {service_id} breaks its schema: {'; '.join(errors[:5])}")


def _q(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    el = etree.SubElement(parent, tag, attrib)
    if text is not None:
        el.text = text
    return el


def _address(parent: etree._Element, address: dict[str, Any]) -> None:
    """adr:Adres from an OIDC-style address; empty parts are omitted, as the XSD forbids empty elements."""
    adr = _sub(parent, _q("adr", "Adres"))
    order = [
        ("KodPocztowy", address.get("postal_code")),
        ("Poczta", address.get("post_office")),
        ("Miejscowosc", address.get("locality")),
        ("Ulica", address.get("street")),
        ("Budynek", address.get("building")),
        ("Lokal", address.get("flat")),
        ("Kraj", address.get("country_name") or "Polska"),
    ]
    for local, value in order:
        if value:
            _sub(adr, _q("adr", local), str(value))


def _place(parent: etree._Element, parent_xsd: Any, tag: str, *, new: bool = False) -> etree._Element:
    """The child `tag` of `parent`, created where the schema's sequence puts it.

    With `new`, another occurrence is added after the existing ones (a repeating group's next item).
    """
    existing = parent.find(tag)
    if existing is not None and not new:
        return existing
    order = [c.name for c in schemas.child_elements(parent_xsd)]
    index = order.index(tag)
    element = parent.makeelement(tag)
    for pos, child in enumerate(parent):
        if child.tag in order and order.index(child.tag) > index:
            parent.insert(pos, element)
            return element
    parent.append(element)
    return element


def build(
    definition: ServiceDefinition,
    schema: schemas.Schema,
    values: dict[str, Any],
    sender: Sender,
    addressee: Addressee,
    document_id: str,
    created: date,
    attachments: list[AttachedFile] | None = None,
) -> bytes:
    """The document's bytes (UTF-8, with declaration), already checked against the schema.

    `values` holds the visible answers only; a group's value is a list of item answers.
    """
    ns = definition.namespace
    nsmap = {"wnio": ns, **{p: NS[p] for p in ("str", "meta", "oso", "inst", "adr")}}
    root = etree.Element(f"{{{ns}}}{definition.root}", nsmap=nsmap)

    opis = _sub(root, f"{{{ns}}}OpisDokumentu")
    ident = _sub(opis, _q("meta", "Identyfikator"), typIdentyfikatora="idDokumentu")
    _sub(ident, _q("meta", "Wartosc"), document_id)
    data = _sub(opis, _q("meta", "Data"), typDaty="utworzony")
    _sub(data, _q("meta", "Czas"), created.isoformat())
    _sub(opis, _q("meta", "Jezyk"), "polski", kodJezyka="pol")

    dane = _sub(root, f"{{{ns}}}DaneDokumentu")
    naglowek = _sub(dane, _q("str", "Naglowek"))
    _sub(naglowek, _q("str", "NazwaDokumentu"), definition.document_name)
    data = _sub(dane, _q("meta", "Data"), typDaty="stworzony")
    _sub(data, _q("meta", "Czas"), created.isoformat())
    adresaci = _sub(dane, _q("str", "Adresaci"))
    instytucja = _sub(_sub(adresaci, _q("meta", "Podmiot")), _q("inst", "Instytucja"))
    _sub(instytucja, _q("inst", "NazwaInstytucji"), addressee.name)
    _address(
        instytucja,
        {
            "postal_code": addressee.postcode,
            "locality": addressee.town,
            "street": addressee.street,
            "building": addressee.building,
        },
    )
    nadawcy = _sub(dane, _q("str", "Nadawcy"))
    osoba = _sub(_sub(nadawcy, _q("meta", "Podmiot")), _q("oso", "Osoba"))
    _sub(_sub(osoba, _q("oso", "IdOsoby")), _q("oso", "PESEL"), sender.pesel)
    _sub(osoba, _q("oso", "Imie"), sender.given_name)
    _sub(osoba, _q("oso", "Nazwisko"), sender.family_name)
    if sender.address and sender.address.get("locality"):
        _address(osoba, sender.address)

    content_xsd = schemas.content_element(schema, ns, definition.root)
    content = _sub(root, f"{{{ns}}}{schemas.CONTENT_ELEMENT}", format="text/xml", kodowanie="XML")
    for field in definition.fields:
        value = values.get(field.id)
        if field.is_group:
            _fill_group(content, content_xsd, field, value or [], ns)
            continue
        if value in (None, ""):
            continue  # the XSD forbids empty elements, so an unanswered optional field is omitted
        _fill_path(content, content_xsd, schemas.normalise_path(field.xml, ns), _lexical(value))
    if attachments:
        _attach(content, content_xsd, schemas.normalise_path(definition.attachments_xml, ns), attachments)

    etree.indent(root, space="  ")
    document = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    errors = schemas.validate(schema, etree.fromstring(document))
    if errors:
        log.error("generated document for %s %s is invalid: %s", definition.id, definition.version, errors)
        raise DocumentInvalid(definition.id, errors)
    return document


def _lexical(value: Any) -> str:
    """A Python answer in the XSD's lexical form."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _walk(element: etree._Element, xsd: Any, path: schemas.Path) -> tuple[etree._Element, Any]:
    for part in path:
        child_xsd = next(c for c in schemas.child_elements(xsd) if c.name == part)
        element = _place(element, xsd, part)
        xsd = child_xsd
    return element, xsd


def _fill_path(content: etree._Element, content_xsd: Any, path: schemas.Path, value: str) -> None:
    if path[-1].startswith("@"):
        element, _ = _walk(content, content_xsd, path[:-1])
        element.set(path[-1][1:], value)
        return
    element, _ = _walk(content, content_xsd, path)
    element.text = value


def _fill_group(content: etree._Element, content_xsd: Any, group: Any, items: list[dict[str, Any]], ns: str) -> None:
    """One repeating element per item, each filled from the group's own fields."""
    if not items:
        return  # no container either: the schema does not allow an empty one
    path = schemas.normalise_path(group.xml, ns)
    parent, parent_xsd = _walk(content, content_xsd, path[:-1])
    item_xsd = next(c for c in schemas.child_elements(parent_xsd) if c.name == path[-1])
    for item in items:
        row = _place(parent, parent_xsd, path[-1], new=True)
        for sub in group.fields:
            value = item.get(sub.id)
            if value not in (None, ""):
                _fill_path(row, item_xsd, schemas.normalise_path(sub.xml, ns), _lexical(value))


def _attach(content: etree._Element, content_xsd: Any, path: schemas.Path, files: list[AttachedFile]) -> None:
    container, _ = _walk(content, content_xsd, path)
    for file in files:
        item = etree.SubElement(container, _q("str", "Zalacznik"), format=file.media_type, kodowanie="URI",
                                nazwaPliku=file.filename)
        _sub(item, _q("str", "OpisZalacznika"), file.label)
        # The digest, not the bytes: the signature binds the exact file while the XML stays small.
        _sub(item, _q("str", "DaneZalacznika"), f"urn:okienko:zalacznik:sha256:{file.sha256}")
