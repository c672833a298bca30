"""Okienko: e-services portal for Polish municipal offices.

Importing the package imports neither Flask nor SQLAlchemy (each is imported where it is used): `okienko`
loads `portal.config` through it, and a command that needs no application starts without paying for them.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from portal import config as portal_config
from portal.clock import WARSAW

if TYPE_CHECKING:
    from flask import Flask

MIGRATIONS = str(Path(__file__).parent / "migrations")


class KeysMissing(RuntimeError):
    """The portal's own secrets are neither in the environment nor in instance/secrets.json."""


def create_app(test_config: dict[str, Any] | None = None, *, web: bool = True) -> Flask:
    """The portal. With `web=False` only its settings, logging and database (every table known): what the
    command line's tasks that serve no page need — a verification, a listing, with `init_migrations` a
    migration. That one needs no keys and registers no blueprint, so it is built in a fraction of the time."""
    from flask import Flask

    from portal.extensions import babel, csrf, db, limiter

    app = Flask(__name__, instance_path=str(portal_config.INSTANCE_DIR))
    settings = portal_config.from_environment()
    if test_config:
        settings.update(test_config)
        settings = portal_config.flask_config(settings)
    app.config.update(settings)
    if web and (not app.config.get("SECRET_KEY") or not app.config.get("PII_KEY")):
        raise KeysMissing("PORTAL_SECRET_KEY and PORTAL_PII_KEY are not set: run `okienko keys init` first")
    _register_sqlite_pragmas()
    from portal import ops

    ops.configure_logging(app)
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.WARNING)
    if not web:
        db.init_app(app)
        import portal.models  # noqa: F401 - every table in the metadata

        _register_adapters()  # `okienko outbox check` checks them
        return app
    ops.init_app(app)  # request ids first: every later hook's log lines carry them
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        # Behind a TLS-terminating proxy: the client's address (rate limits, audit) and the scheme
        # (HSTS, https:// addresses) come from the headers the trusted proxies set, and only from them.
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    db.init_app(app)
    from portal.auth.sessions import DatabaseSessionInterface

    app.session_interface = DatabaseSessionInterface()  # only a random id in the cookie (portal/auth/sessions.py)
    init_migrations(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    _register_identity_providers(app)

    import portal.models  # noqa: F401 - every table in the metadata
    from portal import delivery

    _register_adapters()
    delivery.init_app(app)  # what the outbox asks of the portal (backoffice_adapter/hooks.py)
    from portal.admin.views import bp as admin_bp
    from portal.api import bp as api_bp
    from portal.auth.views import bp as auth_bp
    from portal.desk.views import bp as desk_bp
    from portal.edoreczenia.views import bp as edoreczenia_bp
    from portal.epuap_pull.views import bp as epuap_pull_bp
    from portal.forms.views import bp as forms_bp
    from portal.inbox.public import bp as receipts_bp
    from portal.inbox.views import bp as inbox_bp
    from portal.pages import bp as pages_bp
    from portal.signing.views import bp as signing_bp
    from portal.stats.views import bp as stats_bp
    from portal.status.inbound import bp as inbound_events_bp
    from portal.status.views import bp as status_bp

    for blueprint in (forms_bp, auth_bp, signing_bp, inbox_bp, receipts_bp, status_bp, inbound_events_bp, desk_bp,
                      admin_bp, epuap_pull_bp, pages_bp, stats_bp, api_bp, edoreczenia_bp):
        app.register_blueprint(blueprint)

    from portal.auth.service import current_clerk, current_resident, enforce_idle_timeout, identify_actor

    app.before_request(enforce_idle_timeout)
    app.before_request(identify_actor)
    app.before_request(_remember_language)
    form_targets = " ".join(
        sorted({_origin(app.config[k]) for k in ("TPSIGNING_URL", "RESIDENT_OIDC_ISSUER", "CLERK_OIDC_ISSUER")})
    )
    app.config["CSP"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        # Forms post to the portal only, but their answers may redirect to the signing service and
        # to the identity providers (signing, logout), which browsers check against form-action.
        f"form-action 'self' {form_targets}; frame-ancestors 'none'; base-uri 'self'; object-src 'none'"
    )
    app.after_request(_security_headers)

    @app.context_processor
    def inject() -> dict[str, Any]:
        from portal import language

        return {
            "current_resident": current_resident,
            "current_clerk": current_clerk,
            "lang": language.current,
            "t": language.pick,
            "office": {
                "name": app.config["OFFICE_NAME"],
                "address": f"{app.config['OFFICE_STREET']} {app.config['OFFICE_BUILDING']}, "
                f"{app.config['OFFICE_POSTCODE']} {app.config['OFFICE_TOWN']}",
                "email": app.config["OFFICE_EMAIL"],
                "phone": app.config["OFFICE_PHONE"],
            },
            "sandbox": app.config["SANDBOX"],
            "session_idle_seconds": _session_seconds(app),
        }

    app.add_template_filter(_localtime, "localtime")
    app.add_template_filter(_localdate, "localdate")
    from portal.edoreczenia.evidence import in_words as evidence_words  # like the blueprints: for the web app only

    app.add_template_global(evidence_words, "evidence_words")
    app.add_template_filter(_level_name, "loa")

    from portal import errors

    errors.register(app)  # error pages that render with the database down (portal/errors.py)

    return app


def _register_adapters() -> None:
    """The back-office adapters: the delivery package's own, and the portal's (the desk, the WS-Pull inbox)."""
    import backoffice_adapter  # noqa: F401 - registers directory, ezdrp, smtp, webhook
    import portal.desk.adapter  # noqa: F401 - registers desk
    import portal.epuap_pull.adapter  # noqa: F401 - registers epuap-pull


def init_migrations(app: Flask) -> None:
    """Flask-Migrate on `app` (the web application always; the light one for `okienko db`)."""
    from flask_migrate import Migrate

    from portal.extensions import db

    Migrate(app, db, directory=MIGRATIONS, render_as_batch=True)


def _session_seconds(app: Flask) -> int:
    """What the page's time-out warning counts down: the idle limit, or less when the absolute one comes first."""
    from sqlalchemy.exc import SQLAlchemyError

    from portal import errors
    from portal.auth import sessions

    idle = int(app.config["SESSION_IDLE_MINUTES"]) * 60
    if errors.database_down():
        return idle  # the page has no session warning then (base.html), and the session cannot be read
    try:
        left = sessions.seconds_left()
    except SQLAlchemyError:
        errors.lost_the_database()
        return idle
    return idle if left is None else max(1, min(idle, left))


def _register_identity_providers(app: Flask) -> None:
    """One OAuth registry per application, so two apps (tests, several offices) never share clients."""
    from authlib.integrations.flask_client import OAuth

    c = app.config
    oauth = OAuth(app)
    app.extensions["okienko.oauth"] = oauth
    for name, prefix in (("resident", "RESIDENT"), ("clerk", "CLERK")):
        oauth.register(
            name,
            client_id=c[f"{prefix}_OIDC_CLIENT_ID"],
            client_secret=c[f"{prefix}_OIDC_CLIENT_SECRET"],
            server_metadata_url=c[f"{prefix}_OIDC_ISSUER"].rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": "openid profile", "code_challenge_method": "S256", "timeout": 10},
        )


def load_catalog_at_start(app: Flask) -> None:
    """New service versions dropped into the catalog folder go live at the next start.

    Several workers may start at once: a version another worker recorded first is simply
    "unchanged" here (the unique constraint decides), and a database that is not migrated yet
    leaves the catalog as it was instead of stopping the portal.
    """
    from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

    from portal.extensions import db
    from portal.forms import service

    if not app.config["CATALOG_LOAD_AT_START"]:
        return
    log = logging.getLogger("portal.catalog")
    with app.app_context():
        try:
            report = service.load_catalog(Path(app.config["CATALOG_DIR"]))
        except (IntegrityError, OperationalError, ProgrammingError) as exc:
            db.session.rollback()
            log.warning("catalog not loaded at start: %s", str(exc).splitlines()[0])
            return
        finally:
            db.session.remove()
    for label in report.added:
        log.info("loaded %s", label)
    for error in report.errors:
        log.error("refused %s", error)


def _level_name(acr: str | None) -> str:
    """An eIDAS level of assurance in words."""
    from flask_babel import gettext as _

    names = {"low": _("niski"), "substantial": _("znaczący"), "high": _("wysoki")}
    level = (acr or "").rsplit("/", 1)[-1]
    return f"{names[level]} ({level})" if level in names else (acr or "—")


def _localdate(moment: Any) -> str:
    """A day as residents read it; accepts a date, a moment (shown in Polish time) or ISO 8601 text."""
    if not moment:
        return ""
    if isinstance(moment, str):
        try:
            moment = date.fromisoformat(moment)
        except ValueError:
            return moment  # not a date after all (an EZD's free text): shown as it came
    if isinstance(moment, datetime):
        moment = moment.astimezone(WARSAW)
    return moment.strftime("%d.%m.%Y")


def _localtime(moment: Any, seconds: bool = False) -> str:
    """A moment as residents read it: Polish local time. Accepts ISO 8601 text (as receipts carry it)."""
    if not moment:
        return ""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(WARSAW).strftime("%d.%m.%Y, %H:%M:%S" if seconds else "%d.%m.%Y, %H:%M")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _select_locale() -> str:
    from flask import session
    from sqlalchemy.exc import SQLAlchemyError

    from portal import errors, language

    try:
        chosen = session.get("lang")
    except SQLAlchemyError:  # the session's store (the database) is down: the page is still made, in Polish
        errors.lost_the_database()
        return "pl"
    if chosen in language.LANGUAGES:
        return chosen
    return "pl"


def _remember_language() -> None:
    from flask import g, request, session

    from portal import language

    requested = request.args.get("lang")
    if requested in language.LANGUAGES:
        session["lang"] = requested
        g.pop("_flask_babel", None)


def _security_headers(response: Any) -> Any:
    from flask import current_app, request

    response.headers.setdefault("Content-Security-Policy", current_app.config["CSP"])
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def _register_sqlite_pragmas() -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not event.contains(Engine, "connect", _sqlite_pragmas):
        event.listen(Engine, "connect", _sqlite_pragmas)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """Per-connection SQLite settings. The WAL journal itself is set once by `okienko db upgrade`."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()
