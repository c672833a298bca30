"""The office's public figures: the statistics page and its open data (no login)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, render_template

from portal.stats import charts, opendata, service

bp = Blueprint("stats", __name__)


@bp.context_processor
def _formatting() -> dict[str, Any]:
    return {"show": charts.show, "month_name": charts.month_name}


@bp.get("/statystyki")
def page() -> Any:
    figures = service.figures()
    return render_template("stats/index.html", figures=figures, charts=charts.for_page(figures))


@bp.get("/statystyki.json")
def as_json() -> Any:
    data = opendata.as_json(service.figures(), current_app.config["OFFICE_NAME"])
    return _open_data(Response(json.dumps(data, ensure_ascii=False, indent=2), mimetype="application/json"))


@bp.get("/statystyki.csv")
def as_csv() -> Any:
    # The byte order mark lets spreadsheets read the Polish letters, as in the desk's register export.
    response = Response("\ufeff" + opendata.as_csv(service.figures()), mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="statystyki-urzedu.csv"'
    return _open_data(response)


def _open_data(response: Response) -> Response:
    """Open data may be fetched from anywhere and kept for as long as the figures are (they hold no
    personal data, and a session changes nothing in them)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = f"public, max-age={service.CACHE_SECONDS}"
    return response
