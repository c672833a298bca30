"""Server-side sessions: the cookie carries only a random id; what the session holds stays in the database.

Flask's default session is a signed cookie anyone holding it can read, and one that still works after
logout. Here the cookie is 32 random bytes and nothing else. The database keeps their SHA-256, never the
id itself, so whoever reads the table (a backup, a replica) cannot open a session with what they read.
A session ends on the server: at logout, after PORTAL_SESSION_IDLE_MINUTES without activity,
PORTAL_SESSION_MAX_HOURS after the login, or when the resident ends it from another browser ("Moje konto").

Cheap for those who store nothing: a visitor gets a row only once something is kept in the session (the
language, a CSRF token, a login under way); a request reads the row only when it touches the session
(static files and /health never do); a row is written back only when the session changed, or its last
activity is a minute old. The store goes through the request's own database session, so SQLite and
PostgreSQL behave alike and Flask's test client (`session_transaction`) works as with cookies.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response, has_app_context, session
from flask.json.tag import TaggedJSONSerializer
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from portal.auth.models import WebSession
from portal.db_types import utcnow
from portal.extensions import db

log = logging.getLogger(__name__)

# Last activity is written back at most this often; the idle limit is counted generously by as much,
# so a session never ends before the time the page's warning announced.
TOUCH = timedelta(seconds=60)
# A visitor who stores something but never signs in is touched more rarely still.
TOUCH_ANONYMOUS = timedelta(hours=1)
# An ended signed-in session's row stays a day (it opens nothing): a resident who comes back to a form
# the next morning and posts it has the answers kept and is told the session ended, instead of a bare
# "form expired".
GRACE = timedelta(days=1)
PURGE_EVERY = 600.0  # seconds between one process's opportunistic purges
IDENTITY = ("resident_id", "clerk_id")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
_serializer = TaggedJSONSerializer()
_last_purge = 0.0


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Lapsed:
    """A signed-in session found past its time: who it was, and which limit ended it."""

    reason: str  # "idle" or "absolute"
    resident_id: int | None
    clerk_id: int | None


def _limits(app: Flask) -> tuple[timedelta, timedelta]:
    return (timedelta(minutes=int(app.config["SESSION_IDLE_MINUTES"])) + TOUCH,
            timedelta(hours=int(app.config["SESSION_MAX_HOURS"])))


def ends_at(app: Flask, created_at: datetime, seen_at: datetime) -> datetime:
    """When a signed-in session stops opening anything, however often it is used until then."""
    idle, absolute = _limits(app)
    return min(seen_at + idle, created_at + absolute)


def _lapse_reason(app: Flask, created_at: datetime, seen_at: datetime, now: datetime) -> str | None:
    idle, absolute = _limits(app)
    if now >= created_at + absolute:
        return "absolute"
    if now >= seen_at + idle:
        return "idle"
    return None


class ServerSession(SessionMixin):
    """The request's session. Its row is read on first use, so requests that never touch it cost nothing."""

    def __init__(self, app: Flask, token: str | None, stale_cookie: bool = False) -> None:
        self._app = app
        self._token = token
        self._data: dict[str, Any] | None = None
        self.row_id: int | None = None
        self.created_at: datetime | None = None
        self.seen_at: datetime | None = None
        self.stale_cookie = stale_cookie  # a cookie came that opens nothing: it is removed from the browser
        self.lapsed: Lapsed | None = None
        self.renewing = False  # a fresh id at the next save (login, time-out): the old one opens nothing
        self.active = False  # this request is activity (not a static file)
        self.extend = False  # write the activity back now (the "extend session" button)
        self.modified = False
        self.accessed = False
        self.unreadable = False  # the database could not be asked: nothing is saved for this request
        self.new = token is None

    # -- the mapping ---------------------------------------------------------------------------------
    def _loaded(self) -> dict[str, Any]:
        if self._data is None:
            data: dict[str, Any] = {}
            if self._token:
                try:
                    if has_app_context():
                        data = self._read()
                    else:  # the test client's session_transaction() reads outside any request
                        with self._app.app_context():
                            data = self._read()
                except SQLAlchemyError as exc:
                    # The database is down: the request fails as any that needs it (the 503 page), and
                    # for the rest of it — that page included — the session is empty and nothing is written
                    # back, so the stored session and the cookie that opens it outlive the outage.
                    db.session.rollback()
                    log.warning("session not read, the database is unavailable: %s", type(exc).__name__)
                    self.unreadable = True
                    self._data = {}
                    raise
            self._data = data
        self.accessed = True
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._loaded()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._loaded()[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self._loaded()[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())

    def __contains__(self, key: object) -> bool:
        return key in self._loaded()

    def __repr__(self) -> str:
        return f"<ServerSession row={self.row_id} keys={sorted(self._data or {})}>"

    # -- the row -------------------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        assert self._token is not None
        table = WebSession.__table__
        row = db.session.execute(
            select(table.c.id, table.c.data, table.c.created_at, table.c.seen_at)
            .where(table.c.token_hash == _hash(self._token))
        ).first()
        if row is None:  # logged out, ended from elsewhere, purged — or never issued by us
            self.stale_cookie = True
            return {}
        self.row_id, self.created_at, self.seen_at = row.id, row.created_at, row.seen_at
        data = _serializer.loads(row.data)
        if any(data.get(k) for k in IDENTITY):
            reason = _lapse_reason(self._app, row.created_at, row.seen_at, utcnow())
            if reason:
                # Past its time: from here on nobody is signed in. Only the language and the CSRF token stay
                # (so the post that found the session ended is still accepted, and its answers kept).
                self.lapsed = Lapsed(reason, data.get("resident_id"), data.get("clerk_id"))
                data = {k: data[k] for k in ("lang", "csrf_token") if k in data}
                data["expired"] = reason
                self.renewing = self.modified = True
        return data

    def signed_in(self) -> bool:
        return any(self._loaded().get(k) for k in IDENTITY)


class DatabaseSessionInterface(SessionInterface):
    """Flask's session, kept in the portal's database (table web_session)."""

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if token is not None and not _TOKEN.fullmatch(token):
            return ServerSession(app, None, stale_cookie=True)  # e.g. an old signed cookie: not ours any more
        return ServerSession(app, token)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:  # type: ignore[override]
        assert isinstance(session, ServerSession)
        if session.accessed:
            response.vary.add("Cookie")
        data = session._data
        if data is None or session.unreadable:
            return  # never read (nothing can have changed), or not readable (nothing may be overwritten)
        now = utcnow()
        if not data:
            if session.row_id is not None:
                write_separately(delete(WebSession).where(WebSession.id == session.row_id))
            if session.row_id is not None or session.stale_cookie:
                self._forget_cookie(app, response)
            return
        if session.row_id is None or session.renewing:
            token = secrets.token_urlsafe(32)
            statements: list[Any] = []
            if session.row_id is not None:
                statements.append(delete(WebSession).where(WebSession.id == session.row_id))
            statements.append(insert(WebSession).values(
                token_hash=_hash(token), data=_serializer.dumps(data), created_at=now, seen_at=now,
                purge_after=_purge_after(app, data, now, now), browser=browser_summary(_user_agent()),
                **{k: data.get(k) or None for k in IDENTITY}))
            if write_separately(*statements, purge=True):
                self._set_cookie(app, session, response, token)
            return
        assert session.created_at is not None and session.seen_at is not None
        signed_in = any(data.get(k) for k in IDENTITY)
        due = session.active and (session.extend or now - session.seen_at >= (TOUCH if signed_in else TOUCH_ANONYMOUS))
        seen = now if (due or session.modified) else session.seen_at
        values: dict[str, Any] = {"seen_at": seen, "purge_after": _purge_after(app, data, session.created_at, seen)}
        if session.modified:
            values.update(data=_serializer.dumps(data), **{k: data.get(k) or None for k in IDENTITY})
        elif not due:
            return
        # A row ended meanwhile (from another browser) stays ended: the update finds nothing to change.
        write_separately(update(WebSession).where(WebSession.id == session.row_id).values(**values))

    def _set_cookie(self, app: Flask, session: ServerSession, response: Response, token: str) -> None:
        response.set_cookie(
            self.get_cookie_name(app), token, expires=self.get_expiration_time(app, session),
            httponly=self.get_cookie_httponly(app), domain=self.get_cookie_domain(app),
            path=self.get_cookie_path(app), secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app))

    def _forget_cookie(self, app: Flask, response: Response) -> None:
        response.delete_cookie(
            self.get_cookie_name(app), domain=self.get_cookie_domain(app), path=self.get_cookie_path(app),
            secure=self.get_cookie_secure(app), httponly=self.get_cookie_httponly(app),
            samesite=self.get_cookie_samesite(app), partitioned=self.get_cookie_partitioned(app))


def _purge_after(app: Flask, data: dict[str, Any], created_at: datetime, seen_at: datetime) -> datetime:
    if any(data.get(k) for k in IDENTITY):
        return ends_at(app, created_at, seen_at) + GRACE
    return seen_at + _limits(app)[1]  # a visitor's language and CSRF token: half a day after the last use


def write_separately(*statements: Any, purge: bool = False) -> bool:
    """Write the session in a transaction of its own. The response is made, so whatever the view left
    uncommitted is rolled back first — as the end of the request would do — and never committed here."""
    db.session.rollback()
    try:
        for statement in statements:
            db.session.execute(statement)
        if purge:
            _purge_now_and_then()
        db.session.commit()
    except SQLAlchemyError as exc:
        # The response is ready and says what happened; a session not saved costs at most a sign-in.
        db.session.rollback()
        log.warning("session not saved, the database is unavailable: %s", type(exc).__name__)
        return False
    return True


def _purge_now_and_then() -> None:
    global _last_purge
    if time.monotonic() - _last_purge >= PURGE_EVERY:
        _last_purge = time.monotonic()
        db.session.execute(delete(WebSession).where(WebSession.purge_after < utcnow()))


def purge_expired() -> int:
    """Delete the rows of sessions long ended; returns how many. Runs by itself, every ten minutes per
    process, whenever a session is created; callable from a periodic chore too."""
    deleted = db.session.execute(delete(WebSession).where(WebSession.purge_after < utcnow()))
    db.session.commit()
    return int(getattr(deleted, "rowcount", 0) or 0)


def _user_agent() -> str:
    from flask import request

    return request.headers.get("User-Agent", "")


_BROWSERS = (("Edg/", "Edge"), ("EdgA/", "Edge"), ("OPR/", "Opera"), ("SamsungBrowser/", "Samsung Internet"),
             ("FxiOS/", "Firefox"), ("CriOS/", "Chrome"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"),
             ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Windows", "Windows"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Android", "Android"),
            ("CrOS", "ChromeOS"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))


def browser_summary(user_agent: str) -> str:
    """"Firefox, Linux" — enough for a resident to recognise their device, not a fingerprint; "" when unknown."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), "")
    system = next((name for token, name in _SYSTEMS if token in user_agent), "")
    return ", ".join(part for part in (browser, system) if part)


# -- what the rest of the portal asks of the session ------------------------------------------------------

def _current() -> ServerSession | None:
    current = session._get_current_object()  # type: ignore[attr-defined]
    return current if isinstance(current, ServerSession) else None


def renew() -> None:
    """Issue a fresh id at the end of this request (login, logout of one identity): the old one opens nothing."""
    current = _current()
    if current is not None:
        current.renewing = current.modified = True


def lapsed() -> Lapsed | None:
    """The signed-in session this request came with, if it was found past its time (and so ended)."""
    current = _current()
    if current is None:
        return None
    current._loaded()
    return current.lapsed


def mark_active(extend: bool = False) -> None:
    """This request is the visitor's activity; `extend` writes it back at once instead of within a minute."""
    current = _current()
    if current is not None:
        current.active = True
        current.extend = current.extend or extend


def current_id() -> int | None:
    current = _current()
    if current is None:
        return None
    current._loaded()
    return current.row_id


def seconds_left() -> int | None:
    """Seconds until the absolute limit ends this signed-in session (the idle limit is the page's own count)."""
    current = _current()
    if current is None or not current.signed_in() or current.created_at is None:
        return None
    absolute = _limits(current._app)[1]
    return max(0, int((current.created_at + absolute - utcnow()).total_seconds()))


@dataclass(frozen=True)
class SessionInfo:
    """One of a person's active sessions, as "Moje konto" lists it."""

    id: int
    started: datetime
    last_active: datetime
    browser: str
    current: bool


def sessions_of(resident_id: int) -> list[SessionInfo]:
    """A resident's sessions that still open something, the most recently used first."""
    from flask import current_app

    here = current_id()
    now = utcnow()
    rows = db.session.scalars(select(WebSession).where(WebSession.resident_id == resident_id)
                              .order_by(WebSession.seen_at.desc(), WebSession.id.desc()))
    return [SessionInfo(row.id, row.created_at, row.seen_at, row.browser, row.id == here) for row in rows
            if _lapse_reason(current_app._get_current_object(), row.created_at, row.seen_at, now) is None]  # type: ignore[attr-defined]


def end(resident_id: int, session_id: int) -> bool:
    """End one of the resident's sessions (another browser's); False when it is not theirs or already over.
    Another resident's id is refused exactly like one that does not exist."""
    from portal.audit import service as audit

    ended = db.session.execute(delete(WebSession).where(WebSession.id == session_id,
                                                        WebSession.resident_id == resident_id))
    if not getattr(ended, "rowcount", 0):
        db.session.rollback()
        return False
    audit.record("resident.session_ended", "resident", str(resident_id), actor=("resident", str(resident_id)),
                 session=session_id)
    db.session.commit()
    return True


def issue(values: dict[str, Any], user_agent: str = "", last_active: datetime | None = None) -> str:
    """A session made without a browser (benches, tools): its row, and the cookie value that opens it.
    `last_active` in the future keeps it from idling out while a bench is still preparing its data."""
    from flask import current_app

    token = secrets.token_urlsafe(32)
    now = utcnow()
    seen = last_active or now
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    db.session.execute(insert(WebSession).values(
        token_hash=_hash(token), data=_serializer.dumps(values), created_at=now, seen_at=seen,
        purge_after=_purge_after(app, values, now, seen), browser=browser_summary(user_agent),
        **{k: values.get(k) or None for k in IDENTITY}))
    db.session.commit()
    return token
