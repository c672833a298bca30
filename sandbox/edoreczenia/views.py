"""HTTP faces of the e-Doręczenia sandbox: the UA API (spec 3.0.8.1, under /api/v1), the OAuth 2.0 token
endpoint, the BAE search, the sandbox-only controls and the residents' box pages."""

from __future__ import annotations

import base64
import datetime
import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, g, jsonify, redirect, render_template, request, url_for

from sandbox.edoreczenia import service as edo
from sandbox.edoreczenia.service import MAILBOXES, OFFICE, Invalid, Service

API = "/api/v1/<address>"


def errors(status: int, code: str, description: str, message_id: str | None = None) -> Response:
    """The spec's error body: an array of ErrorInfo."""
    info: dict[str, str] = {"error": code, "error_description": description}
    if message_id:
        info["messageId"] = message_id
    response = jsonify([info])
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="edoreczenia"'
    return response


def _label(row: sqlite3.Row, mailbox: str) -> str:
    return "SENT" if row["sender"] == mailbox else "INBOX"


def _days_to_receive(row: sqlite3.Row, now: datetime.datetime) -> int | None:
    if row["status"] != edo.WAITING or not row["available"]:
        return None
    left = edo.parse(row["available"]) + edo.FICTION - now
    return max(0, left.days + (1 if left.seconds else 0))


def evidence_json(row: sqlite3.Row) -> dict[str, Any]:
    item: dict[str, Any] = {"evidenceId": row["id"], "messageId": row["message_id"], "type": row["code"],
                            "eventDate": row["event_time"], "createDate": row["create_time"],
                            "downloaded": bool(row["downloaded"])}
    if row["reason"]:
        item["reasonId"] = row["reason"]
    return item


def message_json(svc: Service, row: sqlite3.Row, mailbox: str, fmt: str, now: datetime.datetime) -> dict[str, Any]:
    """A Message in the requested format: minimal, metadata, full (with attachments' content, as the
    contract says) or fullExtended (that and the evidences)."""
    control: dict[str, Any] = {"messageTaskId": row["task_id"], "messageType": "Message", "opened": bool(row["opened"]),
                               "status": row["status"], "labels": [{"label": _label(row, mailbox)}]}
    metadata: dict[str, Any] = {"messageId": row["id"], "shippingService": row["shipping"]}
    if fmt != "minimal":
        if row["status_description"]:
            control["statusDescription"] = row["status_description"]
        days = _days_to_receive(row, now)
        if days is not None:
            control["daysToReceive"] = days
        metadata.update({
            "from": {"eDeliveryAddress": row["sender"]},
            "to": [json.loads(row["recipient_json"])],
            "subject": row["subject"],
            "threadId": row["thread_id"],
            "timestamp": row["submitted"],
            "submissionDate": row["submitted"],
            "eventDate": row["received"] or row["available"] or row["submitted"],
            "additionalData": json.loads(row["additional_data"]),
        })
        if row["received"]:
            metadata["receiptDate"] = row["received"]
    message: dict[str, Any] = {"messageControlData": control, "messageMetadata": metadata}
    if fmt in ("full", "fullExtended"):
        message["textBody"] = row["text_body"]
        message["attachments"] = [{
            "order": a["ord"], "attachmentId": a["id"],
            "file": {"fileMetadata": {"fileId": a["id"], "filename": a["filename"], "contentType": a["content_type"],
                                      "size": len(a["content"]), "alg": "SHA-3", "hash": a["hash"]},
                     "file": base64.b64encode(a["content"]).decode()},
        } for a in svc.attachments(row["id"])]
    if fmt == "fullExtended":
        message["evidences"] = [evidence_json(e) for e in svc.evidences(row["id"])]
    return message


def _flag(name: str) -> bool | None:
    value = request.args.get(name)
    if value is None:
        return None
    if value.lower() not in ("true", "false"):
        raise Invalid("INVALID_PARAMETER", f"{name} must be true or false.")
    return value.lower() == "true"


def build(state_dir: Path, pki_dir: Path) -> Blueprint:
    svc = Service(state_dir, pki_dir)
    bp = Blueprint("edoreczenia", __name__, url_prefix="/edoreczenia")
    bp.service = svc  # type: ignore[attr-defined]  # the tests' and the demo's way in

    @bp.errorhandler(Invalid)
    def invalid(error: Invalid) -> Response:
        return errors(400, error.code, error.description)

    @bp.before_request
    def faults_and_auth() -> Response | None:
        path = request.path.removeprefix(bp.url_prefix or "")
        if not path.startswith(("/api/", "/bae/")):
            return None
        status, delay = svc.take_fault()
        if delay:
            time.sleep(delay)
        if status:
            response = errors(status, "SANDBOX_FAULT", f"Awaria zasymulowana w sandboksie (HTTP {status}).")
            if status in (429, 503):
                response.headers["Retry-After"] = "1"
            return response
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        mailbox = svc.token_mailbox(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
        if mailbox is None:
            return errors(401, "UNAUTHORIZED", "Brak ważnego tokenu dostępu (Bearer).")
        g.edo_client_mailbox = mailbox
        address = (request.view_args or {}).get("address")
        if address is not None and address != mailbox:
            return errors(403, "FORBIDDEN", "Token nie uprawnia do tej skrzynki.")
        return None

    # -- OAuth 2.0 --------------------------------------------------------------------------------------
    @bp.post("/oauth2/token")
    def token() -> Any:
        if request.form.get("grant_type") != "client_credentials":
            return {"error": "unsupported_grant_type",
                    "error_description": "Only grant_type=client_credentials is supported."}, 400
        client_id, client_secret = request.form.get("client_id", ""), request.form.get("client_secret", "")
        if request.authorization and request.authorization.type == "basic":
            client_id = request.authorization.username or ""
            client_secret = request.authorization.password or ""
        access_token = svc.issue_token(client_id, client_secret)
        if access_token is None:
            response = jsonify({"error": "invalid_client", "error_description": "Unknown client or wrong secret."})
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Basic realm="edoreczenia"'
            return response
        response = jsonify({"access_token": access_token, "token_type": "Bearer", "expires_in": edo.TOKEN_LIFETIME,
                            "scope": edo.SCOPE})
        response.headers["Cache-Control"] = "no-store"
        return response

    # -- BAE --------------------------------------------------------------------------------------------
    @bp.get("/bae/api/v1/addresses")
    def bae() -> Any:
        pesel, nip, address = (request.args.get(k, "").strip() for k in ("pesel", "nip", "address"))
        if not (pesel or nip or address):
            raise Invalid("INVALID_PARAMETER", "Give pesel, nip or address.")
        found = [m.bae() for m in MAILBOXES.values()
                 if (pesel and m.pesel == pesel) or (nip and m.nip == nip) or (address and m.address == address)]
        return {"addresses": found}

    # -- UA API: messages -------------------------------------------------------------------------------
    @bp.post(f"{API}/messages")
    def send(address: str) -> Any:
        body = request.get_json(silent=True)
        task_id = svc.send(address, body)
        return jsonify({"messageTaskId": task_id}), 202

    @bp.get(f"{API}/messages")
    def messages(address: str) -> Any:
        fmt = request.args.get("format", "minimal")
        if fmt not in ("minimal", "metadata"):
            raise Invalid("INVALID_PARAMETER", "format must be minimal or metadata.")
        try:
            offset, limit = int(request.args.get("offset", 0)), int(request.args.get("limit", 50))
        except ValueError as error:
            raise Invalid("INVALID_PARAMETER", "offset and limit are numbers.") from error
        rows = svc.message_rows(address, request.args.get("label"), _flag("opened"))
        now = svc.now()
        page = rows[offset:offset + max(0, limit)]
        return {"messages": [message_json(svc, r, address, fmt, now) for r in page], "resultSize": len(page),
                "total": len(rows), "electronicCount": sum(1 for r in rows if r["shipping"] == "electronic")}

    @bp.get(f"{API}/messages/<message_id>")
    def message(address: str, message_id: str) -> Any:
        fmt = request.args.get("format", "full")
        if fmt not in ("minimal", "metadata", "full", "fullExtended"):
            raise Invalid("INVALID_PARAMETER", "format must be minimal, metadata, full or fullExtended.")
        found = []
        for one in [m for m in message_id.split(",") if m][:50]:
            row = svc.message(address, one, mark_opened=fmt in ("full", "fullExtended"))
            if row is None:
                return errors(404, "MESSAGE_NOT_FOUND", "Nie ma takiej wiadomości w tej skrzynce.", one)
            found.append(row)
        now = svc.now()
        return jsonify([message_json(svc, r, address, fmt, now) for r in found])

    @bp.patch(f"{API}/messages/<message_id>/message_control_data")
    def control_data(address: str, message_id: str) -> Any:
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list) or len(body) != 1 or not isinstance(body[0], dict):
            raise Invalid("INVALID_PATCH", "The body is a JSON Patch array with one operation.")
        op = body[0]
        value = op.get("value")
        if isinstance(value, dict):
            value = value.get("opened")
        if op.get("op") not in ("replace", "add") or op.get("path") != "/opened" or value is not True:
            raise Invalid("INVALID_PATCH", "Only {\"op\": \"replace\", \"path\": \"/opened\", \"value\": true} "
                          "is supported by the sandbox.")
        row = svc.message(address, message_id)
        if row is None or row["recipient"] != address:
            return errors(404, "MESSAGE_NOT_FOUND", "Nie ma takiej wiadomości odebranej w tej skrzynce.", message_id)
        svc.open(address, message_id)
        row = svc.message(address, message_id)
        assert row is not None
        return jsonify([{"messageId": row["id"], "opened": bool(row["opened"]), "status": row["status"],
                         "messageType": "Message", "labels": [{"label": _label(row, address)}]}])

    @bp.get(f"{API}/messages/tasks/<task_id>")
    def task(address: str, task_id: str) -> Any:
        rows = svc.task(address, task_id)
        if not rows:
            return errors(404, "TASK_NOT_FOUND", "Nie ma takiego zadania wysyłki.")
        answer = []
        for row in rows:
            item: dict[str, Any] = {"messageId": row["id"], "addressee": json.loads(row["recipient_json"]),
                                    "addresseeAde": row["recipient"], "status": "OK"}
            if row["status"] == edo.REJECTED:
                item.update(status="ERROR", error="RECIPIENT_NOT_FOUND", error_description=row["status_description"])
            answer.append(item)
        return jsonify(answer)

    @bp.get(f"{API}/messages/tasks/<task_id>/status")
    def task_status(address: str, task_id: str) -> Any:
        if not svc.task(address, task_id):
            return errors(404, "TASK_NOT_FOUND", "Nie ma takiego zadania wysyłki.")
        return {"messageTaskStatus": "FINISHED"}

    @bp.get(f"{API}/messages/<message_id>/attachments/<attachment_id>")
    def attachment(address: str, message_id: str, attachment_id: str) -> Any:
        row = svc.message(address, message_id)
        found = [a for a in svc.attachments(message_id) if a["id"] == attachment_id] if row else []
        if not found:
            return errors(404, "ATTACHMENT_NOT_FOUND", "Nie ma takiego załącznika.", message_id)
        one = found[0]
        if request.accept_mimetypes.best_match(["application/octet-stream", "application/json"]) == "application/json" \
                and "application/json" in request.headers.get("Accept", ""):
            # The spec's form (an Attachment object) for clients that ask for JSON; bytes otherwise (the contract).
            return {"order": one["ord"], "attachmentId": one["id"], "file": {
                "fileMetadata": {"fileId": one["id"], "filename": one["filename"], "contentType": one["content_type"],
                                 "size": len(one["content"]), "alg": "SHA-3", "hash": one["hash"]},
                "file": base64.b64encode(one["content"]).decode()}}
        response = Response(bytes(one["content"]), mimetype="application/octet-stream")
        response.headers["Content-Disposition"] = f'attachment; filename="{_safe(one["filename"])}"'
        return response

    # -- UA API: evidences ------------------------------------------------------------------------------
    @bp.get(f"{API}/messages/<message_id>/evidences")
    def evidences(address: str, message_id: str) -> Any:
        if svc.message(address, message_id) is None:
            return errors(404, "MESSAGE_NOT_FOUND", "Nie ma takiej wiadomości w tej skrzynce.", message_id)
        rows = [evidence_json(r) for r in svc.evidences(message_id, request.args.get("type"))]
        downloaded = _flag("downloaded")
        if downloaded is not None:
            rows = [r for r in rows if r["downloaded"] is downloaded]
        if request.args.get("sortDirection") == "desc":
            rows.reverse()
        return {"evidences": rows}

    @bp.get(f"{API}/messages/evidences")
    def all_evidences(address: str) -> Any:
        rows = [evidence_json(r) for r in svc.mailbox_evidences(address)]
        if request.args.get("type"):
            rows = [r for r in rows if r["type"] == request.args["type"]]
        return {"evidences": rows}

    @bp.get(f"{API}/evidences/<kind>/<evidence_id>")
    def evidence_file(address: str, kind: str, evidence_id: str) -> Any:
        if kind not in ("purde", "puh"):
            raise Invalid("INVALID_PARAMETER", "messageType must be purde or puh.")
        content = svc.evidence_file(address, evidence_id)
        if content is None:
            return errors(404, "EVIDENCE_NOT_FOUND", "Nie ma takiego dowodu.")
        response = Response(content, mimetype="application/octet-stream")
        response.headers["Content-Disposition"] = f'attachment; filename="{_safe(evidence_id)}.xml"'
        return response

    # -- UA API: subscriptions --------------------------------------------------------------------------
    @bp.put(f"{API}/message_subscriptions")
    def subscribe(address: str) -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise Invalid("INVALID_SUBSCRIPTION", "The body is a SubscriptionCreate object.")
        return {"subscriptionId": svc.subscribe(address, body)}

    @bp.get(f"{API}/message_subscriptions")
    def subscriptions(address: str) -> Any:
        return jsonify([{"id": r["id"], "name": r["kind"], "url": r["url"], "status": True}
                        for r in svc.subscriptions(address)])

    @bp.delete(f"{API}/message_subscriptions")
    def unsubscribe(address: str) -> Any:
        svc.unsubscribe(address)
        return Response(status=200)

    # -- the provider's seal ----------------------------------------------------------------------------
    @bp.get("/seal.pem")
    def seal() -> Response:
        return Response(svc.seal_cert, mimetype="application/x-pem-file")

    # -- sandbox-only controls --------------------------------------------------------------------------
    @bp.route("/sandbox/clock", methods=["GET", "POST"])
    def clock() -> Any:
        if request.method == "POST":
            body = request.get_json(silent=True) or {}
            try:
                seconds = float(body.get("days", 0)) * 86400 + float(body.get("seconds", 0))
            except (TypeError, ValueError) as error:
                raise Invalid("INVALID_CLOCK", "days and seconds are numbers.") from error
            return {"now": edo.iso(svc.advance(seconds))}
        return {"now": edo.iso(svc.now())}

    @bp.route("/sandbox/faults", methods=["POST", "DELETE"])
    def faults() -> Any:
        if request.method == "DELETE":
            svc.clear_faults()
            return {"faults": None}
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise Invalid("INVALID_FAULT", "The body is a JSON object.")
        return {"faults": svc.set_faults(body)}

    @bp.post("/sandbox/send")
    def simulate() -> Any:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("from"):
            raise Invalid("INVALID_MESSAGE", "Give from, to, subject, text and attachments.")
        try:
            files = [(str(a["filename"]), str(a.get("contentType") or "application/octet-stream"),
                      base64.b64decode(a["content"], validate=True)) for a in body.get("attachments") or []]
        except (KeyError, TypeError, ValueError) as error:
            raise Invalid("INVALID_ATTACHMENT", "attachments[] need filename and base64 content.") from error
        message_id = svc.simulate_send(body["from"], body.get("to") or OFFICE, str(body.get("subject") or ""),
                                       str(body.get("text") or ""), files)
        return jsonify({"messageId": message_id}), 201

    # -- the resident's box ------------------------------------------------------------------------------
    def _box(address: str) -> edo.Mailbox:
        box = MAILBOXES.get(address)
        if box is None or address == OFFICE:
            abort(404)
        return box

    @bp.get("/skrzynka/<address>")
    def box(address: str) -> str:
        owner = _box(address)
        rows = svc.message_rows(address)
        return render_template("edoreczenia/box.html", box=owner, rows=rows, office=MAILBOXES[OFFICE],
                               sent=request.args.get("wyslano"))

    @bp.get("/skrzynka/<address>/<message_id>")
    def letter(address: str, message_id: str) -> str:
        owner = _box(address)
        row = svc.message(address, message_id)
        if row is None:
            abort(404)
        readable = _readable(row, address)
        return render_template("edoreczenia/letter.html", box=owner, row=row,
                               attachments=svc.attachments(message_id) if readable else [], readable=readable)

    @bp.post("/skrzynka/<address>/<message_id>/odbierz")
    def receive(address: str, message_id: str) -> Any:
        _box(address)
        if not svc.open(address, message_id):
            abort(404)
        return redirect(url_for(".letter", address=address, message_id=message_id), code=303)

    @bp.get("/skrzynka/<address>/<message_id>/zalaczniki/<attachment_id>")
    def box_attachment(address: str, message_id: str, attachment_id: str) -> Response:
        _box(address)
        row = svc.message(address, message_id)
        if row is None or not _readable(row, address):
            abort(404)
        found = [a for a in svc.attachments(message_id) if a["id"] == attachment_id]
        if not found:
            abort(404)
        response = Response(bytes(found[0]["content"]), mimetype=found[0]["content_type"])
        response.headers["Content-Disposition"] = f'attachment; filename="{_safe(found[0]["filename"])}"'
        return response

    @bp.post("/skrzynka/<address>/wyslij")
    def box_send(address: str) -> Any:
        _box(address)
        subject = request.form.get("temat", "").strip() or "Pismo do urzędu"
        text = request.form.get("tresc", "").strip()
        upload = request.files.get("plik")
        files = []
        if upload is not None and upload.filename:
            files.append((Path(upload.filename).name, upload.mimetype or "application/octet-stream", upload.read()))
        if not text and not files:
            rows = svc.message_rows(address)
            return render_template("edoreczenia/box.html", box=_box(address), rows=rows, office=MAILBOXES[OFFICE],
                                   error="Wpisz treść pisma albo dołącz plik."), 400
        svc.simulate_send(address, OFFICE, subject, text, files)
        return redirect(url_for(".box", address=address, wyslano="1"), code=303)

    return bp


def _readable(row: sqlite3.Row, address: str) -> bool:
    """The content shows once received (opened, or delivered by the fiction), and always to its sender."""
    return bool(row["opened"]) or row["sender"] == address or row["status"] == edo.FICTION_DELIVERED


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)[:120] or "plik"
