from __future__ import annotations

import logging
import re
from typing import Any

import requests
from authlib.common.errors import AuthlibBaseError
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from joserfc.errors import JoseError
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from portal import config as portal_config
from portal.auth import pii, service, sessions
from portal.auth.models import Clerk
from portal.extensions import db, login_starts
from portal.notify.mail import MailNotSent

log = logging.getLogger(__name__)
bp = Blueprint("auth", __name__)

ERRORS = {
    "provider_down": lambda: _("Usługa logowania jest teraz niedostępna. Spróbuj ponownie za kilka minut."),
    "cancelled": lambda: _("Logowanie zostało przerwane. Możesz spróbować ponownie."),
    "invalid_response": lambda: _(
        "Nie udało się potwierdzić Twojej tożsamości: odpowiedź usługi logowania była nieprawidłowa lub "
        "przeterminowana. Zaloguj się ponownie."
    ),
    "missing_pesel": lambda: _(
        "Usługa logowania nie przekazała numeru PESEL, a bez niego nie możemy przyjąć pisma. "
        "Zaloguj się profilem zaufanym lub e-dowodem."
    ),
    "missing_name": lambda: _("Usługa logowania nie przekazała Twojego imienia i nazwiska."),
}


def _error(code: str, who: str, detail: str = "", http_status: int = 400) -> Any:
    service.refuse(code, who, detail)
    log.warning("login refused for %s: %s", who, code)
    return render_template("auth/error.html", message=ERRORS[code](), code=code), http_status


def _provider(name: str) -> Any:
    return current_app.extensions["okienko.oauth"].create_client(name)


def _callback_url(endpoint: str) -> str:
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint)


@bp.get("/logowanie")
@login_starts
def login() -> Any:
    session["after_login"] = service.safe_next(request.args.get("next"), "/moje-sprawy")
    extra: dict[str, str] = {}
    loa = request.args.get("loa")
    if loa in service.LEVELS:
        extra["acr_values"] = service.LEVELS[loa]  # a service needs a higher level than the last login had
    if request.args.get("ponownie"):
        extra.update(prompt="login", max_age="0")  # signing asks for a fresh login
    try:
        return _provider("resident").authorize_redirect(_callback_url("auth.callback"), **extra)
    except (requests.RequestException, ValueError, AuthlibBaseError) as exc:
        return _error("provider_down", "resident", str(exc), 503)


@bp.get("/logowanie/powrot")
def callback() -> Any:
    if request.args.get("error"):
        return _error("cancelled", "resident", request.args.get("error", ""))
    try:
        token = _provider("resident").authorize_access_token()
    except requests.RequestException as exc:
        return _error("provider_down", "resident", str(exc), 503)
    except (AuthlibBaseError, JoseError, KeyError, ValueError) as exc:
        return _error("invalid_response", "resident", f"{type(exc).__name__}: {exc}")
    claims = dict(token.get("userinfo") or {})
    if not claims.get(current_app.config["RESIDENT_CLAIM_PESEL"]):
        # Many brokers put only `sub` in the ID token and the attributes behind the userinfo endpoint.
        try:
            attributes = dict(_provider("resident").userinfo(token=token))
        except requests.RequestException as exc:
            return _error("provider_down", "resident", str(exc), 503)
        except (AuthlibBaseError, ValueError) as exc:
            return _error("invalid_response", "resident", f"userinfo: {exc}")
        if attributes.get("sub") != claims.get("sub"):
            return _error("invalid_response", "resident", "userinfo sub differs from the ID token's")
        claims = {**attributes, **claims}
    target = service.safe_next(session.get("after_login"), "/moje-sprawy")  # read before the session is renewed
    try:
        service.sign_in_resident(claims)
    except service.IdentityRefused as exc:
        return _error(exc.code, "resident", str(exc))
    return redirect(target)


@bp.post("/wyloguj")
def logout() -> Any:
    resident_id = session.get("resident_id")
    session.clear()  # the row goes with it: a copy of the cookie opens nothing any more
    if resident_id:
        service.record_logout(resident_id)
    return _end_provider_session()


def _end_provider_session() -> Any:
    """On to the provider's end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0), naming the portal
    by `client_id`. No `id_token_hint`: the ID token carries the PESEL and would sit in the address bar,
    the browser's history and the provider's access log; the portal does not even keep it."""
    try:
        metadata = _provider("resident").load_server_metadata()
    except (requests.RequestException, ValueError):
        return redirect("/")
    end_session = metadata.get("end_session_endpoint")
    if not end_session:
        return redirect("/")
    params = requests.Request("GET", end_session, params={
        "client_id": current_app.config["RESIDENT_OIDC_CLIENT_ID"],
        "post_logout_redirect_uri": current_app.config["BASE_URL"].rstrip("/") + "/",
    }).prepare()
    return redirect(params.url or "/")


class EmailForm(FlaskForm):
    email = StringField(validators=[])

    def validate_email(self, field: Any) -> None:
        value = (field.data or "").strip()
        if not value:
            raise ValidationError(_("Wpisz adres e-mail."))
        if len(value) > 254 or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValidationError(_("Wpisz adres e-mail w formacie nazwa@domena.pl."))


@bp.route("/konto", methods=["GET", "POST"])
@service.resident_required
def account() -> Any:
    resident = service.current_resident()
    assert resident is not None
    form = EmailForm()
    form.email.label.text = _("Adres e-mail do powiadomień")
    sent = False
    if form.validate_on_submit():
        try:
            service.request_email(resident, form.email.data.strip(),
                                  lambda token: current_app.config["BASE_URL"].rstrip("/")
                                  + url_for("auth.confirm_email", token=token))
            sent = True
        except MailNotSent:
            form.email.errors.append(_("Nie udało się wysłać wiadomości. Spróbuj ponownie później."))
    elif request.method == "GET" and resident.email:
        form.email.data = resident.email
    notices_form = NoticesForm(case_changes=resident.notify_case_changes)
    notices_form.case_changes.label.text = _("Wysyłaj mi e-mail, gdy w mojej sprawie jest coś do zrobienia albo "
                                             "nowe pismo z urzędu")
    return render_template("auth/account.html", resident=resident, form=form, sent=sent, notices_form=notices_form,
                           notices_saved=request.args.get("zapisano") is not None,
                           pesel=pii.mask(service.resident_pesel(resident)), logins=service.recent_logins(resident),
                           sessions=sessions.sessions_of(resident.id),
                           session_ended=request.args.get("zakonczono") is not None,
                           errors=[(f.id, m) for f in form if f.errors for m in f.errors])


@bp.post("/konto/sesje/<int:session_id>/zakoncz")
@service.resident_required
def end_session(session_id: int) -> Any:
    """End one of the resident's sessions (a browser left signed in elsewhere); ending this one logs out."""
    resident = service.current_resident()
    assert resident is not None
    if session_id == sessions.current_id():
        return logout()
    if not sessions.end(resident.id, session_id):
        abort(404)  # another resident's session is answered exactly like one that does not exist
    return redirect(url_for("auth.account", zakonczono=1) + "#sesje")


class NoticesForm(FlaskForm):
    case_changes = BooleanField()


@bp.post("/konto/powiadomienia")
@service.resident_required
def notices() -> Any:
    resident = service.current_resident()
    assert resident is not None
    form = NoticesForm()
    if form.validate_on_submit():
        service.set_case_notices(resident, bool(form.case_changes.data))
    return redirect(url_for("auth.account", zapisano=1))


@bp.get("/konto/potwierdz/<token>")
@service.resident_required
def confirm_email(token: str) -> Any:
    resident = service.current_resident()
    assert resident is not None
    confirmed = service.confirm_email(resident, token)
    return render_template("auth/confirmed.html", confirmed=confirmed), 200 if confirmed else 400


@bp.get("/sesja-wygasla")
def session_expired() -> Any:
    """Where an ended session lands: say so, say the answers are kept, offer to sign in again."""
    keep = {k: session[k] for k in ("lang",) if k in session}
    session.clear()
    session.update(keep)
    sessions.renew()
    return render_template("auth/expired.html", next=service.safe_next(request.args.get("next"), "/moje-sprawy"),
                           absolute=request.args.get("powod") == "czas",
                           max_hours=int(current_app.config["SESSION_MAX_HOURS"]))


@bp.post("/sesja/przedluz")
def extend() -> Any:
    if service.current_resident() is None and service.current_clerk() is None:
        return {"extended": False}, 401
    service.extend_session()
    return {"extended": True, "idle_seconds": int(current_app.config["SESSION_IDLE_MINUTES"]) * 60}


@bp.get("/urzad/logowanie")
@login_starts
def clerk_login() -> Any:
    session["after_clerk_login"] = service.safe_next(request.args.get("next"), "/urzad/")
    try:
        return _provider("clerk").authorize_redirect(_callback_url("auth.clerk_callback"))
    except (requests.RequestException, ValueError, AuthlibBaseError) as exc:
        return _error("provider_down", "clerk", str(exc), 503)


@bp.get("/urzad/logowanie/powrot")
def clerk_callback() -> Any:
    if request.args.get("error"):
        return _error("cancelled", "clerk", request.args.get("error", ""))
    try:
        token = _provider("clerk").authorize_access_token()
    except requests.RequestException as exc:
        return _error("provider_down", "clerk", str(exc), 503)
    except (AuthlibBaseError, JoseError, KeyError, ValueError) as exc:
        return _error("invalid_response", "clerk", f"{type(exc).__name__}: {exc}")
    claims = dict(token.get("userinfo") or {})
    target = service.safe_next(session.get("after_clerk_login"), "/urzad/")  # read before the session is renewed
    service.sign_in_clerk(current_app.config["CLERK_OIDC_ISSUER"], claims)
    return redirect(target)


class NewClerkForm(FlaskForm):
    """A clerk added before the first login; the office's provider must send the same login as
    `preferred_username`, which is how the first login finds this entry."""

    username = StringField(_l("Login w systemie logowania urzędu"), validators=[
        DataRequired(_l("Wpisz login pracownika w systemie logowania urzędu.")), Length(max=200)],
        description=_l("Ten sam, którym pracownik loguje się do komputera w urzędzie, np. m.wojcik."))
    name = StringField(_l("Imię i nazwisko"), validators=[
        DataRequired(_l("Wpisz imię i nazwisko pracownika.")), Length(max=200)])
    unit = SelectField(_l("Komórka"), default="", validators=[DataRequired(_l("Wybierz komórkę pracownika."))])
    email = StringField(_l("Adres e-mail (nieobowiązkowo)"), validators=[
        Optional(), Length(max=320),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Wpisz adres e-mail w formacie nazwa@domena.pl."))],
        description=_l("Na ten adres przychodzi codzienne zestawienie spraw z mijającym terminem."))


def _new_clerk_form(units: dict[str, str]) -> NewClerkForm:
    form = NewClerkForm(prefix="new")
    form.unit.choices = [("", _("— wybierz —"))] + [(code, f"{code} — {name}") for code, name in units.items()]
    return form


def _clerks_page(form: NewClerkForm, units: dict[str, str], code: int = 200) -> Any:
    return render_template("auth/clerks.html", clerks=service.clerks(), roles=service.ROLES, units=units,
                           new_form=form, new_roles=request.form.getlist("new-roles"),
                           errors=[(f.id, m) for f in form if f.errors for m in f.errors]), code


@bp.route("/urzad/admin/pracownicy", methods=["GET", "POST"])
@service.clerk_required_role("admin")
def clerks() -> Any:
    """Roles and units assigned in the portal, for offices whose identity provider does not send them."""
    units = portal_config.units(current_app.config)
    if request.method == "POST":
        clerk = db.session.get(Clerk, request.form.get("clerk", type=int))
        if clerk is None:
            return render_template("error.html", code=404), 404
        unit = request.form.get("unit") or None
        service.assign(clerk, request.form.getlist("roles"), unit if unit in units else None)
        return redirect(url_for("auth.clerks"))
    return _clerks_page(_new_clerk_form(units), units)


@bp.post("/urzad/admin/pracownicy/dodaj")
@service.clerk_required_role("admin")
def add_clerk() -> Any:
    """A clerk known before the first login, so that dekretacja can offer them at once."""
    units = portal_config.units(current_app.config)
    form = _new_clerk_form(units)
    if form.validate_on_submit():
        try:
            clerk = service.add_clerk(form.username.data, form.name.data, form.unit.data,
                                      request.form.getlist("new-roles"), (form.email.data or "").strip() or None)
        except service.ClerkExists:
            form.username.errors = [_("Pracownik o loginie %(username)s już jest na liście.",
                                      username=form.username.data.strip())]
        else:
            flash(_("Dodano pracownika %(name)s (%(username)s). Dekretacja już go proponuje; gdy zaloguje się "
                    "pierwszy raz, system logowania urzędu potwierdzi to konto.", name=clerk.display_name,
                    username=clerk.username), "success")
            return redirect(url_for("auth.clerks"))
    return _clerks_page(form, units, 400)


@bp.post("/urzad/wyloguj")
def clerk_logout() -> Any:
    session.clear()
    return redirect(url_for("desk.index"))
