"""The portal under a realistic mix of requests: gunicorn + PostgreSQL on this machine, 32 concurrent clients.

Three runs against the same server, after a hello-world Flask app under the same gunicorn settings (so the
figures can be compared across machines by their ratio to it):

1. signed submissions alone — a qualified XAdES upload each: verification, the one-transaction store, the UPO;
2. the mix — 70 % status look-ups without login (receipt id + access code of a receipt from run 1),
   20 % form steps (a step of the general letter posted and saved to its draft), 10 % signed submissions —
   shuffled, every client taking the next request as soon as it has the answer to its last one.

Targets (issue 10): ≥ 150 signed submissions/s alone; the mix at ≥ 500 requests/s with p99 ≤ 200 ms.
Sizes from the environment: BENCH_LOAD_SUBMISSIONS (run 1, default 1500), BENCH_LOAD_MIX (run 2, default 6000).
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.report import percentiles, steady_client, write_section
from bench.scratch import CLIENTS, THREADS, WORKERS, letter_writer, scratch_office, serving

NAME = "Load: the realistic mix"
ALONE = int(os.environ.get("BENCH_LOAD_SUBMISSIONS", 1500))
MIX = int(os.environ.get("BENCH_LOAD_MIX", 6000))
SHARES = {"lookup": 0.7, "step": 0.2, "submission": 0.1}
STEP_DRAFTS = 300  # the drafts whose first step the mix posts again and again
LETTER = {"rodzaj": "wniosek", "tytul": "Naprawa chodnika", "miejscowosc": "Leszno",
          "tresc": "Proszę o naprawę chodnika przed budynkiem. " * 90}  # a document of about 5 KB


@dataclass
class Prepared:
    resident_cookie: str
    visitor_cookie: str  # an anonymous session: the look-up is for people who are not logged in
    resident_csrf: str
    visitor_csrf: str
    signed: list[tuple[str, bytes]]  # (draft id, qualified XAdES of its document)
    step_drafts: list[str]


@dataclass
class Run:
    elapsed: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)  # the failed answers' HTTP statuses


def _session_cookie(app: Any, values: dict[str, Any]) -> tuple[str, str]:
    from flask import session
    from flask_wtf.csrf import generate_csrf

    from portal.auth import sessions
    from portal.db_types import utcnow

    # A fresh application context too: Flask-WTF keeps the token it made in `g`, which would hand the
    # second session the first one's token.
    with app.app_context(), app.test_request_context():
        session.update(values)
        token = generate_csrf()
        cookie = sessions.issue(dict(session), last_active=utcnow() + timedelta(hours=1))
    return f"okienko_session={cookie}", token


def _prepare(env: dict[str, str], pki: Path, signed_count: int) -> Prepared:
    """A resident with drafts signed in advance (the signing is the resident's computer's work, not the portal's)
    and drafts for the form steps; the session cookies and CSRF tokens the clients send."""
    os.environ.update(env)
    from portal import create_app
    from portal.db_types import utcnow
    from portal.extensions import db
    from portal.forms import service as forms
    from sandbox import qualified

    app = create_app()
    with app.app_context():
        resident, eservice, cert, key = letter_writer(pki)
        signed: list[tuple[str, bytes]] = []
        for _ in range(signed_count):
            draft = forms.start_draft(resident, eservice)
            draft.values = dict(LETTER)
            db.session.commit()
            signed.append((draft.id, qualified.sign(forms.prepare_document(draft), cert, key)))
        step_drafts = []
        for _ in range(STEP_DRAFTS):
            step_drafts.append(forms.start_draft(resident, eservice).id)
            db.session.commit()
        resident_cookie, resident_csrf = _session_cookie(app, {
            "resident_id": resident.id, "login_at": utcnow().isoformat()})
        visitor_cookie, visitor_csrf = _session_cookie(app, {})
    return Prepared(resident_cookie, visitor_cookie, resident_csrf, visitor_csrf, signed, step_drafts)


def _receipts(env: dict[str, str]) -> list[tuple[str, str]]:
    """Receipt ids and their access codes, as the residents have them on their UPOs."""
    os.environ.update(env)
    from sqlalchemy import select

    from portal import create_app
    from portal.extensions import db
    from portal.inbox import service as inbox
    from portal.inbox.models import Submission

    app = create_app()
    with app.app_context():
        ids = list(db.session.scalars(select(Submission.receipt_id)))
        return [(receipt_id, inbox.access_code(receipt_id)) for receipt_id in ids]


async def _drive(base: str, jobs: list[tuple[str, Any]], prepared: Prepared) -> Run:
    """Send every job with CLIENTS clients that never pause; each answer is checked, not just its status."""
    import aiohttp

    run = Run()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def send(session: aiohttp.ClientSession, kind: str, job: Any) -> tuple[bool, int]:
        if kind == "hello":
            async with session.get(base + "/") as response:
                return response.status == 200 and await response.text() == "hello", response.status
        if kind == "lookup":
            receipt_id, code = job
            form = {"csrf_token": prepared.visitor_csrf, "upo": receipt_id, "kod": code}
            async with session.post(f"{base}/sprawdz-sprawe", data=form,
                                    headers={"Cookie": prepared.visitor_cookie}) as response:
                return response.status == 200 and receipt_id in await response.text(), response.status
        if kind == "step":
            form = {"csrf_token": prepared.resident_csrf, **LETTER}
            async with session.post(f"{base}/wnioski/{job}/krok/pismo", data=form, allow_redirects=False,
                                    headers={"Cookie": prepared.resident_cookie}) as response:
                await response.read()
                return (response.status in (302, 303) and job in response.headers.get("Location", ""),
                        response.status)
        draft_id, signed = job
        form = aiohttp.FormData()
        form.add_field("csrf_token", prepared.resident_csrf)
        form.add_field("podpisany", signed, filename="podpisany.xml", content_type="application/xml")
        async with session.post(f"{base}/wnioski/{draft_id}/podpis/kwalifikowany", data=form, allow_redirects=False,
                                headers={"Cookie": prepared.resident_cookie}) as response:
            await response.read()
            return response.status == 302 and "zlozono" in response.headers.get("Location", ""), response.status

    async def client(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            kind, job = queue.get_nowait()
            start = time.perf_counter()
            ok, status = await send(session, kind, job)
            run.latencies.setdefault(kind, []).append((time.perf_counter() - start) * 1000)
            run.failures[kind] = run.failures.get(kind, 0) + (0 if ok else 1)
            if not ok:
                statuses = run.statuses.setdefault(kind, {})
                statuses[status] = statuses.get(status, 0) + 1

    connector = aiohttp.TCPConnector(limit=CLIENTS)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(CLIENTS)))
        run.elapsed = time.perf_counter() - started
    return run


def _mix(receipts: list[tuple[str, str]], signed: list[tuple[str, bytes]], step_drafts: list[str],
         total: int) -> list[tuple[str, Any]]:
    chooser = random.Random(10)
    jobs: list[tuple[str, Any]] = [("lookup", chooser.choice(receipts)) for _ in range(round(total * SHARES["lookup"]))]
    jobs += [("step", step_drafts[n % len(step_drafts)]) for n in range(round(total * SHARES["step"]))]
    jobs += [("submission", work) for work in signed]
    chooser.shuffle(jobs)
    return jobs


def run() -> str:
    began = time.perf_counter()
    mixed_submissions = round(MIX * SHARES["submission"])
    with scratch_office() as office:
        prepared = _prepare(office.env, office.pki, ALONE + mixed_submissions)
        with serving(office.env, "portal.wsgi:app", "bench.hello:app") as (portal, hello_server):
            steady_client()
            hello = asyncio.run(_drive(hello_server, [("hello", None)] * MIX, prepared))
            alone = asyncio.run(_drive(portal, [("submission", w) for w in prepared.signed[:ALONE]], prepared))
            jobs = _mix(_receipts(office.env), prepared.signed[ALONE:], prepared.step_drafts, MIX)
            mixed = asyncio.run(_drive(portal, jobs, prepared))
    body = _report(hello, alone, mixed, time.perf_counter() - began)
    failed = {name: run.statuses for name, run in (("hello", hello), ("alone", alone), ("mix", mixed))
              if run.statuses}
    if failed:
        print(f"failed answers by HTTP status: {failed}", file=sys.stderr)
    write_section(NAME, body + "\n\n" + _history(hello, alone, mixed))
    return body


def _history(hello: Run, alone: Run, mixed: Run) -> str:
    """Every run's headline figures, newest last: the section above is the latest run in full."""
    import datetime
    import re

    from bench.report import DOC, machine

    earlier = ""
    if DOC.exists():
        section = re.search(rf"^## {re.escape(NAME)}\n.*?(?=^## |\Z)", DOC.read_text(encoding="utf-8"), re.S | re.M)
        earlier = "".join(re.findall(r"^\| 20\d\d-.*\n", section.group(0), re.M)) if section else ""
    everything = [latency for latencies in mixed.latencies.values() for latency in latencies]
    line = (f"| {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} | {machine()} | "
            f"{len(hello.latencies['hello']) / hello.elapsed:.0f} | "
            f"{len(alone.latencies['submission']) / alone.elapsed:.0f} | {len(everything) / mixed.elapsed:.0f} | "
            f"{percentiles(everything)['p99']:.0f} | {len(everything)} |\n")
    return ("### Every run\n\n| Date (UTC) | Machine | hello-world/s | submissions alone/s | mix requests/s | "
            "mix p99 ms | mix requests |\n| --- | --- | --- | --- | --- | --- | --- |\n" + earlier + line)


LABELS = {"hello": "hello-world Flask (same gunicorn settings)", "lookup": "status look-up (no login)",
          "step": "form step (saved to the draft)", "submission": "signed submission → stored + sealed UPO"}


def _row(label: str, latencies: list[float], failures: int, elapsed: float) -> str:
    p = percentiles(latencies)
    return (f"| {label} | {len(latencies)} | {len(latencies) / elapsed:.0f} | {p['p50']:.1f} | {p['p95']:.1f} | "
            f"{p['p99']:.1f} | {failures} |")


def _report(hello: Run, alone: Run, mixed: Run, total: float) -> str:
    head = "| Run · endpoint | Requests | Requests/s | p50 ms | p95 ms | p99 ms | Failed |\n" + \
        "| --- | --- | --- | --- | --- | --- | --- |\n"
    rows = [_row(f"hello · {LABELS['hello']}", hello.latencies["hello"], hello.failures["hello"], hello.elapsed),
            _row(f"alone · {LABELS['submission']}", alone.latencies["submission"], alone.failures["submission"],
                 alone.elapsed)]
    everything = [latency for latencies in mixed.latencies.values() for latency in latencies]
    rows.append(_row("mix · all requests", everything, sum(mixed.failures.values()), mixed.elapsed))
    rows += [_row(f"mix · {LABELS[kind]}", mixed.latencies[kind], mixed.failures[kind], mixed.elapsed)
             for kind in SHARES if kind in mixed.latencies]
    submissions_rate = len(alone.latencies["submission"]) / alone.elapsed
    mix_rate, mix_p99 = len(everything) / mixed.elapsed, percentiles(everything)["p99"]
    hello_rate = len(hello.latencies["hello"]) / hello.elapsed

    def verdict(met: bool) -> str:
        return "met" if met else "not met"

    return (
        f"gunicorn ({WORKERS} workers × {THREADS} threads, gthread) + PostgreSQL, {CLIENTS} concurrent clients "
        "(aiohttp, on the same machine, never pausing). The mix is 70 % status look-ups without login (a receipt "
        "id and access code from the first run's UPOs), 20 % form steps (the general letter's step posted and "
        "saved to one of 300 drafts), 10 % signed submissions (a ~5 KB document with an enveloped qualified XAdES "
        "signature; revocation offline, no TSA, so the UPO is sealed XAdES-BES), shuffled. Portal, PostgreSQL and "
        "the load generator share the machine's cores; the rate limits are lifted for the run (one address sends "
        f"everything). The run took {total / 60:.1f} min.\n\n" + head + "\n".join(rows) + "\n\n"
        f"Targets: ≥ 150 signed submissions/s alone — {verdict(submissions_rate >= 150)} "
        f"({submissions_rate:.0f}/s); the mix at ≥ 500 requests/s — {verdict(mix_rate >= 500)} ({mix_rate:.0f}/s) "
        f"with p99 ≤ 200 ms — {verdict(mix_p99 <= 200)} ({mix_p99:.0f} ms). "
        f"Ratios to hello-world: submissions alone {submissions_rate / hello_rate:.1%}, the mix "
        f"{mix_rate / hello_rate:.1%}.")


if __name__ == "__main__":
    print(run())
