"""Running the portal in production: structured logs with request ids, Prometheus metrics, readiness.

docs/operations.md describes how these are used (and backups, scaling, upgrades)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from portal.ops import logs

if TYPE_CHECKING:  # for the annotations only: `okienko keys init` and `config` (portal/ops/cli.py) run without Flask
    from flask import Flask


def configure_logging(app: Flask) -> None:
    """The first thing `create_app` does with its settings (PORTAL_LOG_LEVEL, PORTAL_LOG_FORMAT)."""
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
