"""The sandbox's trusted list (ETSI TS 119 612), as the Polish list of qualified trust service providers
publishes its own: the sandbox CA as a qualified CA, the list signed by its operator with XAdES."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from sandbox.tpsigning import xades

TSL = "http://uri.etsi.org/02231/v2#"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def _el(parent: etree._Element, name: str, text: str | None = None, **attrs: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{TSL}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _name(parent: etree._Element, tag: str, text: str) -> None:
    _el(_el(parent, tag), "Name", text, **{XML_LANG: "pl"})


def build(pki: Path) -> bytes:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    root = etree.Element(f"{{{TSL}}}TrustServiceStatusList", {"Id": "TrustServiceStatusList",
                         "TSLTag": "http://uri.etsi.org/19612/TSLTag"}, nsmap={"tsl": TSL})
    scheme = _el(root, "SchemeInformation")
    _el(scheme, "TSLVersionIdentifier", "5")
    _el(scheme, "TSLSequenceNumber", str(int(now.timestamp())))  # every list served is a newer one
    _el(scheme, "TSLType", "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric")
    _name(scheme, "SchemeOperatorName", "Okienko Sandbox — operator listy zaufanej")
    _el(scheme, "SchemeTerritory", "PL")
    _el(scheme, "ListIssueDateTime", now.isoformat().replace("+00:00", "Z"))
    _el(_el(scheme, "NextUpdate"), "dateTime", (now + datetime.timedelta(days=180)).isoformat().replace("+00:00", "Z"))
    provider = _el(_el(root, "TrustServiceProviderList"), "TrustServiceProvider")
    _name(_el(provider, "TSPInformation"), "TSPName", "Okienko Sandbox")
    information = _el(_el(_el(provider, "TSPServices"), "TSPService"), "ServiceInformation")
    _el(information, "ServiceTypeIdentifier", "http://uri.etsi.org/TrstSvc/Svctype/CA/QC")
    _name(information, "ServiceName", "Okienko Sandbox Root CA — kwalifikowane certyfikaty")
    identity = _el(_el(information, "ServiceDigitalIdentity"), "DigitalId")
    _el(identity, "X509Certificate", base64.b64encode(ca.public_bytes(serialization.Encoding.DER)).decode())
    _el(information, "ServiceStatus", "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/granted")
    _el(information, "StatusStartingTime", (now - datetime.timedelta(days=365)).isoformat().replace("+00:00", "Z"))
    # Where the provider publishes its revocation data: the CRL its certificates name.
    issued = x509.load_pem_x509_certificate((pki / "office-seal.pem").read_bytes())
    points = issued.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    supply = _el(information, "ServiceSupplyPoints")
    for point in points:
        for name in point.full_name or []:
            _el(supply, "ServiceSupplyPoint", name.value)
    xades.seal(root, (pki / "tsl-signer.pem").read_bytes(), (pki / "tsl-signer.key").read_bytes())
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
