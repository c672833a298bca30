"""`/epuap/ws/pull`: ePUAP's WS-Pull SOAP service, so an EZD that pulls from ePUAP can pull from Okienko.

`GET /epuap/ws/pull?wsdl` serves pull.wsdl with its address pointing here; the schema and the
policy it imports are served beside it under the relative names the WSDL uses. `POST` takes the
three operations. Every answer is SOAP: faults for what cannot be served (unreadable or unsigned
requests, a wrong mailbox), each refusal of an unauthenticated request logged and audited.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request
from lxml import etree

from portal import xmlsafe
from portal.db_types import utcnow
from portal.epuap_pull import service, soap, wssec
from portal.extensions import csrf, db

log = logging.getLogger(__name__)

bp = Blueprint("epuap_pull", __name__, url_prefix="/epuap/ws")
MAX_REQUEST = 1024 * 1024  # requests carry a few names and a digest; 1 MB leaves room for any signature
XML = "text/xml; charset=utf-8"


def _fault(code: str, message: str, kod: int, security: bool = False) -> Response:
    return Response(soap.fault(code, message, kod, security), status=500, content_type=XML)


@bp.get("/pull")
def wsdl() -> Response:
    if "wsdl" not in {key.lower() for key in request.args}:
        abort(404)
    endpoint = current_app.config["BASE_URL"].rstrip("/") + "/epuap/ws/pull"
    return Response(soap.wsdl(endpoint), content_type=XML)


@bp.get("/<any('obiektypk.xsd', 'sign-policy.wsdl'):name>")
def imported(name: str) -> Response:
    """The files pull.wsdl imports by relative location."""
    return Response((soap.SPEC / name).read_bytes(), content_type=XML)


@bp.post("/pull")
@csrf.exempt  # machine to machine: authenticated by the WS-Security signature, not a browser session
def pull() -> Response:
    if (request.content_length or 0) > MAX_REQUEST:
        return _fault("Client", "the request is too large", 413)
    try:
        envelope = xmlsafe.parse(request.get_data(cache=False), max_bytes=MAX_REQUEST)
        element = soap.operation_element(envelope)
    except xmlsafe.UnsafeXml as exc:
        return _fault("Client", f"malformed request: {exc}", 400)
    except soap.BadRequest as exc:
        return _fault(exc.code, str(exc), 400)

    box = service.mailbox(current_app.config)
    try:
        service.check_settings(current_app.config)
    except ValueError as exc:
        log.error("WS-Pull request refused: the service is not configured: %s", exc)
        return _fault("Server", "the pull service is not configured on this portal", 503)
    try:
        caller = wssec.verify(envelope, wssec.load_certificates(box.client_certs))
    except wssec.Refused as exc:
        try:
            service.refused(str(exc), exc.code, exc.subject, request.remote_addr)
            db.session.commit()
        except Exception:  # noqa: BLE001 - the refusal stands even when it cannot be recorded
            db.session.rollback()
            log.exception("could not audit a refused WS-Pull request")
        return _fault(exc.code, str(exc), 401, security=True)

    try:
        pull_request = soap.parse_request(element)
    except soap.BadRequest as exc:
        return _fault(exc.code, str(exc), 400)
    if pull_request.subject != box.subject or pull_request.mailbox_address != box.address:
        return _fault("Client", f"this service serves the inbox {box.address} of subject {box.subject} only", 403)

    try:
        answer = _answer(pull_request, box, caller)
        db.session.commit()
    except Exception:  # noqa: BLE001 - the client must get a SOAP fault, not an HTML error page
        db.session.rollback()
        log.exception("WS-Pull %s failed", pull_request.operation)
        return _fault("Server", "the request could not be served; try again later", 500)
    return Response(soap.envelope(answer), content_type=XML)


def _answer(pull_request: soap.PullRequest, box: service.Mailbox, caller: wssec.Caller) -> etree._Element:
    if pull_request.operation == "oczekujaceDokumenty":
        return soap.waiting(service.waiting())
    if pull_request.operation == "pobierzNastepny":
        document = service.next_document(caller, test=bool(current_app.config["SANDBOX"]))
        return soap.next_document(document, box.name, box.address, utcnow())
    outcome = service.confirm(pull_request.digest or "", caller)
    if outcome is service.Confirmation.UNKNOWN:
        return soap.confirmed(soap.UNKNOWN_DIGEST, "Skrót nie odpowiada żadnemu dokumentowi oczekującemu w kolejce "
                                                   "(the digest matches no waiting document)")
    return soap.confirmed(soap.OK, None)
