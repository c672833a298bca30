"""Request ids and the access log: every request gets an id, every log line about it carries the id, the
response returns it, and one access-log line closes it.

An id arriving in `X-Request-ID` (from the load balancer, or from the client that wants to quote it to the
help desk) is kept when it is short and made of safe characters; otherwise a new one is made, so that a
forged header can never put newlines or markup into the logs.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import g, has_request_context, request

from portal.ops.redact import scrub

HEADER = "X-Request-ID"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

access_log = logging.getLogger("portal.access")


def valid(candidate: str | None) -> bool:
    return bool(candidate) and _SAFE_ID.fullmatch(candidate or "") is not None


def current() -> str | None:
    """The id of the request being served, or None outside a request."""
    if not has_request_context():
        return None
    return g.get("request_id")


def outgoing_headers() -> dict[str, str]:
    """Headers for an HTTP call made on behalf of the current request, so the other side can log the same id."""
    request_id = current()
    return {HEADER: request_id} if request_id else {}


def start() -> None:
    """Runs first before every request."""
    given = request.headers.get(HEADER)
    g.request_id = given if valid(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def finish(response: Any) -> Any:
    """Runs after every request, error pages included: the id goes back, the request is logged and measured."""
    # Imported when serving: the log handler imports this module (and so `okienko config check` and gunicorn's
    # master), and needs neither prometheus_client nor SQLAlchemy.
    from portal.ops import metrics

    request_id = g.get("request_id")
    if request_id is None:  # a response made before `start` ran (nothing of ours to report)
        return response
    response.headers[HEADER] = request_id
    duration = time.perf_counter() - g.get("request_started", time.perf_counter())
    endpoint = request.endpoint or "unmatched"
    metrics.observe_request(endpoint, request.method, duration)
    actor = g.get("actor")
    path = scrub(request.path)
    access_log.info(
        "%s %s %s %.1f ms", request.method, path, response.status_code, duration * 1000,
        extra={"method": request.method, "path": path, "endpoint": endpoint,
               "status": response.status_code, "duration_ms": round(duration * 1000, 1),
               "actor": actor[0] if actor else "anonymous"},
    )
    return response
