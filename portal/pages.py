"""Pages every public-sector site must have: accessibility statement, privacy notice, health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, send_from_directory
from sqlalchemy import text

from portal.extensions import db

bp = Blueprint("pages", __name__)


@bp.get("/deklaracja-dostepnosci")
def accessibility() -> Any:
    return render_template("pages/accessibility.html")


@bp.get("/ochrona-danych")
def privacy() -> Any:
    return render_template("pages/privacy.html")


@bp.get("/health")
def health() -> Any:
    db.session.execute(text("SELECT 1"))
    return {"status": "ok"}


@bp.get("/favicon.ico")
def favicon() -> Any:
    """Browsers ask for /favicon.ico wherever a page does not name its icon (a PDF, a download, the API)."""
    return send_from_directory(current_app.static_folder or "static", "favicon.ico", mimetype="image/x-icon",
                               max_age=86400)
