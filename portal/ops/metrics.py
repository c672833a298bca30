"""Prometheus metrics: what the portal did (counters, latencies) and what is waiting (read at scrape time).

Under gunicorn every worker is its own process, so counters live in prometheus_client's multiprocess
mode: gunicorn.conf.py sets PROMETHEUS_MULTIPROC_DIR before anything imports prometheus_client, each
worker writes its values to memory-mapped files there, and a scrape of any worker adds them all up.
Without that variable (tests, `flask run`) the values are the process's own.

The outbox gauges are not counted by anyone: they are read from the database when Prometheus asks,
so they are right whichever process delivered what (the workers of `okienko outbox run` included).
The counters count what this node's portal processes did; sum them over nodes in Prometheus.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger(__name__)

SUBMISSIONS_ACCEPTED = Counter("okienko_submissions_accepted", "Signed submissions stored, by e-service.",
                               ["service"])
RECEIPTS_ISSUED = Counter("okienko_receipts_issued", "Receipts (UPO) sealed and stored.")
SIGNATURE_FAILURES = Counter("okienko_signature_verification_failures",
                             "Residents' signed documents refused, by reason code (portal/signing/verify.py).",
                             ["reason"])
REQUEST_LATENCY = Histogram("okienko_http_request_duration_seconds",
                            "Time to answer a request, by Flask endpoint (not the raw path) and method.",
                            ["endpoint", "method"],
                            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30))

# The outbox worker's own (`okienko outbox run --metrics-port`): a worker is its own process, so these live in its
# registry and are read from it, not from the portal's /metrics.
WORKER_DATABASE_UP = Gauge("okienko_outbox_worker_database_up", "Whether the outbox worker's last look at the "
                           "database succeeded (0 while it waits out an outage).", multiprocess_mode="liveall")
WORKER_DATABASE_OUTAGES = Counter("okienko_outbox_worker_database_outages",
                                  "Database outages the outbox worker has waited out (or is waiting out).")


def worker_database_down() -> None:
    WORKER_DATABASE_UP.set(0)
    WORKER_DATABASE_OUTAGES.inc()


def worker_database_up() -> None:
    WORKER_DATABASE_UP.set(1)


def serve_worker_metrics(address: str) -> None:
    """Serve this process's metrics (`HOST:PORT`, or a port alone for 127.0.0.1) to Prometheus, in a thread."""
    from prometheus_client import start_http_server

    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1")


def submission_accepted(service_id: str) -> None:
    SUBMISSIONS_ACCEPTED.labels(service=service_id).inc()


def receipt_issued() -> None:
    RECEIPTS_ISSUED.inc()


def signature_refused(reasons: Iterable[str]) -> None:
    for reason in reasons or ["unknown"]:
        SIGNATURE_FAILURES.labels(reason=reason).inc()


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def observe_request(endpoint: str, method: str, seconds: float) -> None:
    # Labels must stay few: a made-up method (anyone may send one) is counted as "other".
    REQUEST_LATENCY.labels(endpoint=endpoint, method=method if method in _METHODS else "other").observe(seconds)


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def networks(setting: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """PORTAL_METRICS_ALLOWED_NETWORKS parsed; a mistake in it stops the portal at start, not at the first scrape."""
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in setting.split(",") if part.strip()]
    except ValueError as exc:
        raise ValueError(f"PORTAL_METRICS_ALLOWED_NETWORKS: {exc}") from exc


def allowed(address: str | None, setting: str) -> bool:
    """Is the scraper's address in one of the allowed networks?"""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return False
    return any(ip in network for network in networks(setting))


def outbox_families() -> list[Metric]:
    """Deliveries not yet done, by adapter and state, and the oldest one's age: read now, from the database."""
    from backoffice_adapter.models import DEAD, FAILED, IN_PROGRESS, PENDING, OutboxMessage
    from portal.db_types import utcnow
    from portal.extensions import db

    waiting = GaugeMetricFamily("okienko_outbox_deliveries", "Deliveries in the outbox not yet done, by adapter "
                                "and state (pending, in_progress, failed = waiting for a retry, dead = given up).",
                                labels=["adapter", "state"])
    oldest = GaugeMetricFamily("okienko_outbox_oldest_waiting_seconds",
                               "Age of the oldest delivery still waiting (pending, in progress or failed).",
                               labels=["adapter"])
    up = GaugeMetricFamily("okienko_database_up", "Whether the database answered this scrape.")
    states = (PENDING, IN_PROGRESS, FAILED, DEAD)
    try:
        rows = db.session.execute(
            select(OutboxMessage.adapter, OutboxMessage.state, func.count(), func.min(OutboxMessage.created_at))
            .where(OutboxMessage.state.in_(states))
            .group_by(OutboxMessage.adapter, OutboxMessage.state)
        ).all()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("metrics: the outbox could not be read: %s", str(exc).splitlines()[0])
        up.add_metric([], 0)
        return [up]
    now = utcnow()
    oldest_by_adapter: dict[str, Any] = {}
    for adapter, state, count, first in rows:
        waiting.add_metric([adapter, state], count)
        if state != DEAD and first is not None:
            oldest_by_adapter[adapter] = min(first, oldest_by_adapter.get(adapter, first))
    for adapter, first in oldest_by_adapter.items():
        oldest.add_metric([adapter], max(0.0, (now - first).total_seconds()))
    up.add_metric([], 1)
    return [waiting, oldest, up]


class _Scrape:
    """The portal's counters (this process's, or every worker's in multiprocess mode) and the gauges just read."""

    def __init__(self, extra: list[Metric]) -> None:
        if multiprocess():
            self.source = CollectorRegistry()
            MultiProcessCollector(self.source)
        else:
            self.source = REGISTRY
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        yield from self.source.collect()
        yield from self.extra


def exposition() -> bytes:
    """The text Prometheus reads."""
    return generate_latest(_Scrape(outbox_families()))  # type: ignore[arg-type]
