"""Pages every public-sector site must have: accessibility statement, privacy notice, health."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template
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
