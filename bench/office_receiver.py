"""The office's webhook endpoint for the dispatch benchmark: checks each request's signature and
keeps one parcel per Idempotency-Key, as a receiver must (docs/backoffice.md). aiohttp, one process,
so the receiver is not what limits the figures."""

from __future__ import annotations

import hashlib
import hmac
import sys
import time

from aiohttp import web


def main(port: int, secret: str) -> None:
    seen: set[str] = set()

    async def parcels(request: web.Request) -> web.Response:
        body = await request.read()
        fields = dict(p.split("=", 1) for p in request.headers.get("X-Okienko-Signature", "").split(",") if "=" in p)
        mac = hmac.new(secret.encode(), fields.get("t", "").encode() + b"." + body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, fields.get("v1", "")) or abs(time.time() - int(fields.get("t", 0))) > 300:
            return web.json_response({"error": "bad signature"}, status=401)
        seen.add(request.headers["Idempotency-Key"])
        return web.json_response({"reference": f"WEB-{len(seen)}"}, status=201)

    app = web.Application(client_max_size=50 * 1024 * 1024)
    app.router.add_post("/parcels", parcels)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2])
