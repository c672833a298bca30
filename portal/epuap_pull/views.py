"""`/epuap/ws/pull`: ePUAP's WS-Pull SOAP service, so an EZD that pulls from ePUAP can pull from Okienko.

`GET /epuap/ws/pull?wsdl` serves pull.wsdl with its address pointing here; the schema and the
policy it imports are served beside it under the relative names the WSDL uses. `POST` takes the
three operations. Every answer is SOAP: faults for what cannot be served (unreadable or unsigned
requests, a wrong mailbox), each refusal of an unauthenticated request logged and audited.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, abort, current_app, request

from portal import xmlsafe
from portal.epuap_pull import service, soap, wssec
from portal.extensions import csrf

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
        service.refused(str(exc), exc.code, exc.subject, request.remote_addr)
        return _fault(exc.code, str(exc), 401, security=True)

    try:
        pull_request = soap.parse_request(element)
    except soap.BadRequest as exc:
        return _fault(exc.code, str(exc), 400)
    if pull_request.subject != box.subject or pull_request.mailbox_address != box.address:
        return _fault("Client", f"this service serves the inbox {box.address} of subject {box.subject} only", 403)

    try:
        answer = service.answer(pull_request, box, caller, test=bool(current_app.config["SANDBOX"]))
    except Exception:  # noqa: BLE001 - the client must get a SOAP fault, not an HTML error page
        log.exception("WS-Pull %s failed", pull_request.operation)
        return _fault("Server", "the request could not be served; try again later", 500)
    return Response(soap.envelope(answer), content_type=XML)

