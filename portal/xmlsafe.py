"""Parsing XML that comes from outside: no DTD, no entities, no network, a size cap, UTF-8 only."""

from __future__ import annotations

from lxml import etree


class UnsafeXml(ValueError):
    """The bytes are refused before or while parsing; `code` says why in one word."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse(data: bytes, max_bytes: int = 10 * 1024 * 1024) -> etree._Element:
    """Parse untrusted XML. Any DOCTYPE is refused outright; XInclude and XSLT are never run on it."""
    if len(data) > max_bytes:
        raise UnsafeXml("too_large", f"the document is larger than {max_bytes // (1024 * 1024)} MB")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:4] in (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00"):
        raise UnsafeXml("encoding", "the document must be encoded in UTF-8")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise UnsafeXml("doctype", "documents with a DOCTYPE or entity declarations are not accepted")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml("malformed", f"the document is not well-formed XML: {exc}") from exc
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise UnsafeXml("doctype", "documents with a DOCTYPE are not accepted")
    if info.encoding and info.encoding.upper() not in {"UTF-8", "UTF8"}:
        raise UnsafeXml("encoding", "the document must be encoded in UTF-8")
    return root
