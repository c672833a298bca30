"""WS-Pull served by the portal, driven the way an EZD drives ePUAP: a zeep client built from the WSDL
the portal serves, every request WS-Security-signed with the EZD's certificate, over real HTTP."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import xmlsec
import zeep
from cryptography import x509
from flask import Flask
from lxml import etree
from sqlalchemy import func, select
from zeep.plugins import HistoryPlugin
from zeep.wsse.compose import Compose
from zeep.wsse.signature import BinarySignature
from zeep.wsse.utils import WSU, get_security_header

from backoffice_adapter import outbox
from backoffice_adapter.base import Attachment, Envelope, adapter
from backoffice_adapter.models import SUCCESS, OutboxMessage
from portal.audit.models import AuditEntry
from portal.epuap_pull import service, soap
from portal.epuap_pull.models import CONFIRMED, PENDING, PullItem
from portal.extensions import db
from portal.inbox import service as inbox
from portal.inbox.models import Submission
from tests.factories import make_resident, make_submission
from tests.helpers import ANNA

SUBJECT = "UMLeszno"
MAILBOX = "/UMLeszno/skrytka"
INBOX = {"podmiot": SUBJECT, "nazwaSkrytki": "skrytka", "adresSkrytki": MAILBOX}
UPO_NS = "http://crd.gov.pl/xml/schematy/UPO/2008/05/09/"
EXTRA_NS = "urn:okienko:epuap-pull:dane-dodatkowe:1"


class Timestamp:
    """A wsu:Timestamp in the Security header, placed before the signature so that it is signed with the Body."""

    def __init__(self, age: timedelta = timedelta(0), lifetime: timedelta = timedelta(minutes=5)) -> None:
        self.age, self.lifetime = age, lifetime

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> tuple[etree._Element, dict[str, str]]:
        created = datetime.now(UTC) - self.age
        get_security_header(envelope).append(WSU.Timestamp(
            WSU.Created(created.isoformat(timespec="seconds").replace("+00:00", "Z")),
            WSU.Expires((created + self.lifetime).isoformat(timespec="seconds").replace("+00:00", "Z"))))
        return envelope, headers

    def verify(self, envelope: etree._Element) -> etree._Element:
        return envelope


class EzdSignature(BinarySignature):
    """What an EZD's SOAP stack sends under the WSDL's policy: an X.509 token and RSA-SHA256 over Body and
    Timestamp. The portal's answers are not signed, so there is nothing to check on the way back."""

    def __init__(self, key: Path, cert: Path, method: Any = xmlsec.Transform.RSA_SHA256) -> None:
        super().__init__(str(key), str(cert), signature_method=method, digest_method=xmlsec.Transform.SHA256)

    def verify(self, envelope: etree._Element) -> etree._Element:
        return envelope


class ChangeAfterSigning:
    """A man in the middle: alters the signed Body on its way."""

    def apply(self, envelope: etree._Element, headers: dict[str, str]) -> tuple[etree._Element, dict[str, str]]:
        next(envelope.iter("nazwaSkrytki")).text = "inna"
        return envelope, headers

    def verify(self, envelope: etree._Element) -> etree._Element:
        return envelope


def signing(pki: Path, name: str = "office-system", timestamp: Timestamp | None = None, *after: Any,
            method: Any = xmlsec.Transform.RSA_SHA256) -> Compose:
    return Compose([timestamp or Timestamp(), EzdSignature(pki / f"{name}.key", pki / f"{name}.pem", method),
                    *after])


@pytest.fixture
def pull_service(app: Flask, pki: Path) -> Iterator[None]:
    """The portal configured as the office's WS-Pull inbox, with the office-system certificate as the EZD's."""
    changes = {"EPUAP_PULL_CLIENT_CERTS": str(pki / "office-system.pem"), "EPUAP_PULL_MAILBOX": MAILBOX,
               "EPUAP_PULL_SUBJECT": SUBJECT, "DELIVERY_ADAPTERS": "epuap-pull"}
    saved = {key: app.config[key] for key in changes}
    app.config.update(changes)
    try:
        yield
    finally:
        app.config.update(saved)


@pytest.fixture
def ezd(live_portal: str, pki: Path, pull_service: None) -> Iterator[Callable[..., Any]]:
    """Makes zeep clients from the portal's own WSDL, as an EZD is set up; closes their HTTP sessions."""
    sessions: list[requests.Session] = []

    def make(wsse: Any = "signed", history: HistoryPlugin | None = None) -> Any:
        session = requests.Session()
        sessions.append(session)
        settings = zeep.Settings(strict=True, forbid_dtd=True, forbid_entities=True)
        client = zeep.Client(f"{live_portal}/epuap/ws/pull?wsdl", transport=zeep.Transport(session=session),
                             wsse=signing(pki) if wsse == "signed" else wsse, settings=settings,
                             plugins=[history] if history else [])
        return client.service

    yield make
    for session in sessions:
        session.close()


def deliver_through_the_outbox(pki: Path, pesel: str | None = None) -> Submission:
    submission = make_submission(pki, make_resident(pesel) if pesel else None)
    assert outbox.run_once() == 1
    db.session.commit()  # nothing held open while the portal's own thread serves the EZD
    return submission


def sha1_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode()  # noqa: S324 - ePUAP's digest rule


def refusals() -> list[AuditEntry]:
    db.session.rollback()
    return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == "epuap_pull.refused")))


def test_the_wsdl_names_the_portal_as_the_address_and_its_imports_are_served_unchanged(
        live_portal: str, pull_service: None) -> None:
    with requests.Session() as http:
        answer = http.get(f"{live_portal}/epuap/ws/pull?wsdl", timeout=10)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/xml")
        address = etree.fromstring(answer.content).find(".//{http://schemas.xmlsoap.org/wsdl/soap/}address")
        assert address.get("location") == f"{live_portal}/epuap/ws/pull"
        for name in ("obiektypk.xsd", "sign-policy.wsdl"):
            assert http.get(f"{live_portal}/epuap/ws/{name}", timeout=10).content == (soap.SPEC / name).read_bytes()
        assert http.get(f"{live_portal}/epuap/ws/pull", timeout=10).status_code == 404


def test_a_delivered_submission_is_counted_fetched_and_removed_only_by_the_right_digest(
        ctx: None, catalog: None, pki: Path, ezd: Callable[..., Any]) -> None:
    submission = deliver_through_the_outbox(pki)
    message = db.session.scalar(select(OutboxMessage))
    assert message.state == SUCCESS and message.receipt["reference"].startswith(f"{MAILBOX}#")
    document, upo, resident = submission.document, submission.upo, submission.resident
    history = HistoryPlugin()
    pull = ezd(history=history)

    counted = pull.oczekujaceDokumenty(**INBOX)
    assert (counted.status.kod, counted.status.komunikat, counted.oczekujace) == (1, None, 1)

    fetched = pull.pobierzNastepny(**INBOX)
    assert fetched.status.kod == 1
    assert fetched.dokument.zawartosc == document  # the signed bytes, exactly as filed
    assert fetched.dokument.typPliku == "application/xml"
    assert fetched.dokument.nazwaPliku == f"pismo-ogolne-{submission.receipt_id}.xml"
    assert (fetched.danePodmiotu.typOsoby, fetched.danePodmiotu.imieSkrot, fetched.danePodmiotu.nazwiskoNazwa) == (
        "F", resident.given_name, resident.family_name)
    assert fetched.danePodmiotu.identyfikator == f"okienko:{resident.id}"  # the UPO's sender id, never the PESEL
    assert fetched.danePodmiotu.pesel is None
    assert fetched.daneNadawcy.uzytkownik == resident.full_name
    filed = etree.fromstring(upo).findtext(f"{{{UPO_NS}}}UPP/{{{UPO_NS}}}DataDoreczenia")
    assert fetched.dataNadania == datetime.fromisoformat(filed)
    assert (fetched.adresSkrytki, fetched.nazwaSkrytki, fetched.adresOdpowiedzi) == (MAILBOX, "skrytka", None)
    assert fetched.czyTestowe is True  # a sandbox portal's documents are test documents
    extra = etree.fromstring(fetched.daneDodatkowe)
    assert extra.tag == f"{{{EXTRA_NS}}}DaneDodatkowe"
    assert extra.findtext("IdentyfikatorPoswiadczenia") == submission.receipt_id
    assert extra.findtext("IdentyfikatorDokumentu") == submission.id
    assert base64.b64decode(extra.findtext("UPO")) == upo  # the sealed receipt, byte for byte
    # the answer is exactly what obiektypk.xsd describes
    answer = history.last_received["envelope"].find(f".//{{{soap.OB}}}OdpowiedzPullPobierz")
    assert list(soap.schema().iter_errors(answer)) == []

    again = pull.pobierzNastepny(**INBOX)  # not confirmed yet: the same document again
    assert again.dokument.zawartosc == document

    # zeep hands back the answer's only element, its status
    wrong = pull.potwierdzOdebranie(**INBOX, skrot=sha1_b64(document + b" "))
    assert wrong.kod == soap.UNKNOWN_DIGEST and "skrót" in wrong.komunikat.lower()
    assert pull.oczekujaceDokumenty(**INBOX).oczekujace == 1

    right = pull.potwierdzOdebranie(**INBOX, skrot=sha1_b64(document))
    assert (right.kod, right.komunikat) == (1, None)
    assert pull.oczekujaceDokumenty(**INBOX).oczekujace == 0
    empty = pull.pobierzNastepny(**INBOX)
    assert empty.status.kod == 0 and not empty.dokument.zawartosc  # the schema has no empty form: blanks
    assert list(soap.schema().iter_errors(
        history.last_received["envelope"].find(f".//{{{soap.OB}}}OdpowiedzPullPobierz"))) == []
    # the EZD did not hear our answer and confirms again: still fine, nothing new recorded
    assert pull.potwierdzOdebranie(**INBOX, skrot=sha1_b64(document)).kod == 1

    db.session.rollback()
    item = db.session.scalar(select(PullItem))
    assert item.state == CONFIRMED and item.fetch_count == 2 and "certyfikat systemu" in item.confirmed_by
    actions = list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.object_id == submission.id)
                                      .where(AuditEntry.action.like("epuap_pull.%")).order_by(AuditEntry.id)))
    assert actions == ["epuap_pull.queued", "epuap_pull.fetched", "epuap_pull.fetched", "epuap_pull.confirmed"]


def test_documents_come_out_in_filing_order_and_a_sha256_digest_confirms_too(
        ctx: None, catalog: None, pki: Path, ezd: Callable[..., Any]) -> None:
    first = deliver_through_the_outbox(pki)
    second = deliver_through_the_outbox(pki, ANNA)
    pull = ezd()
    assert pull.oczekujaceDokumenty(**INBOX).oczekujace == 2
    fetched = pull.pobierzNastepny(**INBOX)
    assert fetched.dokument.zawartosc == first.document
    # confirming the second before fetching it is allowed: the digest names the document
    sha256 = base64.b64encode(hashlib.sha256(second.document).digest()).decode()
    assert pull.potwierdzOdebranie(**INBOX, skrot=sha256).kod == 1
    assert pull.pobierzNastepny(**INBOX).dokument.zawartosc == first.document
    assert pull.potwierdzOdebranie(**INBOX, skrot=sha1_b64(first.document)).kod == 1
    assert pull.oczekujaceDokumenty(**INBOX).oczekujace == 0


def test_a_second_delivery_of_the_same_submission_adds_nothing(
        ctx: None, catalog: None, pki: Path, app: Flask, ezd: Callable[..., Any]) -> None:
    submission = make_submission(pki)
    target = adapter("epuap-pull", app.config)
    first = target.deliver(inbox.envelope(submission.id))
    db.session.commit()
    second = target.deliver(inbox.envelope(submission.id))
    db.session.commit()
    assert first == second
    assert db.session.scalar(select(func.count()).select_from(PullItem)) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "epuap_pull.queued")) == 1
    assert ezd().oczekujaceDokumenty(**INBOX).oczekujace == 1


@pytest.mark.parametrize(("case", "fault_code", "certificate"), [
    ("unsigned", "wsse:InvalidSecurity", None),
    ("unregistered certificate", "wsse:FailedAuthentication", "Profil Zaufany"),
    ("stale timestamp", "wsse:MessageExpired", "certyfikat systemu"),
    ("body changed after signing", "wsse:FailedCheck", "certyfikat systemu"),
    ("SHA-1 signature", "wsse:FailedCheck", "certyfikat systemu"),
])
def test_requests_not_signed_by_a_registered_ezd_are_refused_and_audited(
        ctx: None, catalog: None, pki: Path, ezd: Callable[..., Any], case: str, fault_code: str,
        certificate: str | None) -> None:
    deliver_through_the_outbox(pki)
    wsse = {
        "unsigned": None,
        # tp-seal is issued by the same CA as the EZD's certificate: only registered certificates count
        "unregistered certificate": signing(pki, "tp-seal"),
        "stale timestamp": signing(pki, "office-system", Timestamp(age=timedelta(minutes=10),
                                                                   lifetime=timedelta(hours=1))),
        "body changed after signing": signing(pki, "office-system", None, ChangeAfterSigning()),
        "SHA-1 signature": signing(pki, method=xmlsec.Transform.RSA_SHA1),
    }[case]
    pull = ezd(wsse)
    with pytest.raises(zeep.exceptions.Fault) as refused:
        pull.pobierzNastepny(**INBOX)
    assert refused.value.code == fault_code
    assert refused.value.detail.find(f"{{{soap.OB}}}Wyjatek").findtext("kod") == "401"
    entries = refusals()
    assert len(entries) == 1 and entries[0].details["code"] == fault_code.split(":")[1]
    if certificate:
        assert certificate in entries[0].details["certificate"]
    item = db.session.scalar(select(PullItem))
    assert item.state == PENDING and item.fetch_count == 0  # nothing was handed out


def _signed_envelope(pki: Path, operation: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{soap.SOAP}}}Envelope", nsmap={"soapenv": soap.SOAP})
    etree.SubElement(envelope, f"{{{soap.SOAP}}}Body").append(operation)
    envelope, _ = signing(pki).apply(envelope, {})
    return etree.tostring(envelope)


def _fault(answer: requests.Response) -> tuple[str, str, str]:
    assert answer.status_code == 500 and answer.headers["Content-Type"].startswith("text/xml")
    fault = etree.fromstring(answer.content).find(f"{{{soap.SOAP}}}Body/{{{soap.SOAP}}}Fault")
    kod = fault.findtext(f"detail/{{{soap.OB}}}Wyjatek/kod")
    return fault.findtext("faultcode"), fault.findtext("faultstring"), kod


def test_malformed_requests_get_soap_faults(live_portal: str, pki: Path, pull_service: None) -> None:
    url = f"{live_portal}/epuap/ws/pull"
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    incomplete = etree.Element(f"{{{soap.OB}}}ZapytaniePullPotwierdz", nsmap={"ob": soap.OB})
    etree.SubElement(incomplete, "podmiot").text = SUBJECT
    etree.SubElement(incomplete, "nazwaSkrytki").text = "skrytka"  # adresSkrytki and skrot missing
    unknown = etree.Element(f"{{{soap.OB}}}ZapytanieDajUpp", nsmap={"ob": soap.OB})
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><soapenv:Envelope xmlns:soapenv="'
            + soap.SOAP.encode() + b'"><soapenv:Body>&a;</soapenv:Body></soapenv:Envelope>')
    with requests.Session() as http:
        code, message, kod = _fault(http.post(url, data=b"this is not XML", headers=headers, timeout=10))
        assert (code, kod) == ("soapenv:Client", "400") and "malformed" in message
        code, message, kod = _fault(http.post(url, data=bomb, headers=headers, timeout=10))
        assert (code, kod) == ("soapenv:Client", "400")
        code, message, kod = _fault(http.post(url, data=_signed_envelope(pki, incomplete), headers=headers,
                                              timeout=10))
        assert (code, kod) == ("soapenv:Client", "400") and "obiektypk.xsd" in message
        code, message, kod = _fault(http.post(url, data=_signed_envelope(pki, unknown), headers=headers, timeout=10))
        assert (code, kod) == ("soapenv:Client", "400") and "unknown request element" in message
        soap12 = b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>'
        code, message, kod = _fault(http.post(url, data=soap12, headers=headers, timeout=10))
        assert (code, kod) == ("soapenv:VersionMismatch", "400")
        code, message, kod = _fault(http.post(url, data=b"<a>" + b" " * (1024 * 1024) + b"</a>", headers=headers,
                                              timeout=10))
        assert (code, kod) == ("soapenv:Client", "413")


def test_a_request_for_another_inbox_is_refused(ezd: Callable[..., Any]) -> None:
    with pytest.raises(zeep.exceptions.Fault) as refused:
        ezd().oczekujaceDokumenty(podmiot="InnyUrzad", nazwaSkrytki="skrytka", adresSkrytki="/InnyUrzad/skrytka")
    assert refused.value.code == "soapenv:Client" and MAILBOX in refused.value.message


def test_the_settings_are_checked(app: Flask, pki: Path, tmp_path: Path) -> None:
    good = {"EPUAP_PULL_SUBJECT": SUBJECT, "EPUAP_PULL_MAILBOX": MAILBOX,
            "EPUAP_PULL_CLIENT_CERTS": str(pki / "office-system.pem")}
    adapter("epuap-pull", good).check_config()
    expired = next(p for p in (pki / "residents").glob("*-expired.pem"))
    assert x509.load_pem_x509_certificate(expired.read_bytes()).not_valid_after_utc < datetime.now(UTC)
    for change, named in [({"EPUAP_PULL_CLIENT_CERTS": ""}, "PORTAL_EPUAP_PULL_CLIENT_CERTS"),
                          ({"EPUAP_PULL_CLIENT_CERTS": str(tmp_path / "missing.pem")}, "cannot read"),
                          ({"EPUAP_PULL_CLIENT_CERTS": str(expired)}, "no certificate"),
                          ({"EPUAP_PULL_MAILBOX": "skrytka"}, "PORTAL_EPUAP_PULL_MAILBOX"),
                          ({"EPUAP_PULL_SUBJECT": "x" * 101}, "PORTAL_EPUAP_PULL_SUBJECT")]:
        with pytest.raises(ValueError, match=named):
            adapter("epuap-pull", {**good, **change}).check_config()
    assert service.mailbox(good).name == "skrytka"


def test_an_unconfigured_portal_answers_with_a_server_fault(app: Flask, ezd: Callable[..., Any]) -> None:
    app.config["EPUAP_PULL_CLIENT_CERTS"] = ""  # the pull_service fixture puts it back
    with pytest.raises(zeep.exceptions.Fault) as refused:
        ezd().oczekujaceDokumenty(**INBOX)
    assert refused.value.code == "soapenv:Server" and "not configured" in refused.value.message


def test_the_additional_data_carry_the_receipt_the_detached_signature_and_the_attachments() -> None:
    photo, scan = b"\x89PNG fake", b"%PDF-1.7 fake"
    envelope = Envelope(
        submission_id="0b9f2c7e-0000-4000-8000-000000000001", receipt_id="OK-2026-ABCDEFGH",
        service_id="pismo-ogolne", service_version="1", service_title="Pismo ogólne", unit="OR",
        jrwa_class="0012", sender_name="Jan Kowalski", filed_at=datetime(2026, 3, 2, 9, 15, tzinfo=UTC),
        document=b"<Dokument/>", document_sha256=hashlib.sha256(b"<Dokument/>").hexdigest(), upo=b"<UPO/>",
        signature={}, detached_signature=b"<ds:Signature/>",
        attachments=(Attachment("zdjęcie.png", "image/png", photo, hashlib.sha256(photo).hexdigest()),
                     Attachment("skan.pdf", "application/pdf", scan, hashlib.sha256(scan).hexdigest())))
    extra = etree.fromstring(service.additional_data(envelope))
    assert extra.findtext("Usluga") == "Pismo ogólne" and extra.find("Usluga").get("identyfikator") == "pismo-ogolne"
    assert extra.findtext("DataDoreczenia") == "2026-03-02T09:15:00.000+00:00"
    assert base64.b64decode(extra.findtext("UPO")) == b"<UPO/>"
    assert base64.b64decode(extra.findtext("PodpisZewnetrzny")) == b"<ds:Signature/>"
    files = {item.get("nazwaPliku"): item for item in extra.iterfind("Zalacznik")}
    assert base64.b64decode(files["zdjęcie.png"].text) == photo and files["zdjęcie.png"].get("format") == "image/png"
    # the signed document names each attachment by this URN in str:DaneZalacznika
    assert files["skan.pdf"].get("uri") == f"urn:okienko:zalacznik:sha256:{hashlib.sha256(scan).hexdigest()}"
