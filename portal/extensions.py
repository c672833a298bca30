"""Flask extensions, created unbound and initialised in `create_app`."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
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
migrate = Migrate()
csrf = CSRFProtect()
babel = Babel()
# Limits are set per route (the public look-ups); counters live in PORTAL_RATELIMIT_STORAGE.
limiter = Limiter(key_func=get_remote_address)


def _lookup_limit() -> str:
    from flask import current_app

    return str(current_app.config["LOOKUP_RATE_LIMIT"])


# Every way of trying a receipt id with an access code (case look-up, receipt check, its API and
# download) counts against one allowance per address, so the code cannot be guessed by spreading tries.
receipt_lookups = limiter.shared_limit(_lookup_limit, scope="receipt-lookup",
                                       exempt_when=lambda: not _has_code())


def _has_code() -> bool:
    from flask import request

    return bool(request.values.get("kod"))
