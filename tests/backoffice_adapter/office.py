"""The office's side of the webhook: a real HTTP server on loopback, written from the protocol's
description (docs/backoffice.md) rather than from our adapter's code. It checks the signature,
keeps one parcel per Idempotency-Key and answers repeats with the first answer, as the
description asks of a receiver; tests switch it into the failure modes they need."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class OfficeEndpoint:
    def __init__(self, secret: str, port: int = 0) -> None:
        self.secret = secret
        self.parcels: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.mode = "ok"  # "ok", "store_then_500", "refuse", "slow"
        self.slow_seconds = 0.0
        self.bad_signatures = 0
        self.arrived = threading.Event()
        self._lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.arrived.set()
                status, answer = endpoint.handle(dict(self.headers), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/parcels"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _signed(self, headers: dict[str, str], body: bytes) -> bool:
        fields = dict(part.split("=", 1) for part in headers.get("X-Okienko-Signature", "").split(",") if "=" in part)
        if "t" not in fields or abs(time.time() - int(fields["t"])) > 300:
            return False
        mac = hmac.new(self.secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, fields.get("v1", ""))

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests += 1
        if not self._signed(headers, body):
            self.bad_signatures += 1
            return 401, {"error": "bad signature"}
        if self.mode == "refuse":
            return 422, {"error": "we do not take this kind of parcel"}
        if self.mode == "slow":
            time.sleep(self.slow_seconds)
        key = headers["Idempotency-Key"]
        with self._lock:
            if key not in self.parcels:
                number = len(self.parcels) + 1
                self.parcels[key] = {"parcel": json.loads(body), "answer": {"reference": f"WEB-{number}",
                                                                            "rpw": f"RPW/{number}/2026"}}
            stored = self.parcels[key]
        if self.mode == "store_then_500":
            self.mode = "ok"
            return 500, {"error": "stored, but the answer failed"}
        return 201, stored["answer"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
