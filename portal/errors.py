"""Error pages, which must render whatever else is broken — above all with the database down.

A page made while PostgreSQL is unreachable cannot ask it who is signed in (the header's name), nor write the
session back (its store is the database), nor make a CSRF token the session does not hold yet (that writes the
session). So the error handlers mark the request as made without the database: the header then shows only
what the session already holds, and the session is not saved on the way out — the resident's cookie and
session stay as they were, and count again once the database is back.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, current_app, g, render_template, request, session
from flask_babel import get_locale
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from werkzeug.exceptions import InternalServerError

from portal import api
from portal.extensions import db
from portal.inbox.spool import SpoolUnavailable
from portal.ops import request_ids
from portal.storage.service import StorageUnavailable

log = logging.getLogger("portal")

# How long residents (and clients of the API) are asked to wait before trying again while the database is down.
RETRY_AFTER_SECONDS = 30


@dataclass(frozen=True)
class Visitor:
    """Who the page header speaks to. `name` is None when the database could not be asked."""

    resident: bool = False
    clerk: bool = False
    name: str | None = None
    from_database: bool = True  # False: the page is made without the database (no logout form, no CSRF token)

    @property
    def signed_in(self) -> bool:
        return self.resident or self.clerk


# SQLite reports a statement it cannot run (a function its version lacks, a missing table) as an
# OperationalError, as it does a locked or missing database file: those are programming errors, not outages.
_SQLITE_PROGRAMMING_ERRORS = ("no such function", "no such table", "no such column", "syntax error",
                              "wrong number of arguments", "has no column named")


def database_error(exc: BaseException | None) -> bool:
    """Is this the database (or the connection to it) failing — not a statement of ours it cannot run?"""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, InterfaceError):
        return True
    if isinstance(exc, OperationalError):
        message = str(getattr(exc, "orig", exc)).lower()
        return not any(marker in message for marker in _SQLITE_PROGRAMMING_ERRORS)
    return False


def for_clerk() -> bool:
    """Is a clerk looking (the desk's pages)? Their error pages speak of the desk, not of a resident's answers."""
    return request.blueprint == "desk" or request.path.startswith("/urzad")


def _rollback() -> None:
    with contextlib.suppress(SQLAlchemyError):  # the connection is gone; the pool makes another once it can
        db.session.rollback()


def lost_the_database() -> None:
    """A read failed because the database is down: the rest of this request makes do without it (and does not
    save the session)."""
    _rollback()
    g.database_down = True


def _from_session() -> Visitor:
    """What the session alone says (it was read at the start of the request, or could not be read at all)."""
    try:
        resident_id, clerk_id = session.get("resident_id"), session.get("clerk_id")
    except SQLAlchemyError:
        _rollback()
        return Visitor(from_database=False)
    return Visitor(resident=bool(resident_id), clerk=bool(clerk_id), from_database=False)


def visitor() -> Visitor:
    """The header's visitor; asks the database for the resident's name unless the request found it down."""
    found: Visitor | None = g.get("visitor")
    if found is not None:
        return found
    if g.get("database_down"):
        found = _from_session()
    else:
        from portal.auth.service import current_clerk, current_resident

        try:
            resident, clerk = current_resident(), current_clerk()
            found = Visitor(resident=resident is not None, clerk=clerk is not None,
                            name=resident.full_name if resident is not None else None)
        except SQLAlchemyError as exc:
            log.warning("page header without the database: %s", str(exc).splitlines()[0])
            lost_the_database()
            found = _from_session()
    g.visitor = found
    return found


def database_down() -> bool:
    """Is this request's page being made without the database?"""
    return bool(g.get("database_down"))


def _without_the_database() -> None:
    """From here on this request neither reads nor writes the database for its page or its session."""
    _rollback()
    g.database_down = True
    g.pop("visitor", None)  # one made before the failure may offer a logout, which needs the database
    visitor()  # what the session says, while it can still say it
    try:
        get_locale()  # the visitor's language, read from the session now and kept for the page
    except SQLAlchemyError:
        _rollback()


class _NotSavedWithoutTheDatabase:
    """The application's session interface, except that a page made without the database does not save the
    session: its store is the database, so saving would fail and turn the page into a bare 500 — and a session
    that could not be read must never be saved, empty, over the resident's."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def open_session(self, app: Flask, request: Any) -> Any:
        return self.inner.open_session(app, request)

    def make_null_session(self, app: Flask) -> Any:
        return self.inner.make_null_session(app)

    def is_null_session(self, obj: object) -> bool:
        return bool(self.inner.is_null_session(obj))

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if g.get("database_down"):
            return
        self.inner.save_session(app, session, response)


def _retry_url() -> str:
    """Where "try again" leads: this page again, or for a form post the page that holds the form."""
    if request.method in ("GET", "HEAD"):
        address = request.full_path.rstrip("?")
    else:
        referrer = urlsplit(request.referrer or "")
        if referrer.netloc != request.host:
            return "/"
        address = referrer.path + (f"?{referrer.query}" if referrer.query else "")
    return "/" + address.lstrip("/")  # never "//host/…", which a browser would take for another site


def database_unavailable(error: Any) -> Any:
    """The database failed: nothing of this request was committed. 503, "try again in a moment", no database."""
    _without_the_database()
    log.error("database unavailable on %s: %s", request.path, str(error).splitlines()[0] if str(error) else error)
    if api.is_api(request.path):
        response, code = api.error_answer(error, 503)
    else:
        response = current_app.make_response((render_template("error.html", code=503, outage=True,
                                                              for_clerk=for_clerk(), retry_url=_retry_url()), 503))
        code = 503
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, code


def spool_unavailable(error: SpoolUnavailable) -> Any:
    """The signed document could not be stored, nor kept for a retry: say plainly that it must be signed again."""
    log.error("signed document not kept for a retry on %s: %s", request.path, error)
    page = render_template("error.html", code=503, spool=True, retry_url=_retry_url())
    return page, 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def store_unavailable(error: Any) -> Any:
    """The document store cannot give or take bytes right now (full, unreachable): a 503 to try again, not a 500."""
    log.error("document store unavailable on %s: %s", request.path, error)
    if api.is_api(request.path):
        return api.error_answer(error, 503)
    return render_template("error.html", code=503, store_down=True, retry_url=_retry_url()), 503


def error_page(error: Any) -> Any:
    code = getattr(error, "code", 500) or 500
    original = getattr(error, "original_exception", None)
    if code == 500 and database_error(original):
        # Raised where no view could catch it (the session saved on the way out): still the database's outage.
        return database_unavailable(original)
    if code == 500 and isinstance(original, SpoolUnavailable):
        return spool_unavailable(original)
    if code == 500 and isinstance(original, StorageUnavailable):
        return store_unavailable(original)
    if code >= 500:
        log.exception("server error on %s", request.path)
        _rollback()  # the failed statement's transaction must not be what the page's header reads with
    if api.is_api(request.path):
        return api.error_answer(error, code)
    limit = getattr(error, "limit", None)  # Flask-Limiter's refusal names the allowance that ran out
    return render_template("error.html", code=code, locale=get_locale(), for_clerk=for_clerk(),
                           request_id=request_ids.current(),
                           receipt_lookup=getattr(limit, "scope", None) == "receipt-lookup"), code


def _database_failure(error: Any) -> Any:
    """An error from the database layer: the 503 outage page when the database does not answer; otherwise
    (a statement it cannot run) our programming error, the 500 page, logged as such."""
    if database_error(error):
        return database_unavailable(error)
    _rollback()
    return error_page(InternalServerError(original_exception=error))


def csrf_error(error: Any) -> Any:
    return render_template("error.html", code=400, csrf=True), 400


def _retry_after(response: Any) -> Any:
    """Every 503 says when to try again (the views' own "try again" pages too), unless it already says so."""
    if response.status_code == 503:
        response.headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return response


def register(app: Flask) -> None:
    from flask_wtf.csrf import CSRFError

    for status in (400, 403, 404, 405, 409, 410, 413, 429, 500, 503):
        app.register_error_handler(status, error_page)
    app.register_error_handler(CSRFError, csrf_error)
    # Any database error class that means "unreachable", wherever it is raised from: a view, a hook, a template.
    app.register_error_handler(OperationalError, _database_failure)
    app.register_error_handler(InterfaceError, _database_failure)
    app.register_error_handler(SpoolUnavailable, spool_unavailable)
    app.register_error_handler(StorageUnavailable, store_unavailable)
    app.after_request(_retry_after)
    app.session_interface = _NotSavedWithoutTheDatabase(app.session_interface)  # type: ignore[assignment]
    app.add_template_global(visitor, "visitor")
    app.add_template_global(database_down, "database_down")
