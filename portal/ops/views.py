"""`/ready` for the load balancer and `/metrics` for Prometheus (from the allowed networks only)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST

from portal.ops import metrics, readiness

bp = Blueprint("ops", __name__)


@bp.get("/ready")
def ready() -> Any:
    result = readiness.check()
    return result.public(), 200 if result.ready else 503, {"Cache-Control": "no-store"}


@bp.get("/metrics")
def metrics_page() -> Any:
    # The socket's peer, never an address from X-Forwarded-For (which ProxyFix, when configured, puts in
    # remote_addr): Prometheus scrapes each node directly, and a forwarded header is anyone's to write.
    peer = request.environ.get("werkzeug.proxy_fix.orig", {}).get("REMOTE_ADDR", request.remote_addr)
    if not metrics.allowed(peer, current_app.config["METRICS_ALLOWED_NETWORKS"]):
        abort(403)
    return metrics.exposition(), 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}
