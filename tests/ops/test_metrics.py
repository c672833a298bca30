"""/metrics: the numbers move when the portal works, the outbox is read at scrape time, strangers are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from backoffice_adapter import outbox
from portal.signing import service as signing
from tests.factories import make_draft, make_resident, make_submission, signed_by_trusted_profile

Samples = dict[tuple[str, frozenset], float]


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    assert response.headers["Content-Type"].startswith("text/plain")
    return {(sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_submission_moves_the_counters_and_the_outbox_gauge(app: Flask, client: FlaskClient, catalog: None,
                                                              pki: Path) -> None:
    before = scrape(client)
    with app.app_context():
        submission = make_submission(pki)
        service_id = submission.eservice.slug
    after = scrape(client)
    accepted = "okienko_submissions_accepted_total"
    assert value(after, accepted, service=service_id) == value(before, accepted, service=service_id) + 1
    assert value(after, "okienko_receipts_issued_total") == value(before, "okienko_receipts_issued_total") + 1
    assert value(after, "okienko_outbox_deliveries", adapter="desk", state="pending") == 1
    assert value(after, "okienko_outbox_oldest_waiting_seconds", adapter="desk") >= 0
    assert value(after, "okienko_database_up") == 1
    with app.app_context():
        assert outbox.run_once() == 1
    delivered = scrape(client)
    assert value(delivered, "okienko_outbox_deliveries", adapter="desk", state="pending") == 0
    assert ("okienko_outbox_oldest_waiting_seconds", frozenset({("adapter", "desk")})) not in delivered
    # Issued once: delivering (which makes sure the receipt exists) does not count it again.
    assert value(delivered, "okienko_receipts_issued_total") == value(after, "okienko_receipts_issued_total")


def test_a_refused_signature_is_counted_by_its_reason(app: Flask, client: FlaskClient, catalog: None,
                                                      pki: Path) -> None:
    with app.test_request_context():
        draft = make_draft(make_resident())
        signed = signed_by_trusted_profile(draft, pki)
        before = scrape(client)
        verdict = signing.check(draft, signed.replace("Proszę o naprawę.".encode(), "Proszę o nic.".encode()))
    assert not verdict.valid
    after = scrape(client)
    failures = "okienko_signature_verification_failures_total"
    reason = verdict.reasons[0]
    assert value(after, failures, reason=reason) == value(before, failures, reason=reason) + 1


def test_latency_is_measured_per_endpoint_not_per_path(client: FlaskClient) -> None:
    count = "okienko_http_request_duration_seconds_count"
    before = scrape(client)
    client.get("/health")
    client.get("/moje-sprawy/11111111-1111-1111-1111-111111111111")
    client.get("/moje-sprawy/22222222-2222-2222-2222-222222222222")
    client.get("/nie-ma-takiej-strony")
    client.open("/nie-ma-takiej-strony", method="BREW")
    after = scrape(client)
    assert value(after, count, endpoint="pages.health", method="GET") == value(
        before, count, endpoint="pages.health", method="GET") + 1
    assert value(after, count, endpoint="status.case", method="GET") == value(
        before, count, endpoint="status.case", method="GET") + 2
    assert value(after, count, endpoint="unmatched", method="GET") == value(
        before, count, endpoint="unmatched", method="GET") + 1
    assert value(after, count, endpoint="unmatched", method="other") == value(
        before, count, endpoint="unmatched", method="other") + 1
    assert not any("11111111" in str(labels) or "BREW" in str(labels) for _, labels in after)


def test_only_the_allowed_networks_may_read_the_metrics(client: FlaskClient, other_app) -> None:
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    # A forwarded header is anyone's to write: it does not make a stranger local.
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"},
                      headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    monitoring = other_app(METRICS_ALLOWED_NETWORKS="10.20.0.0/16, 203.0.113.0/24").test_client()
    assert monitoring.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    assert monitoring.get("/metrics", environ_base={"REMOTE_ADDR": "10.20.5.1"}).status_code == 200
    assert monitoring.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 403
    with pytest.raises(ValueError, match="PORTAL_METRICS_ALLOWED_NETWORKS"):
        other_app(METRICS_ALLOWED_NETWORKS="10.20.0.0/16, intranet")
