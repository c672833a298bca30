"""Flask extensions, created unbound and initialised in `create_app`.

Flask-Migrate is not among them: it imports Alembic (a tenth of a second), which only `okienko db` and
the tests' migrations need (`portal.init_migrations`)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    # Named constraints, so that Alembic migrations can alter them on SQLite and PostgreSQL alike.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


db = SQLAlchemy(model_class=Base)


@contextmanager
def kept_loaded() -> Iterator[None]:
    """Commits inside the block keep the session's objects loaded instead of expiring them, for a caller
    that goes on with exactly what it has just written. (Set on the request's Session itself: the
    `db.session` proxy would take the attribute without passing it on.)"""
    session = db.session()
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = True
csrf = CSRFProtect()
babel = Babel()
# Limits are set per route (the public look-ups); counters live in PORTAL_RATELIMIT_STORAGE.
limiter = Limiter(key_func=get_remote_address)


def _lookup_limit() -> str:
    from flask import current_app

    return str(current_app.config["LOOKUP_RATE_LIMIT"])


def receipt_lookup(tried: Callable[[], object | None]) -> Any:
    """Every way of trying a receipt id with an access code (case look-up, receipt check, its API and
    download) counts against one allowance per address, so the code cannot be guessed by spreading tries.

    `tried` is the door's own reading of the request — the very function its view takes the id and code
    from — and a request is counted whenever it finds a try there. The limit and the view cannot read
    different things: once the limit read `request.values` while a view read `request.form`, and
    `POST /sprawdz-sprawe?kod=` (an empty code in the address, the real one in the form) went uncounted.
    """
    return limiter.shared_limit(_lookup_limit, scope="receipt-lookup", exempt_when=lambda: tried() is None)


def _login_limit() -> str:
    from flask import current_app

    return str(current_app.config["LOGIN_RATE_LIMIT"])


def _submit_limit() -> str:
    from flask import current_app

    return str(current_app.config["SUBMIT_RATE_LIMIT"])


def _submitter() -> str:
    """Filing needs a signed-in resident: count per resident, so neighbours behind one address never share."""
    from flask import session

    resident_id = session.get("resident_id")
    return f"resident:{resident_id}" if resident_id else get_remote_address()


# Starting a login (residents' and clerks') costs the identity provider a session each time.
login_starts = limiter.shared_limit(_login_limit, scope="login-start")
# Handing a document to TpSigning5 and filing a signed one are the expensive steps (the signing service,
# signature verification, the sealed receipt): one allowance per resident for all of them.
submissions = limiter.shared_limit(_submit_limit, scope="submission", key_func=_submitter)
