"""Who is signed in: residents from the residents' OpenID provider, clerks from the office's."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy import func, select

from portal.audit import service as audit
from portal.audit.models import AuditEntry
from portal.auth import pii, sessions
from portal.auth.models import Clerk, Resident
from portal.db_types import utcnow
from portal.extensions import db

F = TypeVar("F", bound=Callable[..., Any])


class IdentityRefused(Exception):
    """The provider's answer cannot establish who the person is; `code` names why for the error page."""

    def __init__(self, code: str, detail: str = "") -> None:
        self.code = code
        super().__init__(f"{code}: {detail}" if detail else code)


# The office's roles: what each may do is decided where it is used (the desk, the admin pages).
ROLES = {
    "clerk": _l("Pracownik merytoryczny"),
    "registry_clerk": _l("Pracownik kancelarii"),
    "head_of_unit": _l("Kierownik komórki"),
    "admin": _l("Administrator"),
    "catalog_admin": _l("Administrator katalogu e-usług"),
}


def clerk_required_role(role: str) -> Callable[[F], F]:
    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            clerk = current_clerk()
            if clerk is None:
                return redirect(url_for("auth.clerk_login", next=_return_address()))
            if role not in clerk.roles:
                from flask import abort

                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def assign(clerk: Clerk, roles: list[str], unit: str | None) -> None:
    """An administrator's assignment; recorded in the audit log with the before and after."""
    before = {"roles": clerk.assigned_roles, "unit": clerk.assigned_unit}
    clerk.assigned_roles = sorted(r for r in roles if r in ROLES)
    clerk.assigned_unit = unit or None
    audit.record("clerk.roles_assigned", "clerk", str(clerk.id), before=before,
                 after={"roles": clerk.assigned_roles, "unit": clerk.assigned_unit})
    db.session.commit()


def rotate_pii_key() -> int:
    """Re-encrypt every PESEL and rebuild its index under PORTAL_PII_KEY (the old key in PII_KEY_PREVIOUS)."""
    count = 0
    for resident in db.session.scalars(select(Resident)):
        pesel = pii.decrypt(resident.pesel_encrypted)
        resident.pesel_encrypted = pii.encrypt(pesel)
        resident.pesel_index = pii.blind_index(pesel)
        count += 1
    audit.record("keys.pii_rotated", "resident", None, actor=("system", None), residents=count)
    db.session.commit()
    return count


def clerks() -> list[Clerk]:
    return list(db.session.scalars(select(Clerk).order_by(Clerk.display_name)))


# --- clerks known before they first sign in ---------------------------------------------------------------
#
# Dekretacja offers a unit's clerks, so the desk must know them before their first login: an administrator
# adds them (`add_clerk`) or the office's directory is imported (`import_directory`). Such a row has no
# subject; the first login claims it by its username — the office directory's login, which the provider sends
# as `preferred_username` — and from then on the login finds it by its subject. A row already claimed is never
# matched by username again, so a second account with the same username gets a row of its own.


class ClerkExists(ValueError):
    """A clerk with this username is already known (compared without regard to letter case)."""


def clerk_by_username(username: str) -> Clerk | None:
    return db.session.scalar(select(Clerk).where(func.lower(Clerk.username) == username.strip().lower())
                             .order_by(Clerk.id).limit(1))


def add_clerk(username: str, display_name: str, unit: str, roles: list[str], email: str | None = None) -> Clerk:
    """An administrator's entry for a clerk who has not signed in yet. The unit and roles given are the
    administrator's assignment: they stay beside whatever the identity provider later claims."""
    username = username.strip()
    if clerk_by_username(username) is not None:
        raise ClerkExists(username)
    clerk = Clerk(subject=None, username=username, display_name=display_name.strip(), email=email or None,
                  claimed_roles=[], assigned_roles=sorted(r for r in roles if r in ROLES), assigned_unit=unit)
    db.session.add(clerk)
    db.session.flush()
    audit.record("clerk.added", "clerk", str(clerk.id), username=username, roles=clerk.assigned_roles, unit=unit)
    db.session.commit()
    return clerk


@dataclass
class DirectoryReport:
    added: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def import_directory(entries: Iterable[dict[str, Any]], units: Collection[str] | None = None,
                     first_line: int = 1) -> DirectoryReport:
    """Load the office's directory: per clerk `username`, `name`, `unit`, `roles` (a list) and `email`.

    The directory speaks for the identity provider: the name, unit, roles and e-mail are set as the
    provider's claims would set them at a login (and every login sets them again); roles an administrator
    assigned are kept. A clerk already known (by username) is updated, never duplicated. Entries with a fault
    are skipped and named in the report by their position (`first_line` for the first entry)."""
    report = DirectoryReport()
    for line, entry in enumerate(entries, start=first_line):
        username = str(entry.get("username") or "").strip()
        name = " ".join(str(entry.get("name") or "").split())
        unit = str(entry.get("unit") or "").strip() or None
        roles = [str(r) for r in entry.get("roles") or []]
        email = str(entry.get("email") or "").strip() or None
        unknown = [r for r in roles if r not in ROLES]
        if not username:
            report.errors.append(f"line {line}: no username")
        elif not name:
            report.errors.append(f"line {line}: no name for {username}")
        elif units is not None and unit is not None and unit not in units:
            report.errors.append(f"line {line}: unknown unit {unit!r} for {username}")
        elif unknown:
            report.errors.append(f"line {line}: unknown role {unknown[0]!r} for {username}"
                                 f" (known: {', '.join(ROLES)})")
        else:
            clerk = clerk_by_username(username)
            if clerk is None:
                clerk = Clerk(subject=None, username=username, assigned_roles=[])
                db.session.add(clerk)
                report.added += 1
            else:
                report.updated += 1
            clerk.display_name, clerk.unit, clerk.claimed_roles, clerk.email = name, unit, sorted(set(roles)), email
    audit.record("clerk.directory_imported", "clerk", None, actor=("system", None), added=report.added,
                 updated=report.updated, refused=len(report.errors))
    db.session.commit()
    return report


# eIDAS levels of assurance, in increasing order (login.gov.pl asks for substantial at least).
LEVELS = {
    "low": "http://eidas.europa.eu/LoA/low",
    "substantial": "http://eidas.europa.eu/LoA/substantial",
    "high": "http://eidas.europa.eu/LoA/high",
}


def level_satisfied(acr: str | None, required: str | None) -> bool:
    """Whether the login's level (`acr`) is at least the `required` one (a key of LEVELS)."""
    if not required:
        return True
    order = list(LEVELS.values())
    return acr in order and order.index(acr) >= order.index(LEVELS[required])


def login_age_seconds() -> float:
    login_at = session.get("login_at")
    if not login_at:
        return float("inf")
    return (utcnow() - datetime.fromisoformat(login_at)).total_seconds()


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this portal may be a return address: no scheme, no host, no `//`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def _claim(claims: dict[str, Any], setting: str) -> Any:
    return claims.get(current_app.config[setting])


def resident_from_claims(claims: dict[str, Any]) -> Resident:
    """Create or update the resident named by the ID token's claims; PESEL is required and checked."""
    pesel = str(_claim(claims, "RESIDENT_CLAIM_PESEL") or "").strip()
    if pesel.upper().startswith("PL/PL/"):  # eIDAS PersonIdentifier form: country/country/number
        pesel = pesel[6:]
    if not pii.is_valid_pesel(pesel):
        raise IdentityRefused("missing_pesel", "the identity provider did not send a valid PESEL")
    given = _claim(claims, "RESIDENT_CLAIM_GIVEN_NAME")
    family = _claim(claims, "RESIDENT_CLAIM_FAMILY_NAME")
    if not given or not family:
        raise IdentityRefused("missing_name", "the identity provider did not send the resident's name")
    birth = _claim(claims, "RESIDENT_CLAIM_BIRTH_DATE")
    address = _claim(claims, "RESIDENT_CLAIM_ADDRESS")

    index = pii.blind_index(pesel)
    resident = db.session.scalar(select(Resident).where(Resident.pesel_index == index))
    old_index = pii.previous_index(pesel)
    if resident is None and old_index:
        # Signed in during a key rotation, before `okienko keys rotate-pii` reached this resident.
        resident = db.session.scalar(select(Resident).where(Resident.pesel_index == old_index))
        if resident is not None:
            resident.pesel_index, resident.pesel_encrypted = index, pii.encrypt(pesel)
    if resident is None:
        resident = Resident(pesel_index=index, pesel_encrypted=pii.encrypt(pesel))
        db.session.add(resident)
    resident.given_name = str(given)
    resident.family_name = str(family)
    try:
        resident.birth_date = date.fromisoformat(str(birth)) if birth else None
    except ValueError:
        resident.birth_date = None
    resident.address = address if isinstance(address, dict) else None
    resident.last_login_at = utcnow()
    resident.last_acr = claims.get("acr")
    db.session.flush()
    return resident


def clerk_from_claims(issuer: str, claims: dict[str, Any]) -> Clerk:
    subject = f"{issuer}#{claims['sub']}"
    username = str(claims.get("preferred_username") or claims["sub"])
    clerk = db.session.scalar(select(Clerk).where(Clerk.subject == subject))
    if clerk is None:  # the first login: an administrator or the directory may have known the clerk already
        clerk = db.session.scalar(select(Clerk).where(Clerk.subject.is_(None),
                                                      func.lower(Clerk.username) == username.lower())
                                  .order_by(Clerk.id).limit(1))
        if clerk is not None:
            clerk.subject = subject
            audit.record("clerk.first_login", "clerk", str(clerk.id), actor=("clerk", str(clerk.id)),
                         username=username)
    if clerk is None:
        clerk = Clerk(subject=subject)
        db.session.add(clerk)
    clerk.username = username
    clerk.display_name = str(claims.get("name") or clerk.username)
    email = claims.get("email")
    clerk.email = str(email) if email and claims.get("email_verified", True) else None
    clerk.unit = claims.get(current_app.config["CLERK_CLAIM_UNIT"])
    roles = claims.get(current_app.config["CLERK_CLAIM_ROLES"]) or []
    claimed = [str(r) for r in roles] if isinstance(roles, list) else [str(roles)]
    clerk.claimed_roles = [r for r in claimed if r in ROLES]
    clerk.last_login_at = utcnow()
    db.session.flush()
    return clerk


def sign_in_resident(claims: dict[str, Any]) -> Resident:
    """The resident named by the identity provider's claims, in a fresh session; the login is audited.
    Raises IdentityRefused (nothing stored) when the claims do not name a resident."""
    resident = resident_from_claims(claims)
    # The ID token is not kept: it carries the PESEL, and logout names the portal by client_id instead.
    start_session(resident_id=resident.id, acr=claims.get("acr"))
    audit.record("resident.login", "resident", str(resident.id), actor=("resident", str(resident.id)),
                 acr=claims.get("acr"), authority=claims.get("AuthenticatingAuthority"))
    db.session.commit()
    return resident


def sign_in_clerk(issuer: str, claims: dict[str, Any]) -> Clerk:
    """The clerk named by the office's identity provider, in a fresh session; the login is audited."""
    clerk = clerk_from_claims(issuer, claims)
    start_session(clerk_id=clerk.id)
    audit.record("clerk.login", "clerk", str(clerk.id), actor=("clerk", str(clerk.id)), roles=clerk.roles)
    db.session.commit()
    return clerk


def record_logout(resident_id: int) -> None:
    """Audit a resident's logout (the session itself ends with the cleared cookie session)."""
    audit.record("resident.logout", "resident", str(resident_id), actor=("resident", str(resident_id)))
    db.session.commit()


def set_case_notices(resident: Resident, wanted: bool) -> None:
    """Whether the resident is e-mailed when one of their cases changes."""
    resident.notify_case_changes = wanted
    audit.record("resident.notices", "resident", str(resident.id), case_changes=resident.notify_case_changes)
    db.session.commit()


def start_session(**values: Any) -> None:
    """A fresh session at every login, under a fresh id, so nothing planted before it survives (no fixation)."""
    keep = {k: session[k] for k in ("lang",) if k in session}
    session.clear()
    session.update(keep)
    session["login_at"] = utcnow().isoformat()
    session.update(values)
    sessions.renew()


def current_resident() -> Resident | None:
    if "resident" not in g:
        resident_id = session.get("resident_id")
        g.resident = db.session.get(Resident, resident_id) if resident_id else None
    return g.resident


def current_clerk() -> Clerk | None:
    if "clerk" not in g:
        clerk_id = session.get("clerk_id")
        g.clerk = db.session.get(Clerk, clerk_id) if clerk_id else None
    return g.clerk


def resident_pesel(resident: Resident) -> str:
    return pii.decrypt(resident.pesel_encrypted)


def _return_address() -> str:
    """Where to come back after signing in: this page, or for a form post the page that holds the form."""
    if request.method == "GET":
        return request.full_path.rstrip("?")
    referrer = urlsplit(request.referrer or "")
    if referrer.netloc == request.host:
        return safe_next(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
    return "/"


def resident_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_resident() is None:
            expired = session.pop("expired", False)
            if expired:
                reason = {"powod": "czas"} if expired == "absolute" else {}
                return redirect(url_for("auth.session_expired", next=_return_address(), **reason))
            return redirect(url_for("auth.login", next=_return_address()))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def clerk_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_clerk() is None:
            return redirect(url_for("auth.clerk_login", next=_return_address()))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


ExpiryHook = Callable[[int], None]
_expiry_hooks: list[ExpiryHook] = []


def on_session_expiry(hook: ExpiryHook) -> ExpiryHook:
    """Register what must be kept when a resident's session ends during a post (their typed answers)."""
    _expiry_hooks.append(hook)
    return hook


def enforce_idle_timeout() -> None:
    """Runs before every request: a session past its idle or absolute limit has ended here.

    The session store finds it ended the moment the session is first read (portal/auth/sessions.py) and
    gives it a fresh id with nobody signed in. If it ended on a form post, the registered hooks keep what
    was posted first, so an expired session never costs the resident the answers they were sending
    (WCAG 2.2.1).
    """
    if request.endpoint == "static":
        return
    ended = sessions.lapsed()
    if ended is None:
        sessions.mark_active()
        return
    if ended.resident_id and request.method == "POST":
        for hook in _expiry_hooks:
            hook(int(ended.resident_id))
    g.pop("resident", None)
    g.pop("clerk", None)


def extend_session() -> None:
    sessions.mark_active(extend=True)


def identify_actor() -> None:
    """Runs before every request: the audit log's idea of who is acting."""
    clerk_id = session.get("clerk_id")
    resident_id = session.get("resident_id")
    if request.blueprint == "desk" and clerk_id:
        g.actor = ("clerk", str(clerk_id))
    elif resident_id:
        g.actor = ("resident", str(resident_id))
    elif clerk_id:
        g.actor = ("clerk", str(clerk_id))


_EMAIL_SALT = "okienko e-mail confirmation"


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_EMAIL_SALT)


def request_email(resident: Resident, email: str, confirm_url: Callable[[str], str]) -> None:
    """Remember the address unconfirmed and send it a confirmation link; notices wait for the click."""
    from portal.notify import mail

    resident.email = email
    resident.email_confirmed_at = None
    token = _serializer().dumps({"r": resident.id, "e": email})
    audit.record("resident.email_requested", "resident", str(resident.id))
    db.session.commit()
    mail.send(email, "Potwierdź adres e-mail w portalu Okienko",
              "Dzień dobry,\n\nten adres podano w portalu e-usług Urzędu Miasta Leszna jako adres do powiadomień.\n"
              f"Aby go potwierdzić, otwórz w ciągu 48 godzin:\n{confirm_url(token)}\n\n"
              "Jeśli to nie Ty, zignoruj tę wiadomość.\n")


def confirm_email(resident: Resident, token: str) -> bool:
    try:
        data = _serializer().loads(token, max_age=48 * 3600)
    except BadData:
        return False
    if data.get("r") != resident.id or data.get("e") != resident.email:
        return False
    resident.email_confirmed_at = utcnow()
    audit.record("resident.email_confirmed", "resident", str(resident.id))
    db.session.commit()
    return True


def recent_logins(resident: Resident, limit: int = 10) -> list[AuditEntry]:
    return list(db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "resident.login", AuditEntry.object_id == str(resident.id))
        .order_by(AuditEntry.at.desc()).limit(limit)
    ))


def refuse(code: str, who: str, detail: str = "") -> None:
    """Record a refused login in the audit log (its own transaction: the refusal must stay on record)."""
    db.session.rollback()
    audit.record("login.refused", "login", None, actor=("anonymous", None), who=who, reason=code, detail=detail[:300])
    db.session.commit()


def resident_by_pesel(pesel: str) -> Resident | None:
    """The resident whose account this PESEL is (by its blind index, or the one before a key rotation)."""
    if not pii.is_valid_pesel(pesel):
        return None
    found = db.session.scalar(select(Resident).where(Resident.pesel_index == pii.blind_index(pesel)))
    old_index = pii.previous_index(pesel)
    if found is None and old_index:
        found = db.session.scalar(select(Resident).where(Resident.pesel_index == old_index))
    return found
