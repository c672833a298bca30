"""Accepting signed submissions over HTTP: gunicorn + PostgreSQL on this machine, 32 concurrent clients.

Each request is what a resident's upload of a qualified signature is: the session, the draft and
its re-checked answers, the full signature verification, the one-transaction store (document,
verdict, outbox row, audit entry, timeline event) and the sealed UPO XML (the PDF is made later,
on first download). The same run measures a hello-world Flask app under the same gunicorn
settings, so the ratio can be compared across machines.

Targets (issue 6): ≥ 150 submissions/s and p99 ≤ 150 ms at 32 concurrent clients.
"""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.report import percentiles, steady_client, write_section
from bench.scratch import CLIENTS, THREADS, WORKERS, letter_writer, scratch_office, serving

NAME = "Accepting signed submissions"
def _prepare(env: dict[str, str], pki: Path, count: int) -> tuple[str, list[tuple[str, bytes]], str]:
    """A resident, `count` drafts with their documents prepared and signed; the session cookie to use."""
    os.environ.update(env)
    from flask_wtf.csrf import generate_csrf

    from portal import create_app
    from portal.db_types import utcnow
    from portal.extensions import db
    from portal.forms import service as forms
    from sandbox import qualified

    app = create_app()
    work: list[tuple[str, bytes]] = []
    with app.app_context():
        resident, eservice, cert, key = letter_writer(pki)
        text = "Proszę o naprawę chodnika przed budynkiem. " * 90  # a document of about 5 KB
        for _ in range(count):
            draft = forms.start_draft(resident, eservice)
            draft.values = {"rodzaj": "wniosek", "tytul": "Naprawa chodnika", "tresc": text, "miejscowosc": "Leszno"}
            db.session.commit()
            document = forms.prepare_document(draft)
            work.append((draft.id, qualified.sign(document, cert, key)))
        with app.test_request_context():
            from flask import session

            from portal.auth import sessions

            session.update(resident_id=resident.id, login_at=utcnow().isoformat())
            token = generate_csrf()
            cookie = sessions.issue(dict(session), last_active=utcnow() + timedelta(hours=1))
    return f"okienko_session={cookie}", work, token


async def _load(url: str, jobs: list[Any], cookie: str = "", csrf: str = "") -> tuple[float, list[float], int]:
    import aiohttp

    latencies: list[float] = []
    failures = 0
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while not queue.empty():
            job = queue.get_nowait()
            start = time.perf_counter()
            if job is None:
                async with session.get(url) as response:
                    await response.read()
                    ok = response.status == 200
            else:
                draft_id, signed = job
                form = aiohttp.FormData()
                form.add_field("csrf_token", csrf)
                form.add_field("podpisany", signed, filename="podpisany.xml", content_type="application/xml")
                async with session.post(f"{url}/wnioski/{draft_id}/podpis/kwalifikowany", data=form,
                                        allow_redirects=False) as response:
                    await response.read()
                    ok = response.status == 302 and "zlozono" in response.headers.get("Location", "")
            latencies.append((time.perf_counter() - start) * 1000)
            failures += 0 if ok else 1

    connector = aiohttp.TCPConnector(limit=CLIENTS)
    headers = {"Cookie": cookie} if cookie else {}
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, failures


def run(count: int = 3000) -> str:
    with scratch_office() as office:
        cookie, work, csrf = _prepare(office.env, office.pki, count)
        with serving(office.env, "portal.wsgi:app", "bench.hello:app") as (portal, hello_server):
            steady_client()
            hello_elapsed, hello_latencies, hello_failures = asyncio.run(_load(f"{hello_server}/", [None] * count))
            elapsed, latencies, failures = asyncio.run(_load(portal, work, cookie, csrf))
    accept, hello = percentiles(latencies), percentiles(hello_latencies)
    rate, hello_rate = len(latencies) / elapsed, len(hello_latencies) / hello_elapsed
    body = (f"gunicorn ({WORKERS} workers × {THREADS} threads, gthread) + PostgreSQL, {CLIENTS} concurrent clients "
            "(aiohttp, on "
            f"the same machine), {count} submissions of a ~5 KB document with an enveloped qualified XAdES signature "
            "(revocation offline, no TSA: the UPO is sealed XAdES-BES; the PDF is made on first download).\n\n"
            "| Endpoint | Requests/s | p50 ms | p95 ms | p99 ms | Failed |\n| --- | --- | --- | --- | --- | --- |\n"
            f"| signed submission → stored + sealed UPO | {rate:.0f} | {accept['p50']:.0f} | {accept['p95']:.0f} | "
            f"{accept['p99']:.0f} | {failures} |\n"
            f"| hello-world Flask (same gunicorn settings) | {hello_rate:.0f} | {hello['p50']:.0f} | "
            f"{hello['p95']:.0f} | {hello['p99']:.0f} | {hello_failures} |\n\n"
            f"Ratio submissions / hello-world: {rate / hello_rate:.2%}. "
            "Target: ≥ 150 submissions/s with p99 ≤ 150 ms at 32 concurrent clients. The clients never pause, so "
            "latency is about 32 ÷ throughput: the p99 target needs about 213 submissions/s. Portal, PostgreSQL "
            "and the load generator share the machine's cores.")
    write_section(NAME, body)
    return body
