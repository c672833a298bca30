"""One verification policy for every signed XML document the portal accepts.

The order follows how an appeal court would look at a signature, with the cheap questions first
so that a hostile file costs little: is the file sane, does each signature cover the whole
document and nothing else, are the algorithms and keys acceptable, does the certificate lead to
a trusted authority at all (nothing fetched, no digest computed before this), does the
cryptography hold, is the signed content the document we prepared, who signed (the certificate
says, unless it is the trusted-profile service's seal, which vouches for a person), and finally
the full certificate path with revocation. The verdict uses the indications of ETSI EN 319 102-1.

Three forms are accepted: enveloped (the signatures inside the document's root: one, or several
co-signatures), detached (a file holding only `ds:Signature`, naming the document by file name)
and enveloping (the document inside the signature's `ds:Object`). Counter-signatures in the
unsigned properties are verified as signatures of their own.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from portal import xmlsafe
from portal.signing import certpath, timestamp
from portal.signing.algorithms import DIGEST_METHODS, SIGNATURE_METHODS

DS = "http://www.w3.org/2000/09/xmldsig#"
XADES_NAMESPACES = ("http://uri.etsi.org/01903/v1.3.2#", "http://uri.etsi.org/01903/v1.4.1#")
EPSIGNATURE_NS = "http://crd.gov.pl/xml/schematy/podpis_zaufany/"
PODPISZP_NS = "http://crd.gov.pl/xml/schematy/ppzp/"
SIGNED_PROPERTIES_TYPES = {"http://uri.etsi.org/01903#SignedProperties", "http://uri.etsi.org/01903/v1.3.2#SignedProperties"}
COUNTERSIGNED_TYPES = {"http://uri.etsi.org/01903#CountersignedSignature",
                       "http://uri.etsi.org/01903/v1.3.2#CountersignedSignature"}

TOTAL_PASSED = "TOTAL_PASSED"
TOTAL_FAILED = "TOTAL_FAILED"
INDETERMINATE = "INDETERMINATE"

ENVELOPED_FORM, DETACHED_FORM, ENVELOPING_FORM = "enveloped", "detached", "enveloping"

CANONICALISATIONS = {
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2001/10/xml-exc-c14n#",
    "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
}
# ETSI TS 119 312: elliptic curves still recommended for signatures (RSA is bounded by Policy.min_rsa_bits).
ACCEPTED_CURVES = {"secp256r1", "secp384r1", "secp521r1", "brainpoolP256r1", "brainpoolP384r1", "brainpoolP512r1"}

# What may appear inside a signature (outside an enveloping signature's document): XML-DSig and its 1.1
# additions, the XPath Filter 2.0 transform, XAdES (1.3.2, 1.4.1, EN 319 132) and the trusted profile's roles.
SIGNATURE_VOCABULARY = {DS, "http://www.w3.org/2009/xmldsig11#", "http://www.w3.org/2002/06/xmldsig-filter2",
                        *XADES_NAMESPACES, "http://uri.etsi.org/19132/v1.1.1#", EPSIGNATURE_NS, PODPISZP_NS}

ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
XPATH = "http://www.w3.org/TR/1999/REC-xpath-19991116"
XPATH_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
# The only XPath expressions accepted mean "everything but the signatures", with the prefix bound to
# the XML-DSig namespace in the transform itself (a prefix bound elsewhere would cut out content).
XPATH_EXCLUDING_SIGNATURE = re.compile(r"not\(ancestor-or-self::(?P<prefix>[A-Za-z_][\w.-]*):Signature\)")
FILTER2_SIGNATURES = re.compile(r"(?:/descendant::|//)(?P<prefix>[A-Za-z_][\w.-]*):Signature")

# Plain-words reasons, Polish and English; codes are stable and stored with the verdict.
REASONS: dict[str, tuple[str, str]] = {
    "too_large": ("Plik jest zbyt duży.", "The file is too large."),
    "encoding": ("Dokument musi być zapisany w UTF-8.", "The document must be encoded in UTF-8."),
    "doctype": ("Dokument zawiera deklarację DOCTYPE, której nie przyjmujemy.",
                "The document contains a DOCTYPE declaration, which is not accepted."),
    "malformed": ("Plik nie jest poprawnym dokumentem XML.", "The file is not a well-formed XML document."),
    "no_signature": ("Dokument nie jest podpisany.", "The document is not signed."),
    "detached_without_content": ("To podpis zewnętrzny (oddzielny plik): potrzebny jest też podpisany dokument.",
                                 "This is a detached signature: the signed document is needed too."),
    "several_signatures": ("Podpis zewnętrzny lub otaczający może być tylko jeden w pliku.",
                           "A detached or enveloping signature file may hold only one signature."),
    "too_many_signatures": ("Plik zawiera więcej podpisów lub certyfikatów, niż przyjmujemy.",
                            "The file holds more signatures or certificates than are accepted."),
    "not_the_expected_signer": ("Ten dokument może podpisać tylko jego wystawca, a podpis złożył ktoś inny.",
                                "Only the document's issuer may sign it, and someone else signed it."),
    "signature_misplaced": ("Podpis nie znajduje się w elemencie głównym dokumentu.",
                            "The signature is not inside the document's root element."),
    "duplicate_ids": ("Dokument zawiera powtórzone identyfikatory elementów.",
                      "The document repeats element identifiers."),
    "reference_scope": ("Podpis nie obejmuje całego dokumentu.", "The signature does not cover the whole document."),
    "unexpected_reference": ("Podpis zawiera odwołania, których nie przyjmujemy.",
                             "The signature contains references that are not accepted."),
    "unsigned_content": ("Plik zawiera treść, której podpis nie obejmuje.",
                         "The file contains content that the signature does not cover."),
    "manifest": ("Podpis zawiera manifest, którego nie przyjmujemy.",
                 "The signature contains a manifest, which is not accepted."),
    "weak_algorithm": ("Podpis użyto algorytmu, który nie jest już bezpieczny lub nie jest dopuszczony.",
                       "The signature uses an algorithm that is weak or not allowed."),
    "weak_key": ("Klucz certyfikatu podpisującego jest zbyt słaby (np. RSA krótszy niż 2048 bitów).",
                 "The signing certificate's key is too weak (e.g. RSA shorter than 2048 bits)."),
    "no_certificate": ("Podpis nie zawiera certyfikatu podpisującego.",
                       "The signature does not carry the signing certificate."),
    "cryptography": ("Podpis jest nieważny: dokument lub podpis zmieniono po podpisaniu.",
                     "The signature is invalid: the document or the signature was changed after signing."),
    "no_signed_properties": ("Podpis nie ma wymaganych atrybutów XAdES.",
                             "The signature lacks the required XAdES properties."),
    "signing_certificate": ("Atrybut certyfikatu podpisującego nie zgadza się z certyfikatem.",
                            "The signing-certificate attribute does not match the certificate."),
    "timestamp": ("Znacznik czasu podpisu jest nieprawidłowy.", "The signature's time-stamp is invalid."),
    "untrusted": ("Certyfikatu nie wydał zaufany dostawca usług.",
                  "The certificate was not issued by a trusted provider."),
    "expired": ("Certyfikat podpisującego jest nieważny (wygasł lub jeszcze nie obowiązuje).",
                "The signing certificate is expired or not yet valid."),
    "revoked": ("Certyfikat podpisującego został unieważniony.", "The signing certificate has been revoked."),
    "revocation_unknown": ("Nie udało się sprawdzić, czy certyfikat nie został unieważniony.",
                           "Whether the certificate was revoked could not be checked."),
    "content_mismatch": ("Podpisany dokument różni się od dokumentu przygotowanego w portalu.",
                         "The signed document differs from the document the portal prepared."),
    "no_signer": ("Nie udało się ustalić, kto złożył podpis.", "Who signed could not be determined."),
    "claimed_identity": ("Podpis przypisuje sobie tożsamość innej osoby niż właściciel certyfikatu: "
                         "tylko pieczęć profilu zaufanego może poświadczać, kto podpisał.",
                         "The signature claims the identity of someone other than the certificate's holder: "
                         "only the trusted profile's seal may vouch for who signed."),
    "signer_mismatch": ("Podpis złożyła inna osoba niż ta, która jest zalogowana w portalu.",
                        "The document was signed by someone other than the person logged in to the portal."),
}


class VerificationFailed(Exception):
    def __init__(self, code: str, indication: str = TOTAL_FAILED) -> None:
        self.code = code
        self.indication = indication
        super().__init__(REASONS[code][1])


@dataclass
class Signer:
    given_name: str | None
    family_name: str | None
    pesel: str | None
    source: str  # "EPSignature", "PodpisZP" or "certificate"

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.given_name, self.family_name) if p)


@dataclass
class SignatureReport:
    """One signature of the file, as verified: several co-signers each get one."""

    role: str  # "signature" or "counter-signature"
    signer: Signer | None = None
    certificate: dict[str, str] | None = None
    signing_time: str | None = None
    timestamp: str | None = None
    chain: list[str] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """Without the PESEL: what is stored with a submission and printed."""
        return {"role": self.role, "signer": self.signer.name if self.signer else None,
                "source": self.signer.source if self.signer else None, "certificate": self.certificate,
                "signing_time": self.signing_time, "timestamp": self.timestamp, "chain": self.chain}


@dataclass
class Verdict:
    indication: str
    reasons: list[str] = field(default_factory=list)
    signer: Signer | None = None  # the resident's signature's signer, else the first signature's
    signing_time: str | None = None
    certificate: dict[str, str] | None = None
    chain: list[str] = field(default_factory=list)
    signer_matches_resident: bool | None = None
    content_matches: bool | None = None
    timestamp: str | None = None  # a verified signature time-stamp (XAdES-T): the time validation uses
    form: str = ENVELOPED_FORM
    integrity_only: bool = False  # the certificate was its own anchor: no trust, revocation or validity checked
    signatures: list[SignatureReport] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.indication == TOTAL_PASSED

    @property
    def detached(self) -> bool:
        """The signature came as a separate file beside the document."""
        return self.form == DETACHED_FORM

    @property
    def signature_apart(self) -> bool:
        """The file is a signature, not the document: detached, or enveloping the document. The filed
        document is then the prepared one, which the signature was verified to cover exactly."""
        return self.form in (DETACHED_FORM, ENVELOPING_FORM)

    def messages(self, lang: str = "pl") -> list[str]:
        index = 0 if lang == "pl" else 1
        return [REASONS[code][index] for code in self.reasons]

    def stored(self) -> dict[str, Any]:
        """The verdict as kept with a submission: no PESEL, only whether it matched."""
        data = asdict(self)
        if data["signer"]:
            data["signer"].pop("pesel", None)
        data["signatures"] = [report.public() for report in self.signatures]
        data["detached"] = self.detached
        data["valid"] = self.valid
        return data

    def report(self) -> dict[str, Any]:
        """The verdict as printed by `okienko signature verify`."""
        data = self.stored()
        data["reasons"] = self.messages("en")
        data["reason_codes"] = self.reasons
        data["signer"] = self.signer.name if self.signer else None
        return data


@dataclass(frozen=True)
class Policy:
    trust_anchors: tuple[bytes, ...]  # DER certificates
    revocation_mode: str = "soft-fail"  # "require", "soft-fail" or "offline"
    max_bytes: int = 10 * 1024 * 1024
    accept_embedded_certificate: bool = False  # `--offline`: the integrity of the file only
    # DER certificates of the trusted-profile service's seal: only signatures made with one of them
    # may name their signer in an EPSignature / PodpisZP role.
    trusted_profile_seals: tuple[bytes, ...] = ()
    fetching: certpath.Fetching = field(default_factory=certpath.Fetching)
    min_rsa_bits: int = 2048
    # When set, the only signing certificates (DER) accepted — an office's seals for its receipts —
    # checked before any cryptography: nobody else's file costs more than its parsing.
    signers: tuple[bytes, ...] | None = None

    @classmethod
    def from_pem_files(cls, *paths: str | Path, revocation_mode: str = "soft-fail",
                       trusted_profile_seals: tuple[str | Path, ...] = (),
                       fetch_hosts: tuple[str, ...] = ()) -> Policy:
        anchors = [der for path in paths for der in der_certificates(Path(path).read_bytes())]
        seals = [der for path in trusted_profile_seals for der in der_certificates(Path(path).read_bytes())]
        return cls(trust_anchors=tuple(anchors), revocation_mode=revocation_mode, trusted_profile_seals=tuple(seals),
                   fetching=certpath.Fetching(hosts=certpath.hosts(fetch_hosts)))


def der_certificates(pem: bytes) -> list[bytes]:
    """Every certificate in a PEM bundle, as DER."""
    return [c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(pem)]


def _one(parent: etree._Element, path: str) -> etree._Element | None:
    found = parent.findall(path)
    return found[0] if len(found) == 1 else None


COUNTER_SIGNATURE_PATH = ("CounterSignature", "UnsignedSignatureProperties", "UnsignedProperties",
                          "QualifyingProperties", "Object")


def _countersigned(signature: etree._Element) -> etree._Element | None:
    """The signature this one counter-signs: it sits in that signature's
    `Object/QualifyingProperties/UnsignedProperties/UnsignedSignatureProperties/CounterSignature`."""
    ancestors = list(signature.iterancestors())
    if len(ancestors) < 6 or ancestors[5].tag != f"{{{DS}}}Signature":
        return None
    for node, name in zip(ancestors, COUNTER_SIGNATURE_PATH, strict=False):
        namespace = etree.QName(node).namespace
        if etree.QName(node).localname != name or namespace not in (*XADES_NAMESPACES, DS):
            return None
    return ancestors[5]


MAX_SIGNATURES = 10  # top-level signatures in one file (co-signers), and counter-signatures likewise
MAX_CERTIFICATES = 10  # certificates in one signature's KeyInfo
NODES_PER_SIGNATURE = 300  # a XAdES-T signature with its properties holds well under a hundred


def _node_count(root: etree._Element) -> int:
    return sum(1 for _ in root.iter())


def _find_signatures(root: etree._Element) -> tuple[str, list[etree._Element], list[etree._Element]]:
    """The form, the top-level signatures and the counter-signatures. Anything else is misplaced; more than
    a real document carries is refused before any of them is looked at closely."""
    found = list(root.iter(f"{{{DS}}}Signature"))
    if not found:
        raise VerificationFailed("no_signature")
    if len(found) > 2 * MAX_SIGNATURES:
        raise VerificationFailed("too_many_signatures")
    top = [s for s in found if s is root or s.getparent() is root]
    top_ids = {id(s) for s in top}
    counters = []
    for candidate in found:
        if id(candidate) in top_ids:
            continue
        # One level only: a counter-signature of a counter-signature is not something residents make.
        parent = _countersigned(candidate)
        if parent is None or id(parent) not in top_ids:
            raise VerificationFailed("signature_misplaced")
        counters.append(candidate)
    if len(top) > MAX_SIGNATURES or len(counters) > MAX_SIGNATURES:
        raise VerificationFailed("too_many_signatures")
    for signature in top:
        if signature is not root and (signature.tail or "").strip():
            # Text right after a signature is covered by the digest yet dropped with the signature when
            # the content is compared: it would be filed unnoticed.
            raise VerificationFailed("unsigned_content")
    if root.tag == f"{{{DS}}}Signature":
        return DETACHED_FORM, top, counters  # or enveloping: told apart by the references (_check_shape)
    return ENVELOPED_FORM, top, counters


ID_NAMES = ("Id", "ID", "id")
XML_NS = "http://www.w3.org/XML/1998/namespace"


def _check_ids(root: etree._Element) -> dict[str, etree._Element]:
    """Every identifier a reference could be resolved to — `Id`, `ID`, `id` in any namespace and `xml:id`,
    which libxml2 registers by itself — is unique in the file, and an element carries at most one: xmlsec
    then cannot be led to another element than the one the shape check looked at."""
    ids: dict[str, etree._Element] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        found = [value for name, value in element.attrib.items() if etree.QName(name).localname in ID_NAMES]
        if len(found) > 1:
            raise VerificationFailed("duplicate_ids")
        for value in found:
            if value in ids:
                raise VerificationFailed("duplicate_ids")
            ids[value] = element
    return ids


def _id_attribute(element: etree._Element) -> str | None:
    """The element's identifier attribute, when it is a plain (namespace-less) one; `_check_ids` has made
    sure it is the element's only one."""
    return next((name for name in ID_NAMES if element.get(name) is not None), None)


def _signed_properties(signature: etree._Element) -> etree._Element:
    for ns in XADES_NAMESPACES:
        found = signature.findall(f"{{{DS}}}Object/{{{ns}}}QualifyingProperties/{{{ns}}}SignedProperties")
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise VerificationFailed("no_signed_properties")
    raise VerificationFailed("no_signed_properties")


DETACHED_NAME = re.compile(r"[A-Za-z0-9._-]{1,200}")


def _excludes_signatures(transform: etree._Element) -> bool:
    """An XPath or XPath Filter 2.0 transform that removes exactly the signatures, or a refusal."""
    algorithm = transform.get("Algorithm")
    if algorithm == XPATH:
        nodes = transform.findall(f"{{{DS}}}XPath")
        pattern = XPATH_EXCLUDING_SIGNATURE
    else:
        nodes = transform.findall(f"{{{XPATH_FILTER2}}}XPath")
        pattern = FILTER2_SIGNATURES
        if len(nodes) != 1 or nodes[0].get("Filter") != "subtract":
            raise VerificationFailed("unexpected_reference")
    if len(nodes) != 1 or len(transform) != 1:
        raise VerificationFailed("unexpected_reference")
    match = pattern.fullmatch("".join("".join(nodes[0].itertext()).split()))
    if match is None or nodes[0].nsmap.get(match.group("prefix")) != DS:
        raise VerificationFailed("unexpected_reference")
    return True


def _check_algorithms(signed_info: etree._Element) -> None:
    c14n = _one(signed_info, f"{{{DS}}}CanonicalizationMethod")
    method = _one(signed_info, f"{{{DS}}}SignatureMethod")
    if c14n is None or c14n.get("Algorithm") not in CANONICALISATIONS:
        raise VerificationFailed("weak_algorithm")
    if method is None or method.get("Algorithm") not in SIGNATURE_METHODS:
        raise VerificationFailed("weak_algorithm")


@dataclass
class _Shape:
    form: str
    detached_name: str | None = None  # the file name a detached signature gives its document
    enveloped_object: etree._Element | None = None  # the ds:Object an enveloping signature holds it in
    registered: list[tuple[etree._Element, str]] = field(default_factory=list)  # ids xmlsec must know


def _check_shape(root: etree._Element, signature: etree._Element, properties: etree._Element,
                 form: str) -> _Shape:
    """The references must be exactly: the whole document (or, detached, a plain file name; or,
    enveloping, this signature's own object), and this signature's SignedProperties."""
    signed_info = _one(signature, f"{{{DS}}}SignedInfo")
    if signed_info is None:
        raise VerificationFailed("cryptography")
    if signature.findall(f".//{{{DS}}}Manifest"):
        raise VerificationFailed("manifest")
    _check_algorithms(signed_info)
    shape = _Shape(form, registered=[(properties, "Id")])
    root_id = root.get(_id_attribute(root)) if _id_attribute(root) else None
    objects = {o.get("Id"): o for o in signature.findall(f"{{{DS}}}Object") if o.get("Id")}
    document_refs, property_refs = [], []
    for reference in signed_info.findall(f"{{{DS}}}Reference"):
        digest = _one(reference, f"{{{DS}}}DigestMethod")
        if digest is None or digest.get("Algorithm") not in DIGEST_METHODS:
            raise VerificationFailed("weak_algorithm")
        uri = reference.get("URI")
        transforms = list(reference.findall(f"{{{DS}}}Transforms/{{{DS}}}Transform"))
        only_c14n = all(t.get("Algorithm") in CANONICALISATIONS for t in transforms)
        if reference.get("Type") in SIGNED_PROPERTIES_TYPES:
            if uri != f"#{properties.get('Id')}" or not only_c14n:
                raise VerificationFailed("unexpected_reference")
            property_refs.append(reference)
            continue
        if form != ENVELOPED_FORM:
            if uri and uri.startswith("#") and uri[1:] in objects:
                if not only_c14n:
                    raise VerificationFailed("unexpected_reference")
                shape.form, shape.enveloped_object = ENVELOPING_FORM, objects[uri[1:]]
                shape.registered.append((objects[uri[1:]], "Id"))
            elif uri and DETACHED_NAME.fullmatch(uri) and not uri.startswith(".") and only_c14n:
                shape.form, shape.detached_name = DETACHED_FORM, uri
            else:
                raise VerificationFailed("unexpected_reference")
            document_refs.append(reference)
            continue
        if uri == f"#{root_id}" and root_id:
            shape.registered.append((root, _id_attribute(root) or "Id"))
        elif uri != "":
            raise VerificationFailed("reference_scope" if uri and uri.startswith("#") else "unexpected_reference")
        excludes_signature = False
        for transform in transforms:
            algorithm = transform.get("Algorithm")
            if algorithm == ENVELOPED:
                excludes_signature = True
            elif algorithm in (XPATH, XPATH_FILTER2):
                excludes_signature = _excludes_signatures(transform)
            elif algorithm not in CANONICALISATIONS:
                raise VerificationFailed("unexpected_reference")
        if not excludes_signature:
            raise VerificationFailed("reference_scope")
        document_refs.append(reference)
    if len(document_refs) != 1:
        raise VerificationFailed("reference_scope")
    if len(property_refs) != 1:
        raise VerificationFailed("no_signed_properties")
    return shape


def _check_counter_shape(counter: etree._Element, parent: etree._Element, properties: etree._Element) -> _Shape:
    """A counter-signature covers its parent's SignatureValue and its own SignedProperties, nothing else."""
    signed_info = _one(counter, f"{{{DS}}}SignedInfo")
    value = _one(parent, f"{{{DS}}}SignatureValue")
    if signed_info is None or value is None:
        raise VerificationFailed("cryptography")
    if counter.findall(f".//{{{DS}}}Manifest"):
        raise VerificationFailed("manifest")
    _check_algorithms(signed_info)
    countersigned = properties_refs = 0
    for reference in signed_info.findall(f"{{{DS}}}Reference"):
        digest = _one(reference, f"{{{DS}}}DigestMethod")
        if digest is None or digest.get("Algorithm") not in DIGEST_METHODS:
            raise VerificationFailed("weak_algorithm")
        if any(t.get("Algorithm") not in CANONICALISATIONS
               for t in reference.findall(f"{{{DS}}}Transforms/{{{DS}}}Transform")):
            raise VerificationFailed("unexpected_reference")
        uri = reference.get("URI")
        if reference.get("Type") in SIGNED_PROPERTIES_TYPES and uri == f"#{properties.get('Id')}":
            properties_refs += 1
        elif reference.get("Type") in COUNTERSIGNED_TYPES and value.get("Id") and uri == f"#{value.get('Id')}":
            countersigned += 1
        else:
            raise VerificationFailed("unexpected_reference")
    if countersigned != 1 or properties_refs != 1:
        raise VerificationFailed("reference_scope")
    return _Shape(ENVELOPED_FORM, registered=[(properties, "Id"), (value, "Id")])


def _check_nothing_unsigned(root: etree._Element, signature: etree._Element, properties: etree._Element,
                            shape: _Shape) -> None:
    """Signature wrapping: the references leave the signature's own ds:Object elements uncovered, so a
    second, unsigned document placed there would verify and be stored with the signed one, and a reader
    looking for the first `wnio:Dokument` below the root would find the forgery. Only the XAdES
    properties may live there (and, enveloping, the one object the reference covers), and nothing but the
    signature vocabularies inside the signature otherwise (a document's `oso:PESEL` in the unsigned
    properties would be filed, and found first by a reader)."""
    qualifying = properties.getparent()
    for holder in signature.findall(f"{{{DS}}}Object"):
        if holder is shape.enveloped_object:
            children = [c for c in holder if isinstance(c.tag, str)]
            if len(children) != 1 or (holder.text or "").strip() or any((c.tail or "").strip() for c in children):
                raise VerificationFailed("unsigned_content")
            continue
        if any(isinstance(child.tag, str) and child is not qualifying for child in holder):
            raise VerificationFailed("unsigned_content")
    for node in signature.iter():
        if not isinstance(node.tag, str) or node is shape.enveloped_object:
            continue
        if shape.enveloped_object is not None and any(a is shape.enveloped_object for a in node.iterancestors()):
            continue  # the document an enveloping signature holds, compared with the prepared one
        if etree.QName(node).namespace not in SIGNATURE_VOCABULARY:
            raise VerificationFailed("unsigned_content")


def _outside_root(root: etree._Element) -> list[tuple[str, str]]:
    """Comments and processing instructions before and after the root element: no `URI=""` reference
    covers them, yet they are part of the bytes filed. (The XML declaration and whitespace there carry
    nothing and are not nodes.)"""
    nodes = list(reversed(list(root.itersiblings(preceding=True)))) + list(root.itersiblings())
    return [(type(node).__name__, etree.tostring(node, encoding="unicode")) for node in nodes]


def _certificates(signature: etree._Element) -> list[x509.Certificate]:
    certs = []
    for node in signature.findall(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate"):
        try:
            certs.append(x509.load_der_x509_certificate(base64.b64decode("".join((node.text or "").split()))))
        except ValueError as exc:
            raise VerificationFailed("no_certificate") from exc
    if not certs:
        raise VerificationFailed("no_certificate")
    if len(certs) > MAX_CERTIFICATES:
        raise VerificationFailed("too_many_signatures")
    return certs


def _check_key(cert: x509.Certificate, policy: Policy) -> None:
    """ETSI TS 119 312: RSA keys of at least `min_rsa_bits`, the recommended curves; nothing else."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size < policy.min_rsa_bits:
            raise VerificationFailed("weak_key")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in ACCEPTED_CURVES:
            raise VerificationFailed("weak_key")
    else:
        raise VerificationFailed("weak_key")


# xmlsec reads external references through IO callbacks, global to the process. The portal keeps
# only its own: nothing is ever read from a file or the network while verifying, and a detached
# signature's document is served from memory, exactly the bytes the caller expects.
_detached = threading.local()
_io_lock = threading.Lock()


def _match(name: bytes) -> bool:
    return name.decode(errors="replace") in getattr(_detached, "content", {})


def _memory_io_only() -> None:
    xmlsec.cleanup_callbacks()
    xmlsec.register_callbacks(_match, lambda name: io.BytesIO(_detached.content[name.decode()]),
                              lambda handle, buffer: handle.readinto(buffer), lambda handle: handle.close())


_memory_io_only()


def _check_cryptography(signature: etree._Element, shape: _Shape, cert: x509.Certificate,
                        content: bytes | None = None) -> None:
    ctx = xmlsec.SignatureContext()
    ctx.key = xmlsec.Key.from_memory(cert.public_bytes(serialization.Encoding.DER), xmlsec.KeyFormat.CERT_DER)
    try:
        # Only the elements the checked references name are registered as ids: xmlsec finds nothing else.
        for element, attribute in shape.registered:
            ctx.register_id(element, attribute)
        if shape.form != DETACHED_FORM:
            ctx.verify(signature)
            return
        with _io_lock:
            _memory_io_only()  # another library in this process may have registered its own
            _detached.content = {shape.detached_name: content}
            try:
                ctx.verify(signature)
            finally:
                _detached.content = {}
    except xmlsec.Error as exc:
        raise VerificationFailed("cryptography") from exc


def _check_signing_certificate(properties: etree._Element, cert: x509.Certificate) -> str | None:
    der = cert.public_bytes(serialization.Encoding.DER)
    digests = []
    for ns in XADES_NAMESPACES:
        for local in ("SigningCertificate", "SigningCertificateV2"):
            digests += properties.findall(f".//{{{ns}}}{local}/{{{ns}}}Cert/{{{ns}}}CertDigest")
    if not digests:
        raise VerificationFailed("no_signed_properties")
    first = digests[0]
    method = _one(first, f"{{{DS}}}DigestMethod")
    value = _one(first, f"{{{DS}}}DigestValue")
    if method is None or value is None or method.get("Algorithm") not in DIGEST_METHODS:
        raise VerificationFailed("weak_algorithm")
    expected = DIGEST_METHODS[method.get("Algorithm")](der).digest()
    if base64.b64decode("".join((value.text or "").split())) != expected:
        raise VerificationFailed("signing_certificate")
    signing_time = None
    for ns in XADES_NAMESPACES:
        node = properties.find(f".//{{{ns}}}SigningTime")
        if node is not None and node.text:
            signing_time = node.text.strip()
    return signing_time


def _signature_timestamp(signature: etree._Element, properties: etree._Element, policy: Policy) -> datetime | None:
    """The time a verified SignatureTimeStamp vouches for, or None when there is none."""
    qualifying = properties.getparent()
    if qualifying is None:
        return None
    tokens = [node for ns in XADES_NAMESPACES
              for node in qualifying.iterfind(f"{{{ns}}}UnsignedProperties/{{{ns}}}UnsignedSignatureProperties/"
                                              f"{{{ns}}}SignatureTimeStamp/{{{ns}}}EncapsulatedTimeStamp")]
    if not tokens:
        return None
    value = signature.find(f"{{{DS}}}SignatureValue")
    if value is None:
        raise VerificationFailed("cryptography")
    try:
        return timestamp.verify_token(base64.b64decode("".join((tokens[0].text or "").split())),
                                      etree.tostring(value, method="c14n"), list(policy.trust_anchors))
    except (timestamp.TimestampFailed, ValueError) as exc:
        raise VerificationFailed("timestamp", INDETERMINATE) from exc


TRUST_CACHE_SECONDS = 300
_trusted: dict[tuple[str, str], tuple[float, list[str]]] = {}
_trusted_lock = threading.Lock()
_paths: dict[tuple[str, str], tuple[float, list[bytes] | None]] = {}


def _anchors_key(policy: Policy, *extra: bytes) -> str:
    return hashlib.sha256(b"".join(sorted(policy.trust_anchors)) + b"".join(extra)).hexdigest()


def _path_to_anchor(ders: list[bytes], policy: Policy) -> list[bytes]:
    """The cheap refusal: a certificate that leads to no anchor ends the verification here, before
    any digest, canonicalisation or network request. The path found is the only one the full validation
    is given. Remembered for five minutes, as validated paths are."""
    key = (hashlib.sha256(b"".join(ders)).hexdigest(), _anchors_key(policy))
    now = time.monotonic()
    with _trusted_lock:
        cached = _paths.get(key)
    if cached is not None and cached[0] > now:
        path = cached[1]
    else:
        path = certpath.path_to_anchor(ders, policy.trust_anchors)
        with _trusted_lock:
            if len(_paths) > 10_000:
                _paths.clear()
            _paths[key] = (now + TRUST_CACHE_SECONDS, path)
    if path is None:
        raise VerificationFailed("untrusted", INDETERMINATE)
    return path


def _check_trust(path: list[bytes], policy: Policy, moment: datetime | None = None,
                 budget: Any = None) -> list[str]:
    """The certificate path, validated; a path found valid is remembered for five minutes.

    Almost every trusted-profile signature carries the same seal certificate, and path building
    costs several milliseconds: re-validating it for each submission would be most of the work.
    Revocation is re-checked when the entry expires (the CRLs themselves are cached ten minutes),
    and never past the end of a certificate's validity. `budget` is the verification's allowance of
    network requests, shared by all its signatures.
    """
    ders = path
    certs = [x509.load_der_x509_certificate(der) for der in path]
    key = (hashlib.sha256(b"".join(ders)).hexdigest(),
           _anchors_key(policy, policy.revocation_mode.encode(), moment.isoformat().encode() if moment else b"",
                        ",".join(sorted(policy.fetching.hosts)).encode()))
    now = time.monotonic()
    with _trusted_lock:
        cached = _trusted.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    try:
        chain = certpath.validate(ders, policy.trust_anchors, policy.revocation_mode, policy.fetching, moment,
                                  budget)
    except certpath.PathRefused as refused:
        raise VerificationFailed(refused.code, TOTAL_FAILED if refused.code == "revoked" else INDETERMINATE) \
            from refused
    seconds_left = min(c.not_valid_after_utc.timestamp() for c in certs) - time.time()
    if moment is not None:
        seconds_left = TRUST_CACHE_SECONDS  # validated at a fixed past moment: expiry since does not matter
    with _trusted_lock:
        if len(_trusted) > 10_000:
            _trusted.clear()
        _trusted[key] = (now + min(TRUST_CACHE_SECONDS, max(0.0, seconds_left)), chain)
    return chain


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _find_local(element: etree._Element, name: str) -> str | None:
    for node in element.iter():
        if isinstance(node.tag, str) and _local(node) == name and node.text and node.text.strip():
            return node.text.strip()
    return None


def _claimed_role_elements(properties: etree._Element) -> list[etree._Element]:
    """ClaimedRole content: child elements, or (as some producers do) escaped XML text."""
    elements: list[etree._Element] = []
    for ns in XADES_NAMESPACES:
        for role in properties.findall(f".//{{{ns}}}ClaimedRoles/{{{ns}}}ClaimedRole"):
            children = [c for c in role if isinstance(c.tag, str)]
            if children:
                elements.extend(children)
            elif role.text and role.text.strip().startswith("<"):
                try:
                    elements.append(xmlsafe.parse(role.text.strip().encode(), max_bytes=64 * 1024))
                except xmlsafe.UnsafeXml:
                    continue
    return elements


def _claimed_identities(properties: etree._Element) -> list[Signer]:
    """The persons a signature's roles name, in the order the trusted profile's formats are read:
    EPSignature first, then PodpisZP (both occur in production)."""
    roles = _claimed_role_elements(properties)
    claimed = [Signer(_find_local(role, "FirstName"), _find_local(role, "CurrentFamilyName"),
                      _find_local(role, "PersonalIdentifier"), "EPSignature")
               for role in roles if role.tag == f"{{{EPSIGNATURE_NS}}}EPSignature"]
    claimed += [Signer(_find_local(role, "Imie"), _find_local(role, "Nazwisko"), _find_local(role, "PESEL"), "PodpisZP")
                for role in roles if etree.QName(role).namespace == PODPISZP_NS]
    return claimed


def _certificate_holder(cert: x509.Certificate) -> Signer:
    serial = cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    given = cert.subject.get_attributes_for_oid(NameOID.GIVEN_NAME)
    family = cert.subject.get_attributes_for_oid(NameOID.SURNAME)
    pesel = None
    if serial:
        match = re.fullmatch(r"PNOPL-(\d{11})", str(serial[0].value))
        pesel = match.group(1) if match else None
    return Signer(str(given[0].value) if given else None, str(family[0].value) if family else None, pesel,
                  "certificate")


def _signer(properties: etree._Element, cert: x509.Certificate, policy: Policy) -> Signer:
    """Who signed: the certificate's holder, unless the certificate is the trusted-profile service's
    seal, which signs on behalf of the person its EPSignature / PodpisZP role names.

    Anyone can write a ClaimedRole: for any other certificate a role naming someone other than the
    holder refuses the signature instead of being believed or silently ignored."""
    claimed = _claimed_identities(properties)
    if cert.public_bytes(serialization.Encoding.DER) in policy.trusted_profile_seals and claimed:
        return claimed[0]
    holder = _certificate_holder(cert)
    if any(person.pesel is None or person.pesel != holder.pesel for person in claimed):
        raise VerificationFailed("claimed_identity")
    return holder


def canonical_without_signature(root: etree._Element) -> bytes:
    clone = copy.deepcopy(root)
    for signature in clone.findall(f"{{{DS}}}Signature"):
        clone.remove(signature)
    return etree.tostring(clone, method="c14n")


def _same_document(enveloped: etree._Element, expected: etree._Element) -> bool:
    """Is the document inside an enveloping signature's object exactly the expected one?

    Exclusive canonical forms are compared (the object's element inherits the signature's namespace
    declarations, which carry no content of the document), and every namespace the expected root
    declares must be declared alike, so that no prefix means something else."""
    clean = copy.deepcopy(expected)
    for signature in clean.findall(f"{{{DS}}}Signature"):
        clean.remove(signature)
    if any(enveloped.nsmap.get(prefix) != uri for prefix, uri in clean.nsmap.items()):
        return False
    return etree.tostring(enveloped, method="c14n", exclusive=True) == etree.tostring(clean, method="c14n",
                                                                                      exclusive=True)


def _certificate_summary(cert: x509.Certificate) -> dict[str, str]:
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "sha256": hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest(),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
    }


@dataclass
class _Checked:
    report: SignatureReport
    path: list[bytes]  # from the signer's certificate up to an anchor (empty when checking integrity only)
    stamped_at: datetime | None
    shape: _Shape


def _check_one(root: etree._Element, signature: etree._Element, shape_of: Any, policy: Policy,
               content: bytes | None, role: str, verdict: Verdict) -> _Checked:
    """Everything about one signature but the full path validation, cheapest first. The first
    certificate met is named in the verdict even when the signature fails: who it claims to be."""
    properties = _signed_properties(signature)
    shape = shape_of(properties)
    _check_nothing_unsigned(root, signature, properties, shape)
    if shape.form == DETACHED_FORM and content is None:
        raise VerificationFailed("detached_without_content")
    certs = _certificates(signature)
    report = SignatureReport(role, certificate=_certificate_summary(certs[0]))
    verdict.certificate = verdict.certificate or report.certificate
    _check_key(certs[0], policy)
    ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
    if policy.signers is not None and ders[0] not in policy.signers:
        raise VerificationFailed("not_the_expected_signer")
    path = [] if policy.accept_embedded_certificate else _path_to_anchor(ders, policy)
    _check_cryptography(signature, shape, certs[0], content)
    report.signing_time = _check_signing_certificate(properties, certs[0])
    stamped_at = _signature_timestamp(signature, properties, policy)
    report.timestamp = stamped_at.isoformat() if stamped_at else None
    report.signer = _signer(properties, certs[0], policy)
    return _Checked(report, path, stamped_at, shape)


def verify(
    data: bytes,
    policy: Policy,
    *,
    expected_document: bytes | None = None,
    resident_pesel: str | None = None,
    require_person: bool = True,
    detached_content: bytes | None = None,
) -> Verdict:
    """Check a signed XML document; never raises for a bad document, returns a verdict instead.

    `require_person` is false for seals (receipts, letters), whose signer is an organisation.
    A detached signature (a file holding only `ds:Signature`) is checked against
    `detached_content` (by default the expected document): the only bytes it may cover.
    With several signatures, each must hold; the resident must be one of the signers.
    """
    verdict = Verdict(indication=TOTAL_FAILED, integrity_only=policy.accept_embedded_certificate)
    try:
        try:
            root = xmlsafe.parse(data, policy.max_bytes)
        except xmlsafe.UnsafeXml as exc:
            raise VerificationFailed(exc.code) from exc
        form, signatures, counters = _find_signatures(root)
        if form != ENVELOPED_FORM and len(signatures) > 1:
            raise VerificationFailed("several_signatures")
        _check_ids(root)
        expected_root = xmlsafe.parse(expected_document, policy.max_bytes) if expected_document is not None else None
        if _outside_root(root) != (_outside_root(expected_root) if expected_root is not None and form ==
                                   ENVELOPED_FORM else []):
            raise VerificationFailed("unsigned_content")
        if expected_root is not None and _node_count(root) > _node_count(expected_root) + NODES_PER_SIGNATURE * (
                len(signatures) + len(counters)):
            # More than the prepared document and its signatures can hold: refused before any transform
            # (xmlsec's XPath filter costs time for every node) is run on it.
            raise VerificationFailed("content_mismatch")
        content = detached_content if detached_content is not None else expected_document

        checked: list[_Checked] = []
        for signature in signatures:
            one = _check_one(root, signature, lambda p, s=signature: _check_shape(root, s, p, form), policy, content,
                             "signature", verdict)
            checked.append(one)
            verdict.form = one.shape.form
            for counter in counters:
                if _countersigned(counter) is signature:
                    checked.append(_check_one(root, counter, lambda p, c=counter, s=signature:
                                              _check_counter_shape(c, s, p), policy, None, "counter-signature",
                                              verdict))
        verdict.signatures = [c.report for c in checked]
        main = [c for c in checked if c.report.role == "signature"]
        primary = main[0]
        if resident_pesel is not None:
            primary = next((c for c in main if c.report.signer and c.report.signer.pesel == resident_pesel), primary)
        verdict.signer, verdict.certificate = primary.report.signer, primary.report.certificate
        verdict.signing_time, verdict.timestamp = primary.report.signing_time, primary.report.timestamp

        if verdict.form == DETACHED_FORM:
            # The digest covered exactly `content`; it is the prepared document or it is not.
            verdict.content_matches = expected_document is None or content == expected_document
        elif verdict.form == ENVELOPING_FORM:
            enveloped = next(c for c in primary.shape.enveloped_object if isinstance(c.tag, str))
            verdict.content_matches = expected_root is None or _same_document(enveloped, expected_root)
        elif expected_root is not None:
            verdict.content_matches = canonical_without_signature(root) == canonical_without_signature(expected_root)
        if verdict.content_matches is False:
            raise VerificationFailed("content_mismatch")
        if require_person and not (verdict.signer and verdict.signer.pesel):
            raise VerificationFailed("no_signer")
        if resident_pesel is not None:
            verdict.signer_matches_resident = bool(verdict.signer and verdict.signer.pesel == resident_pesel)
            if not verdict.signer_matches_resident:
                raise VerificationFailed("signer_mismatch")
        if not policy.accept_embedded_certificate:
            budget = certpath.budget(policy.fetching)
            for one in checked:
                one.report.chain = _check_trust(one.path, policy, one.stamped_at, budget)
        verdict.chain = primary.report.chain
    except VerificationFailed as failure:
        verdict.indication = failure.indication
        verdict.reasons.append(failure.code)
        return verdict
    verdict.indication = TOTAL_PASSED
    return verdict
