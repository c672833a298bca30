"""Every endpoint of the portal, classified by who may use it, with an address built from real objects.

A new route fails `test_every_route_is_classified` until it is added here: whoever adds it decides
who may open it, and the access matrix and the CSRF sweep then check that decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tests.security.conftest import World

PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed-in"  # anyone with a session, resident or clerk
RESIDENT = "resident"  # any signed-in resident
RESIDENT_OWN = "resident-own"  # only the resident whose draft or case it is; others get 404
CLERK = "clerk"  # any clerk; what they see inside is limited by their unit
CLERK_UNIT = "clerk-unit"  # a parcel or case of unit OR: its clerks and the whole-office roles; others 404
ADMIN = "admin"  # the administrator; other clerks 403
MACHINE = "machine"  # back-office systems authenticating by signature, never by a session


@dataclass(frozen=True)
class Route:
    kind: str
    path: Callable[[World], str]
    ok: frozenset[int] = frozenset({200, 302, 204})  # what the allowed visitors may get
    last: bool = False  # ends the session: tried after everything else


def _(kind: str, path: Callable[[World], str], ok: set[int] | None = None, last: bool = False) -> Route:
    return Route(kind, path, frozenset(ok) if ok else Route.ok, last)


ROUTES: dict[str, Route] = {
    # pages anyone may read
    "forms.home": _(PUBLIC, lambda w: "/"),
    "pages.favicon": _(PUBLIC, lambda w: "/favicon.ico"),
    "forms.catalog": _(PUBLIC, lambda w: "/uslugi"),
    "forms.service_page": _(PUBLIC, lambda w: "/uslugi/pismo-ogolne"),
    "pages.accessibility": _(PUBLIC, lambda w: "/deklaracja-dostepnosci"),
    "pages.privacy": _(PUBLIC, lambda w: "/ochrona-danych"),
    "pages.health": _(PUBLIC, lambda w: "/health"),
    "static": _(PUBLIC, lambda w: "/static/style.css"),
    "stats.page": _(PUBLIC, lambda w: "/statystyki"),
    "stats.as_csv": _(PUBLIC, lambda w: "/statystyki.csv"),
    "stats.as_json": _(PUBLIC, lambda w: "/statystyki.json"),
    # the receipt id and access code from the UPO open the case's steps to anyone who holds them
    "status.lookup": _(PUBLIC, lambda w: "/sprawdz-sprawe"),
    "receipts.page": _(PUBLIC, lambda w: f"/weryfikacja?upo={w.receipt_id}&kod={w.access_code}"),
    "receipts.download": _(PUBLIC, lambda w: f"/weryfikacja/{w.receipt_id}/upo.xml?kod={w.access_code}"),
    "receipts.api_lookup": _(PUBLIC, lambda w: f"/api/upo/{w.receipt_id}?kod={w.access_code}"),
    "receipts.api_check": _(PUBLIC, lambda w: "/api/upo/weryfikacja", ok={400}),
    "status.api_lookup": _(PUBLIC, lambda w: f"/api/sprawy/sprawdz?upo={w.receipt_id}&kod={w.access_code}"),
    "api.openapi_json": _(PUBLIC, lambda w: "/api/openapi.json"),
    "api.openapi_yaml": _(PUBLIC, lambda w: "/api/openapi.yaml"),
    # for the load balancer and Prometheus: no session needed or used (/metrics checks the peer's network)
    "ops.ready": _(PUBLIC, lambda w: "/ready"),
    "ops.metrics_page": _(PUBLIC, lambda w: "/metrics"),
    # signing in and out
    "auth.login": _(PUBLIC, lambda w: "/logowanie"),
    "auth.callback": _(PUBLIC, lambda w: "/logowanie/powrot", ok={400}),
    "auth.clerk_login": _(PUBLIC, lambda w: "/urzad/logowanie"),
    "auth.clerk_callback": _(PUBLIC, lambda w: "/urzad/logowanie/powrot", ok={400}),
    "auth.session_expired": _(PUBLIC, lambda w: "/sesja-wygasla", last=True),
    "auth.extend": _(SIGNED_IN, lambda w: "/sesja/przedluz"),
    "auth.logout": _(PUBLIC, lambda w: "/wyloguj", last=True),
    "auth.clerk_logout": _(PUBLIC, lambda w: "/urzad/wyloguj", last=True),
    # a resident's own pages
    "status.cases": _(RESIDENT, lambda w: "/moje-sprawy"),
    "auth.account": _(RESIDENT, lambda w: "/konto"),
    "auth.notices": _(RESIDENT, lambda w: "/konto/powiadomienia"),
    "auth.confirm_email": _(RESIDENT, lambda w: "/konto/potwierdz/nieprawidlowy-token", ok={400}),
    # resident A's own session, listed on "Moje konto": only A may end it (it is A's only one: tried last)
    "auth.end_session": _(RESIDENT_OWN, lambda w: f"/konto/sesje/{w.session_id}/zakoncz", last=True),
    "forms.start": _(RESIDENT, lambda w: "/uslugi/pismo-ogolne/rozpocznij"),
    "forms.open_drafts": _(RESIDENT, lambda w: "/uslugi/pismo-ogolne/rozpoczete"),
    # resident A's draft
    "forms.step": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/krok/pismo"),
    "forms.review": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podsumowanie"),
    "forms.preview": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podglad.pdf"),
    "forms.discard": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/usun"),
    "signing.choose": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podpis"),
    "signing.document": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podpis/dokument.xml"),
    "signing.cancelled": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podpis/anulowano"),
    # never handed to TpSigning5: "not signed yet" (409) is the owner's answer
    "signing.returned": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podpis/powrot", ok={409}),
    "signing.trusted_profile": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podpis/profil-zaufany"),
    "signing.qualified": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podpis/kwalifikowany"),
    "signing.retry": _(RESIDENT_OWN, lambda w: f"/wnioski/{w.draft_id}/podpis/ponow"),
    # resident A's filed case
    "status.case": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}"),
    "inbox.upo_xml": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/upo.xml"),
    "inbox.upo_pdf": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/upo.pdf"),
    "inbox.document": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/dokument.xml"),
    "inbox.detached_signature": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/podpis.xades"),
    "status.letter": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/pisma/{w.letter_id}"),
    "status.letter_upd": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/pisma/{w.letter_id}/upd.xml"),
    "status.letter_evidence": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/pisma/{w.letter_id}/dowody/"
                                                        f"{w.evidence_id}"),
    "status.reminder": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/ponaglenie"),
    "status.supplement": _(RESIDENT_OWN, lambda w: f"/moje-sprawy/{w.submission_id}/uzupelnij"),
    # the desk: lists for every clerk (filtered by unit inside)
    "desk.index": _(CLERK, lambda w: "/urzad/"),
    "desk.cases": _(CLERK, lambda w: "/urzad/sprawy"),
    "desk.register_csv": _(CLERK, lambda w: "/urzad/rejestr.csv"),
    # unit OR's parcel and case
    "desk.parcel": _(CLERK_UNIT, lambda w: f"/urzad/rpw/{w.parcel_id}"),
    "desk.parcel_file": _(CLERK_UNIT, lambda w: f"/urzad/rpw/{w.parcel_id}/dokument.xml"),
    "desk.attachment": _(CLERK_UNIT, lambda w: f"/urzad/rpw/{w.parcel_id}/zalaczniki/{w.attachment_sha256}"),
    "desk.assign": _(CLERK_UNIT, lambda w: f"/urzad/rpw/{w.parcel_id}/dekretacja"),
    "desk.attach": _(CLERK_UNIT, lambda w: f"/urzad/rpw/{w.parcel_id}/dolacz"),
    "desk.register_case": _(CLERK_UNIT, lambda w: f"/urzad/rpw/{w.parcel_id}/sprawa"),
    "desk.case": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}"),
    "desk.case_file": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/akta.zip"),
    "desk.letter_file": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/pisma/{w.letter_id}"),
    "desk.letter_upd": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/pisma/{w.letter_id}/upd.xml"),
    "desk.letter_evidence": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/pisma/{w.letter_id}/dowody/"
                                                    f"{w.evidence_id}"),
    "desk.send_letter": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/pismo"),
    "desk.change_status": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/stan"),
    "desk.request_supplement": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/wezwanie"),
    "desk.close_case": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/zakoncz"),
    "desk.notify_delay": _(CLERK_UNIT, lambda w: f"/urzad/sprawy/{w.case_id}/zwloka"),
    # administration
    "admin.deliveries": _(ADMIN, lambda w: "/urzad/admin/przekazania"),
    "admin.resend": _(ADMIN, lambda w: f"/urzad/admin/przekazania/{w.outbox_message_id}/ponow"),
    "auth.clerks": _(ADMIN, lambda w: "/urzad/admin/pracownicy"),
    "auth.add_clerk": _(ADMIN, lambda w: "/urzad/admin/pracownicy/dodaj"),
    # machine to machine: the WSDL and its imports are public documents, the calls need a signature
    "epuap_pull.wsdl": _(PUBLIC, lambda w: "/epuap/ws/pull?wsdl"),
    "epuap_pull.imported": _(PUBLIC, lambda w: "/epuap/ws/obiektypk.xsd"),
    "epuap_pull.pull": _(MACHINE, lambda w: "/epuap/ws/pull"),
    "inbound_events.receive": _(MACHINE, lambda w: "/api/zdarzenia"),
    # a hint from e-Doręczenia, believed for nothing: a well-formed one only brings the next poll forward
    "edoreczenia.notification": _(MACHINE, lambda w: "/edoreczenia/powiadomienia"),
}

# POST endpoints that do not take the CSRF token, and why. Each authenticates without cookies, so a
# forged cross-site request has nothing to ride on. Anything else that changes state needs the token.
CSRF_EXEMPT = {
    "inbound_events.receive": "case events from the back office: HMAC-SHA256 over the body (PORTAL_WEBHOOK_SECRET)",
    "epuap_pull.pull": "an EZD pulling documents: WS-Security signature by a registered certificate",
    "edoreczenia.notification": "e-Doręczenia's notification: only its shape is read, and it only makes the "
                                "worker ask the service sooner (the signed evidence it then fetches is what counts)",
    "receipts.api_check": "public receipt check: reads only the uploaded files, never the session",
    "status.api_lookup": "public case look-up by receipt id and access code: reads only what is sent, never the "
                         "session",
}

# What each visitor gets, by kind. "ok": served; "login"/"desk_login": sent to the residents' or the
# office's login; "hidden": 404, so nobody learns that another person's object exists; "forbidden": 403,
# a clerk page for another role; "unauthorized": 401 (a JSON endpoint); "refused": no session opens it.
EXPECTED: dict[str, dict[str, str]] = {
    PUBLIC: dict.fromkeys(("anonymous", "resident_a", "resident_b", "clerk_own_unit", "clerk_other_unit", "admin"),
                          "ok"),
    SIGNED_IN: {"anonymous": "unauthorized", "resident_a": "ok", "resident_b": "ok", "clerk_own_unit": "ok",
                "clerk_other_unit": "ok", "admin": "ok"},
    RESIDENT: {"anonymous": "login", "resident_a": "ok", "resident_b": "ok", "clerk_own_unit": "login",
               "clerk_other_unit": "login", "admin": "login"},
    RESIDENT_OWN: {"anonymous": "login", "resident_a": "ok", "resident_b": "hidden", "clerk_own_unit": "login",
                   "clerk_other_unit": "login", "admin": "login"},
    CLERK: {"anonymous": "desk_login", "resident_a": "desk_login", "resident_b": "desk_login",
            "clerk_own_unit": "ok", "clerk_other_unit": "ok", "admin": "ok"},
    CLERK_UNIT: {"anonymous": "desk_login", "resident_a": "desk_login", "resident_b": "desk_login",
                 "clerk_own_unit": "ok", "clerk_other_unit": "hidden", "admin": "ok"},
    ADMIN: {"anonymous": "desk_login", "resident_a": "desk_login", "resident_b": "desk_login",
            "clerk_own_unit": "forbidden", "clerk_other_unit": "forbidden", "admin": "ok"},
    MACHINE: dict.fromkeys(("anonymous", "resident_a", "resident_b", "clerk_own_unit", "clerk_other_unit", "admin"),
                           "refused"),
}
