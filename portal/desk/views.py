from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, abort, render_template

from portal.audit import service as audit
from portal.auth.service import clerk_required, current_clerk
from portal.db_types import utcnow
from portal.desk import service
from portal.desk.models import IncomingParcel
from portal.extensions import db

bp = Blueprint("desk", __name__, url_prefix="/urzad")

ALL_UNITS = {"registry_clerk", "admin"}


def _scope() -> str | None:
    """A clerk sees the parcels of their unit; the registry and administrators see every unit."""
    clerk = current_clerk()
    assert clerk is not None
    return None if ALL_UNITS & set(clerk.roles) else (clerk.effective_unit or "-")


def _visible(parcel_id: int) -> IncomingParcel:
    parcel = db.session.get(IncomingParcel, parcel_id)
    scope = _scope()
    if parcel is None or (scope is not None and parcel.unit != scope):
        abort(404)
    return parcel


@bp.get("/")
@clerk_required
def index() -> Any:
    return render_template("desk/incoming.html", parcels=service.incoming(_scope()))


@bp.get("/rpw/<int:parcel_id>")
@clerk_required
def parcel(parcel_id: int) -> Any:
    entry = _visible(parcel_id)
    if entry.read_at is None:
        entry.read_at = utcnow()
    audit.record("desk.opened", "incoming_parcel", str(entry.id), submission=entry.submission_id)
    db.session.commit()
    return render_template("desk/parcel.html", parcel=entry)


@bp.get("/rpw/<int:parcel_id>/<kind>.xml")
@clerk_required
def parcel_file(parcel_id: int, kind: str) -> Any:
    entry = _visible(parcel_id)
    if kind not in ("dokument", "upo"):
        abort(404)
    content = entry.document if kind == "dokument" else entry.upo
    response = Response(content, mimetype="application/xml")
    response.headers["Content-Disposition"] = f'attachment; filename="{kind}-{entry.rpw_number}-{entry.rpw_year}.xml"'
    return response
