"""The request id travels on: the time-stamping authority asked while a receipt is made sees the same id."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from flask import Flask

from tests.factories import make_submission


@pytest.fixture
def listening_tsa() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A real HTTP server that records the headers it is sent and answers 503 (a TSA that is down)."""
    seen: list[dict[str, str]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(dict(self.headers))
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa", seen
    server.shutdown()
    server.server_close()


def test_the_tsa_is_asked_with_the_request_id(other_app, catalog: None, pki: Path,
                                              listening_tsa: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = listening_tsa
    portal: Flask = other_app(TSA_URL=url)
    with portal.test_request_context("/wnioski/x/podpis", method="POST", headers={"X-Request-ID": "resident-77"}):
        portal.preprocess_request()  # the before-request hooks, as for a real request
        submission = make_submission(pki)
    assert submission.upo_sha256  # issued without the time-stamp, as the portal does when the TSA is down
    assert [headers.get("X-Request-ID") for headers in seen] == ["resident-77"]


def test_the_trusted_profile_service_is_asked_with_the_request_id(
        app: Flask, listening_tsa: tuple[str, list[dict[str, str]]]) -> None:
    """The same recorder stands in for TpSigning5 here: it is down, and still it saw whose request it was."""
    from portal.signing.tpsigning import SigningServiceError, TpSigningClient

    url, seen = listening_tsa
    signing = TpSigningClient(url)
    with app.test_request_context("/uslugi", headers={"X-Request-ID": "resident-78"}):
        app.preprocess_request()
        with pytest.raises(SigningServiceError):
            signing.add_document(b"<Dokument/>", "http://127.0.0.1/ok", "http://127.0.0.1/nie", "")
    with pytest.raises(SigningServiceError):  # outside a request: no id is made up
        signing.signed_document("http://127.0.0.1/task")
    assert [headers.get("X-Request-ID") for headers in seen] == ["resident-78", None]
