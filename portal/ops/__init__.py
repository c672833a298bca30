"""Running the portal in production: structured logs with request ids, Prometheus metrics, readiness.

docs/operations.md describes how these are used (and backups, scaling, upgrades)."""

from __future__ import annotations

from typing import TYPE_CHECKING

# This package's modules are imported inside the functions below, when an application is built: they bring
# Flask with them, and `okienko keys init` and `okienko config` (portal/ops/cli.py) run without it.
if TYPE_CHECKING:
    from flask import Flask


def configure_logging(app: Flask) -> None:
    """The first thing `create_app` does with its settings (PORTAL_LOG_LEVEL, PORTAL_LOG_FORMAT)."""
    from portal.ops import logs

    logs.configure(app.config["LOG_LEVEL"], logs.resolve_format(app.config))


def init_app(app: Flask) -> None:
    """Request ids, the access log and latencies (before any other hook, so that everything logged while
    serving a request carries its id), and the `/ready` and `/metrics` pages."""
    from portal.ops import metrics, request_ids
    from portal.ops.views import bp

    metrics.networks(app.config["METRICS_ALLOWED_NETWORKS"])
    app.before_request(request_ids.start)
    app.after_request(request_ids.finish)
    app.register_blueprint(bp)
