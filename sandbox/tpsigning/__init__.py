"""Sandbox TpSigning5: the SOAP service and the confirmation page of the trusted-profile signature.

`addDocumentToSigning` keeps the document and answers with the address the resident is sent
to; there the resident (known from the sandbox login, or chosen from the demo residents)
confirms or cancels; `getSignedDocument`, called with that same address, returns the
signed document once confirmed.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, redirect, render_template, request, session
from lxml import etree

from sandbox import people
from sandbox.tpsigning import wssec, xades

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TNS = "http://signing.ws.comarch.gov"
WSDL = Path(__file__).with_name("tpSigning5.wsdl")
MAX_DOCUMENT = 10 * 1024 * 1024  # pz.gov.pl signs files up to 10 MB


@dataclass
class Task:
    id: str
    document: bytes
    success_url: str
    failure_url: str
    additional_info: str
    created: float
    signed: bytes | None = None
    cancelled: bool = False


_tasks: dict[str, Task] = {}
_lock = threading.Lock()


def _envelope(body: etree._Element) -> Response:
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soapenv": SOAP, "sig": TNS})
    etree.SubElement(envelope, f"{{{SOAP}}}Body").append(body)
    return Response(etree.tostring(envelope, xml_declaration=True, encoding="UTF-8"),
                    content_type="text/xml; charset=utf-8")


def _fault(message: str, code: str = "soapenv:Client") -> Response:
    fault = etree.Element(f"{{{SOAP}}}Fault")
    etree.SubElement(fault, "faultcode").text = code
    etree.SubElement(fault, "faultstring").text = message
    response = _envelope(fault)
    response.status_code = 500
    return response


def _text(parent: etree._Element, name: str) -> str | None:
    node = parent.find(f"{{{TNS}}}{name}")
    if node is None:
        node = parent.find(name)
    return node.text if node is not None and node.text is not None else None


def _signing_url(task_id: str) -> str:
    return f"{current_app.config['SANDBOX_PUBLIC_URL']}/tpsigning5/podpis/{task_id}"


def build(app: Flask, pki: Path) -> Blueprint:
    bp = Blueprint("tpsigning", __name__, url_prefix="/tpsigning5")

    @bp.get("")
    def wsdl() -> Response:
        if "wsdl" not in request.args:
            abort(404)
        text = WSDL.read_text(encoding="utf-8").replace(
            "https://pz.gov.pl/ep-services/tpSigning5", f"{current_app.config['SANDBOX_PUBLIC_URL']}/tpsigning5"
        )
        return Response(text, content_type="text/xml; charset=utf-8")

    @bp.post("")
    def soap() -> Response:
        if request.content_length and request.content_length > 2 * MAX_DOCUMENT:
            return _fault("document too large")
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)
        try:
            envelope = etree.fromstring(request.get_data(), parser)
        except etree.XMLSyntaxError:
            return _fault("malformed SOAP message")
        try:
            wssec.check(envelope, pki / "ca.pem")
        except wssec.Unsigned as refusal:
            return _fault(str(refusal))
        body = envelope.find(f"{{{SOAP}}}Body")
        operation = body[0] if body is not None and len(body) else None
        if operation is None:
            return _fault("empty SOAP body")
        if operation.tag == f"{{{TNS}}}addDocumentToSigning":
            return _add_document(operation)
        if operation.tag == f"{{{TNS}}}getSignedDocument":
            return _get_signed(operation)
        return _fault(f"unknown operation {etree.QName(operation).localname}")

    def _add_document(operation: etree._Element) -> Response:
        raw, success, failure = _text(operation, "doc"), _text(operation, "successURL"), _text(operation, "failureURL")
        if not raw or not success or not failure:
            return _fault("doc, successURL and failureURL are required")
        try:
            document = base64.b64decode(raw, validate=True)
        except ValueError:
            return _fault("doc is not base64")
        if len(document) > MAX_DOCUMENT:
            return _fault("document larger than 10 MB")
        task = Task(secrets.token_urlsafe(24), document, success, failure, _text(operation, "additionalInfo") or "",
                    time.time())
        with _lock:
            _tasks[task.id] = task
        response = etree.Element(f"{{{TNS}}}addDocumentToSigningResponse")
        etree.SubElement(response, f"{{{TNS}}}addDocumentToSigningReturn").text = _signing_url(task.id)
        return _envelope(response)

    def _get_signed(operation: etree._Element) -> Response:
        reference = _text(operation, "id") or ""
        task_id = reference.rstrip("/").rsplit("/", 1)[-1]
        with _lock:
            task = _tasks.get(task_id)
        if task is None or reference != _signing_url(task_id):
            return _fault("unknown document id")
        response = etree.Element(f"{{{TNS}}}getSignedDocumentResponse")
        if task.signed is not None:
            returned = etree.SubElement(response, f"{{{TNS}}}getSignedDocumentReturn")
            returned.text = base64.b64encode(task.signed).decode()
        return _envelope(response)

    @bp.route("/podpis/<task_id>", methods=["GET", "POST"])
    def confirm(task_id: str) -> Any:
        with _lock:
            task = _tasks.get(task_id)
        if task is None:
            return render_template("error.html", provider=None, error="unknown_task",
                                   description="Nie ma takiego dokumentu do podpisu."), 404
        signed_in = people.resident(session.get("wk_user", ""))
        if request.method == "GET":
            return render_template("sign.html", task=task, person=signed_in, residents=people.RESIDENTS,
                                   preview=_preview(task.document))
        if request.form.get("action") == "cancel":
            task.cancelled = True
            return redirect(task.failure_url)
        person = signed_in or people.resident(request.form.get("account", ""))
        if person is None:
            abort(400)
        task.signed = xades.sign(
            task.document, person, (pki / "tp-seal.pem").read_bytes(), (pki / "tp-seal.key").read_bytes(),
            current_app.config.get("TP_ROLE_FORMAT", "EPSignature"),
        )
        return redirect(task.success_url)

    @bp.post("/settings")
    def settings() -> Any:
        """Test hook: make the service answer with the older PodpisZP format, as some production signatures do."""
        role_format = request.form.get("role_format", "EPSignature")
        if role_format not in ("EPSignature", "PodpisZP"):
            abort(400)
        current_app.config["TP_ROLE_FORMAT"] = role_format
        return {"role_format": role_format}

    app.register_blueprint(bp)
    return bp


def _preview(document: bytes) -> list[tuple[str, str]]:
    """Leaf values of the document, so the resident sees what they are about to sign."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        root = etree.fromstring(document, parser)
    except etree.XMLSyntaxError:
        return []
    rows = []
    for element in root.iter():
        if isinstance(element.tag, str) and len(element) == 0 and element.text and element.text.strip():
            rows.append((etree.QName(element).localname, element.text.strip()))
    return rows
