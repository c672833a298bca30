"""The JSON API's description (OpenAPI 3.1, `openapi.yaml` beside this file), served to developers and
read by the fuzzing tests; and the JSON answer for errors under `/api/`, which programs read, not people."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import HTTPException

bp = Blueprint("api", __name__)
DESCRIPTION = Path(__file__).with_name("openapi.yaml")
CACHE_SECONDS = 3600
# Headers of an HTTP error that must reach the client (405 names the allowed methods, 429 when to retry).
KEPT_HEADERS = ("Allow", "Retry-After", "WWW-Authenticate")


# Public look-ups any site's script may read (the city's website widget): they use no cookie and answer
# nothing a cookie would unlock. JSON bodies need a preflight; GET and form posts do not.
OPEN_TO_ANY_SITE = ("/api/sprawy/sprawdz", "/api/upo/")


@bp.after_app_request
def _open_to_any_site(response: Response) -> Response:
    if request.path.startswith(OPEN_TO_ANY_SITE):
        response.headers["Access-Control-Allow-Origin"] = "*"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type"
            response.headers["Access-Control-Max-Age"] = "86400"
    return response


@lru_cache(maxsize=1)
def description() -> dict[str, Any]:
    return yaml.safe_load(DESCRIPTION.read_text(encoding="utf-8"))


@bp.get("/api/openapi.json")
def openapi_json() -> Response:
    return _public(Response(json.dumps(description(), ensure_ascii=False, indent=2), mimetype="application/json"))


@bp.get("/api/openapi.yaml")
def openapi_yaml() -> Response:
    return _public(Response(DESCRIPTION.read_bytes(), mimetype="application/yaml"))


def _public(response: Response) -> Response:
    """Any site may read the description (an API explorer, a code generator on a vendor's machine)."""
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return response


def is_api(path: str) -> bool:
    return path.startswith("/api/")


def error_answer(error: Any, code: int) -> tuple[Response, int]:
    """`{"error": "…"}` in English, like the API's own refusals, keeping the headers the error carries."""
    if code == 429:
        message = f"too many look-ups from this address ({getattr(error, 'description', '')}); wait a minute"
    elif code == 503:
        message = "the service is unavailable for a moment; try again"
    elif isinstance(error, HTTPException) and code < 500:
        message = str(error.description or error.name)
    else:
        message = "internal server error"
    response = jsonify({"error": message})
    if isinstance(error, HTTPException):
        for name, value in error.get_headers():
            if name in KEPT_HEADERS:
                response.headers[name] = value
    return response, code
