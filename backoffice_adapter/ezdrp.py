"""`ezdrp`: each parcel registered in EZD RP's incoming register (RPW) through its Integrator API v2.

The contract is `backoffice_adapter/contracts/ezdrp-integrator-api-v2.json`; every call carries `Authorization:
Bearer <PORTAL_EZDRP_TOKEN>` and `SID: <PORTAL_EZDRP_SID>` (the workstation Okienko acts as). A
delivery is, in this order (docs/backoffice-ezdrp.md):

1. `POST /rpw/_search`: is the parcel registered already? (the idempotency check, see `_registered`)
2. `POST /dokumenty/_search`: did an earlier attempt get part of the way? (see `_half_made`)
3. `POST /obiegi` (multipart, the signed XML) and `GET /obiegi/{idObieg}/dokumenty`: the document
4. `POST /dokumenty/{id}/rpw`: the RPW entry, `numerRpw` = `RPW/{numer}/{rok}`
5. `GET /rpw/{numer}/{rok}/metadane`, then `POST /rpw/{numer}/{rok}/zalaczniki` (multipart, one file
   a call) for the UPO, a detached signature and each attachment not attached yet
6. `PUT /rpw/{numer}/{rok}/metadane`: filing time, channel, remarks and `numerNadawczy` = the UPO id,
   which marks the parcel complete, so it comes last

Case events are polled (`fetch_events`): the RPW entry's linked case (`POST /rpw/_search`), the case
(`GET /sprawy/{idSprawa}`) or, before there is one, the entry's assignment (`GET /rpw/…/metadane`).
5xx, 408, 429, time-outs and refused credentials (401/403) are retried; any other 4xx means EZD RP
refused the request as it is.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import requests

from backoffice_adapter.base import (
    BackOfficeAdapter,
    CaseUpdate,
    DeliveredParcel,
    DeliveryError,
    DeliveryReceipt,
    Envelope,
    PermanentDeliveryError,
    register,
)
from portal.config import units

log = logging.getLogger(__name__)

API = "/ezdrp/integrator/v2"
WARSAW = ZoneInfo("Europe/Warsaw")
RETRIED_CLIENT_ERRORS = {408, 425, 429}
RPW_NUMBER = re.compile(r"(?:RPW\s*/\s*)?(\d+)\s*/\s*(\d{4})", re.IGNORECASE)
# A Bearer token is a b64token (RFC 6750 §2.1); the workstation id goes into a header as it is.
TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
WORKSTATION = re.compile(r"[!-~]{1,200}")

# The case statuses of `GET /sprawy/{idSprawa}` (`statusEnum`) the resident's timeline can show. The
# archive and disposal states (7, 8, 12–18) come only after a case was closed; 0 (all), 6 (re-registered
# under another znak) and 11 (a search filter) say nothing about how the case stands.
CASE_STATUSES = {1: "in_progress", 2: "postponed", 3: "suspended", 4: "closed", 5: "resumed",
                 7: "closed", 8: "closed", 12: "closed", 13: "closed", 14: "closed", 16: "closed", 17: "closed",
                 18: "closed"}
# Which entry of the office's delivery-method dictionary fits a parcel from Okienko, best first: a value
# the office named after the portal, else the ePUAP one, else any electronic one.
DELIVERY_METHOD_WORDS = ("okienko", "epuap", "elektroniczn")
DOCUMENT_TYPE_WORDS = ("elektroniczn",)


def rpw_number(value: str) -> tuple[str, str]:
    """`(numer, rok)` from an RPW number as EZD RP writes it (`RPW/12/2026`, also `12/2026`)."""
    match = RPW_NUMBER.fullmatch(str(value).strip())
    if match is None:
        raise ValueError(f"{value!r} is not an RPW number (RPW/<numer>/<rok>)")
    return str(int(match.group(1))), match.group(2)


def _file_name(text: str, limit: int = 150) -> str:
    """A file name EZD RP and the clerks' Windows machines accept, keeping Polish letters."""
    cleaned = re.sub(r'[\x00-\x1f<>:"/\\|?*]', "_", text)
    cleaned = re.sub(r"\s+", " ", cleaned).strip(" .")
    return cleaned[:limit].rstrip(" .") or "pismo"


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def _event_id(*parts: object) -> str:
    """A deterministic event id from EZD's own identifiers; hashed when it would pass the 120-character limit."""
    text = ":".join(str(p) for p in parts)
    return text if len(text) <= 120 else f"ezd:{hashlib.sha256(text.encode()).hexdigest()}"


def _time(value: Any) -> datetime | None:
    """A time EZD RP gave (ISO 8601; without an offset it is the office's local time), in UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=WARSAW)
    return moment.astimezone(UTC)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _problem(response: requests.Response) -> str:
    """The server's own explanation from a problem+json answer (title, detail, invalid parameters)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500].strip() or response.reason or ""
    if not isinstance(body, dict):
        return str(body)[:500]
    parts = [str(body[k]) for k in ("title", "detail", "message") if body.get(k)]
    for item in body.get("invalid-params") or []:
        if isinstance(item, dict):
            parts.append(f"{item.get('name')}: {item.get('reason')}")
    if body.get("errorId"):
        parts.append(f"errorId {body['errorId']}")
    return "; ".join(parts)[:500]


def _file_names(found: Iterable[Any]) -> set[str]:
    """The names of files already attached, with and without their extension (EZD may drop it)."""
    names: set[str] = set()
    for item in found:
        if isinstance(item, dict) and _text(item.get("nazwa")):
            names.update({item["nazwa"].strip(), _stem(item["nazwa"].strip())})
    return names


@register("ezdrp")
class EzdRpAdapter(BackOfficeAdapter):
    polls_events = True
    _sessions: dict[str, requests.Session] = {}  # one connection pool per worker process and EZD RP

    def check_config(self) -> None:
        url = str(self.config.get("EZDRP_URL") or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("PORTAL_EZDRP_URL must be the http(s) address of EZD RP, e.g. https://ezd.leszno.pl")
        if "/ezdrp/integrator" in parts.path or parts.query or parts.fragment:
            raise ValueError(f"PORTAL_EZDRP_URL must end before {API} (Okienko adds the API path itself)")
        token = str(self.config.get("EZDRP_TOKEN") or "").strip()
        if not token:
            raise ValueError("PORTAL_EZDRP_TOKEN is missing: the token the EZD RP administrator issued to Okienko")
        if token.lower().startswith("bearer "):
            raise ValueError("PORTAL_EZDRP_TOKEN must be the token alone, without the word Bearer")
        if not TOKEN.fullmatch(token):
            raise ValueError("PORTAL_EZDRP_TOKEN has characters a Bearer token cannot have (spaces, line breaks …)")
        if not WORKSTATION.fullmatch(str(self.config.get("EZDRP_SID") or "").strip()):
            raise ValueError("PORTAL_EZDRP_SID must be the id of the EZD RP workstation (stanowisko) Okienko acts as:"
                             " 1–200 printable characters without spaces")
        try:
            timeout = float(self.config.get("EZDRP_TIMEOUT", 20))
        except (TypeError, ValueError):
            timeout = 0
        if timeout <= 0:
            raise ValueError("PORTAL_EZDRP_TIMEOUT must be a positive number of seconds")

    # -- talking to EZD RP ------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        url = str(self.config["EZDRP_URL"]).strip().rstrip("/")
        if url not in self._sessions:
            self._sessions[url] = requests.Session()
        return self._sessions[url]

    def _call(self, method: str, path: str, *, json: Any = None,
              files: list[tuple[str, tuple[str, bytes, str]]] | None = None) -> dict[str, Any]:
        """One request to the API; the answer's JSON (an empty dict when there is none). Raises DeliveryError."""
        url = str(self.config["EZDRP_URL"]).strip().rstrip("/") + API + path
        headers = {"Authorization": f"Bearer {str(self.config['EZDRP_TOKEN']).strip()}",
                   "SID": str(self.config["EZDRP_SID"]).strip()}
        try:
            response = self._session().request(method, url, json=json, files=files, headers=headers,
                                               timeout=float(self.config.get("EZDRP_TIMEOUT", 20)))
        except requests.RequestException as exc:
            raise DeliveryError(f"EZD RP did not answer {method} {path}: {exc}") from exc
        status = response.status_code
        if status in (401, 403):
            raise DeliveryError(f"EZD RP refused Okienko's credentials ({status}) for {method} {path}: an "
                                "administrator must check PORTAL_EZDRP_TOKEN (valid, not expired) and PORTAL_EZDRP_SID "
                                f"(a workstation holding the permissions this needs). {_problem(response)}".strip())
        if status >= 500 or status in RETRIED_CLIENT_ERRORS:
            raise DeliveryError(f"EZD RP answered {status} to {method} {path}: {_problem(response)}")
        if status >= 400:
            raise PermanentDeliveryError(f"EZD RP refused {method} {path} ({status}): {_problem(response)}")
        if status == 204 or not response.content:
            return {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):  # every answer the contract describes is an object
            raise DeliveryError(f"EZD RP answered {method} {path} with something other than a JSON object")
        return body

    # -- delivering -------------------------------------------------------------------------------

    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        """Register the parcel in the RPW with its UPO and attachments; a repeated call finishes or finds it."""
        self.check_config()
        # The idempotency key is the UPO id (`receipt_id`): one per submission, unique in our database, printed on
        # the resident's receipt, so a clerk can match it too. It is carried in the document's name (set on the
        # first call, so even a half-made parcel can be found) and in the RPW entry's `numerNadawczy`, the
        # "sending number" a carrier gives a parcel, which is what Okienko is to this one (set on the last call).
        key = envelope.receipt_id
        entry = self._registered(key)
        if entry is not None:
            number, year = self._number(entry.get("numerRPW"))
            return self._receipt(number, year, entry.get("idPismo"), None)
        name = f"{_file_name(envelope.service_title)} ({key}).xml"
        document_id, registered_as = self._half_made(key, _stem(name))
        if document_id is None:
            document_id = self._create_document(name, envelope.document, key)
        if registered_as:
            number, year = self._number(registered_as)
        else:
            answer = self._call("POST", f"/dokumenty/{quote(document_id, safe='')}/rpw", json={})
            number, year = self._number(answer.get("numerRpw"))
            log.info("submission %s registered in EZD RP as RPW/%s/%s", envelope.submission_id, number, year)
        entry_path = f"/rpw/{quote(number, safe='')}/{quote(year, safe='')}"
        current = self._call("GET", f"{entry_path}/metadane")
        attached = _file_names(current.get("zalaczniki") or [])
        for file_name, media_type, content in self._files(envelope):
            if file_name not in attached and _stem(file_name) not in attached:
                self._call("POST", f"{entry_path}/zalaczniki", files=[("file", (file_name, content, media_type))])
        system = (current.get("metadane") or {}).get("metadaneSystemowe") or {}
        if system.get("numerNadawczy") != key:
            self._call("PUT", f"{entry_path}/metadane", json=self._metadata(envelope, current))
        return self._receipt(number, year, current.get("idPismo"), document_id)

    def _registered(self, key: str) -> dict[str, Any] | None:
        """The RPW entry completed for this key, searched register-wide (it may have moved on from our workstation).

        A deleted entry counts: a clerk removed it on purpose, and registering it again would undo that.
        """
        answer = self._call("POST", "/rpw/_search", json={"searchValue": key, "page": 0, "pageSize": 25})
        found = [e for e in answer.get("lista") or [] if isinstance(e, dict) and e.get("numerNadawczy") == key]
        live = [e for e in found if not e.get("czyUsuniety")]
        if found and not live:
            raise PermanentDeliveryError(f"EZD RP holds this parcel as {found[0].get('numerRPW')}, deleted from the "
                                         "register by a clerk: not registering it again")
        return live[0] if live else None

    def _half_made(self, key: str, title: str) -> tuple[str | None, str | None]:
        """The document an earlier attempt created (and its RPW number, if it got that far), or (None, None)."""
        answer = self._call("POST", "/dokumenty/_search",
                            json={"tytul": title, "pageInfo": {"pageNumber": 0, "pageSize": 25}})
        for item in answer.get("lista") or []:
            if isinstance(item, dict) and key in str(item.get("nazwa") or ""):
                spaces = [s for s in item.get("listaDokumentPrzestrzeni") or []
                          if isinstance(s, dict) and _text(s.get("idDokumentPrzestrzeni"))]
                if spaces:
                    document_id = str(spaces[0]["idDokumentPrzestrzeni"])
                    document = self._call("GET", f"/dokumenty/{quote(document_id, safe='')}")
                    return document_id, _text(document.get("numerRpw"))
        return None, None

    def _create_document(self, name: str, content: bytes, key: str) -> str:
        """A new task at our workstation holding the signed document; its document id."""
        answer = self._call("POST", "/obiegi", files=[("file", (name, content, "application/xml"))])
        tasks = [t for t in answer.get("listaIdObieg") or [] if _text(t)]
        if not tasks:
            raise PermanentDeliveryError("EZD RP created no task for the document (empty listaIdObieg)")
        listing = self._call("GET", f"/obiegi/{quote(tasks[0], safe='')}/dokumenty")
        documents = [d for d in listing.get("lista") or []
                     if isinstance(d, dict) and _text(d.get("idDokumentPrzestrzeni"))]
        ours = [d for d in documents if key in str(d.get("nazwa") or "")] or documents
        if len(ours) != 1:
            raise PermanentDeliveryError(f"EZD RP's task {tasks[0]} holds {len(documents)} documents, none of them "
                                         "named as the one just sent")
        return str(ours[0]["idDokumentPrzestrzeni"])

    @staticmethod
    def _number(value: Any) -> tuple[str, str]:
        try:
            return rpw_number(str(value or ""))
        except ValueError:
            # The parcel is registered but we cannot address it: a redelivery would read the same number.
            raise PermanentDeliveryError(f"EZD RP gave the RPW number {value!r}, which Okienko cannot read "
                                         "(expected RPW/<numer>/<rok>)") from None

    def _receipt(self, number: str, year: str, pismo: Any, document_id: str | None) -> DeliveryReceipt:
        rpw = f"RPW/{number}/{year}"
        details = {"rpw": rpw, "numer": number, "rok": year}
        if _text(pismo):
            details["id_pismo"] = str(pismo)
        if document_id:
            details["id_dokumentu"] = document_id
        return DeliveryReceipt(adapter=self.name, reference=rpw, details=details)

    @staticmethod
    def _files(envelope: Envelope) -> list[tuple[str, str, bytes]]:
        """The RPW entry's attachments, each under a name of its own (names tell a redelivery what is there)."""
        files = [(f"UPO-{envelope.receipt_id}.xml", "application/xml", envelope.upo)]
        if envelope.detached_signature:
            files.append((f"podpis-{envelope.receipt_id}.xades", "application/xml", envelope.detached_signature))
        used = {name for name, _, _ in files}
        for attachment in envelope.attachments:
            name = _file_name(re.split(r"[/\\]", attachment.name)[-1])  # the name, not a path it came with
            stem, dot, suffix = name.rpartition(".")
            number = 2
            while name in used:
                name = f"{stem}-{number}.{suffix}" if dot else f"{name}-{number}"
                number += 1
            used.add(name)
            files.append((name, attachment.media_type, attachment.content))
        return files

    def _metadata(self, envelope: Envelope, current: dict[str, Any]) -> dict[str, Any]:
        """The body of `PUT /rpw/{numer}/{rok}/metadane`.

        Dictionary fields take ids from the office's own dictionaries, offered with the entry's current
        metadata; we keep what EZD RP set on registration except the delivery method (and the document type,
        when an electronic one is offered). The resident is not linked to EZD's contact base (that needs an
        address and a permission to add contacts): the entry is marked `czyAnonimowy` with no `adresaci`, as
        the `adresaci` field's description asks, and the sender's name goes into the remarks.
        """
        metadata = current.get("metadane") or {}
        system = metadata.get("metadaneSystemowe") or {}
        filed = envelope.filed_at.astimezone(WARSAW).isoformat(timespec="seconds")
        remarks = (f"Wniesione przez Okienko. Nadawca: {envelope.sender_name}. Usługa: {envelope.service_title} "
                   f"({envelope.service_id}, wersja {envelope.service_version}); komórka {envelope.unit}, "
                   f"JRWA {envelope.jrwa_class}. UPO {envelope.receipt_id}, zgłoszenie {envelope.submission_id}.")
        return {
            "metadaneSystemowe": {
                "dataWplywu": filed,  # the legal filing moment, UPO DataDoreczenia
                "dataNadania": filed,
                "uwagi": remarks,
                "numerNadawczy": envelope.receipt_id,
                "sposobDostarczenia": _choose(system, "sposobDostarczenia", DELIVERY_METHOD_WORDS),
                "rodzajDokumentu": _choose(system, "rodzajDokumentu"),
                "typDokumentu": _choose(system, "typDokumentu", DOCUMENT_TYPE_WORDS),
                "dostep": _choose(system, "dostep"),
                "czyAnonimowy": True,
            },
            # Configurable attributes are sent back as they are: the PUT replaces the whole set.
            "metadaneNiesystemowe": [
                {"id": str(item["idKonfiguracja"]), "wartosc": str(item["wartosc"])}
                for item in metadata.get("metadaneNiesystemowe") or []
                if isinstance(item, dict) and _text(item.get("idKonfiguracja")) and _text(item.get("wartosc"))
            ],
            "adresaci": [],
        }

    # -- case events ------------------------------------------------------------------------------

    def fetch_events(self, parcels: list[DeliveredParcel]) -> list[CaseUpdate]:
        """What EZD RP did with each parcel: its case (znak, handler, status) or, before one, its assignment.

        Event ids come from EZD's identifiers and the state seen, so polling the same state again repeats
        the same ids. A parcel EZD RP no longer knows (404 …) is skipped; EZD RP being down or refusing our
        credentials raises DeliveryError for the whole round.
        """
        try:
            self.check_config()
        except ValueError as exc:
            raise DeliveryError(str(exc)) from exc
        names = _Names(self)
        updates: list[CaseUpdate] = []
        for parcel in parcels:
            receipt = parcel.receipt
            try:
                number, year = rpw_number(str(receipt.get("rpw") or ""))
            except ValueError:
                continue  # delivered before this adapter kept the RPW number: nothing to ask about
            try:
                updates.extend(self._parcel_events(parcel.submission_id, number, year, receipt, names))
            except PermanentDeliveryError as exc:
                log.warning("no case events for %s (RPW/%s/%s): %s", parcel.submission_id, number, year, exc)
        return updates

    def _parcel_events(self, submission_id: str, number: str, year: str, receipt: dict[str, Any],
                       names: _Names) -> list[CaseUpdate]:
        rpw = f"RPW/{number}/{year}"
        pismo = _text(receipt.get("id_pismo"))
        answer = self._call("POST", "/rpw/_search", json={"searchValue": rpw, "rok": int(year), "page": 0,
                                                          "pageSize": 25})
        entry = None
        for item in answer.get("lista") or []:
            if not isinstance(item, dict):
                continue
            # The search is by text: only the entry with our letter's id (or, lacking it, our number) is ours.
            same = item.get("idPismo") == pismo if pismo else _same_number(item.get("numerRPW"), number, year)
            if same:
                entry = item
                break
        if entry is None or entry.get("czyUsuniety"):
            return []
        pismo = pismo or _text(entry.get("idPismo")) or rpw
        case_id = _text((entry.get("sprawa") or {}).get("idSprawa"))
        if case_id:
            case = self._call("GET", f"/sprawy/{quote(case_id, safe='')}")
            if case.get("czyUsuniety"):
                return []  # a case deleted (opened by mistake) is not the resident's case
            return self._case_events(submission_id, pismo, case_id, case, entry.get("sprawa") or {}, names)
        metadata = self._call("GET", f"/rpw/{quote(number, safe='')}/{quote(year, safe='')}/metadane")
        return self._assignment_events(submission_id, pismo, metadata, names)

    def _assignment_events(self, submission_id: str, pismo: str, metadata: dict[str, Any],
                           names: _Names) -> list[CaseUpdate]:
        """The entry's assignment (dekretacja) to a unit and clerk, while no case is open for it."""
        position = _text(metadata.get("idStanowiskoOdbiorca"))
        unit_id = _text(metadata.get("idJednostka"))
        if position is None or position == str(self.config["EZDRP_SID"]).strip():
            return []  # still at Okienko's own workstation: not assigned to anyone yet
        data = {"unit": names.unit(unit_id), "handler": names.handler(unit_id, position)}
        data = {k: v for k, v in data.items() if v}
        if not data:
            return []
        at = _time(metadata.get("dataModyfikacji")) or datetime.now(UTC)
        return [CaseUpdate(_event_id("pismo", pismo, "przydzial", unit_id or "-", position), submission_id,
                           "assigned", at, data)]

    def _case_events(self, submission_id: str, pismo: str, case_id: str, case: dict[str, Any],
                     linked: dict[str, Any], names: _Names) -> list[CaseUpdate]:
        now = datetime.now(UTC)
        opened_at = _time(case.get("dataRejestracji")) or _time(linked.get("dataRejestracji")) or now
        later = max(now, opened_at)  # what we only see now is put after the opening
        unit_id = _text(case.get("idJednostka"))
        unit = names.unit(unit_id)
        updates: list[CaseUpdate] = []
        reference = _text(case.get("znak")) or _text(linked.get("znak"))
        if reference:
            data = {"case_reference": reference, **({"unit": unit} if unit else {})}
            updates.append(CaseUpdate(_event_id("sprawa", case_id, "znak", reference), submission_id, "case_opened",
                                      opened_at, data))
        handler_data = {"unit": unit, "handler": _person(case.get("prowadzacy"))}
        handler_data = {k: v for k, v in handler_data.items() if v}
        position = _text(case.get("idStanowiskoProwadzacy")) or _text(linked.get("idStanowiskoProwadzacy")) or "-"
        if handler_data.get("handler"):
            # Keyed like the assignment before the case: the clerk who got the letter and opened the case is
            # reported once.
            updates.append(CaseUpdate(_event_id("pismo", pismo, "przydzial", unit_id or "-", position), submission_id,
                                      "assigned", later, handler_data))
        code = case.get("statusEnum")
        status = CASE_STATUSES.get(code) if isinstance(code, int) else None
        if status:
            updates.append(CaseUpdate(_event_id("sprawa", case_id, "status", status), submission_id, "status_changed",
                                      later, {"status": status}))
        return updates


def _choose(system: dict[str, Any], name: str, words: tuple[str, ...] = ()) -> str:
    """An id from the office's dictionary for this metadata field: one whose text has one of `words`,
    else the value EZD RP set, else the first one offered."""
    field = system.get(name) or {}
    options = [o for o in field.get("listaDostepnychWartosci") or [] if isinstance(o, dict) and _text(o.get("id"))]
    for word in words:
        for option in options:
            if word in str(option.get("wartoscText") or "").lower():
                return str(option["id"])
    value = _text(field.get("wartosc"))
    if value:
        # `wartosc` may be the id or its text; the PUT wants the id.
        if value not in {str(o["id"]) for o in options}:
            value = next((str(o["id"]) for o in options if o.get("wartoscText") == value), value)
        return value
    if options:
        return str(options[0]["id"])
    raise PermanentDeliveryError(f"EZD RP offers no value for the RPW entry's {name}: its dictionary must be set up")


def _same_number(value: Any, number: str, year: str) -> bool:
    try:
        return rpw_number(str(value or "")) == (number, year)
    except ValueError:
        return False


def _person(value: Any) -> str | None:
    if not isinstance(value, dict):
        return None
    name = " ".join(p for p in (_text(value.get("imie")), _text(value.get("nazwisko"))) if p)
    return name or _text(value.get("pelnaPrezentacja"))


class _Names:
    """Unit and clerk names for one polling round, each asked of EZD RP once."""

    def __init__(self, adapter: EzdRpAdapter) -> None:
        self.adapter = adapter
        self.office_units = units(adapter.config) if "OFFICE_UNITS" in adapter.config else {}
        self._units: dict[str, str | None] = {}
        self._positions: dict[str, list[dict[str, Any]]] = {}

    def unit(self, unit_id: str | None) -> str | None:
        """The unit as the portal shows units: its code when the office configured it (PORTAL_OFFICE_UNITS),
        else EZD's name for it."""
        if unit_id is None:
            return None
        if unit_id not in self._units:
            try:
                found = self.adapter._call("GET", f"/struktura/{quote(unit_id, safe='')}")
            except PermanentDeliveryError:
                found = {}
            symbol, name = _text(found.get("symbol")), _text(found.get("nazwa"))
            self._units[unit_id] = symbol if symbol in self.office_units else (name or symbol)
        return self._units[unit_id]

    def handler(self, unit_id: str | None, position: str) -> str | None:
        if unit_id is None:
            return None
        if unit_id not in self._positions:
            try:
                found = self.adapter._call("GET", f"/struktura/{quote(unit_id, safe='')}/stanowiska")
            except PermanentDeliveryError:
                found = {}
            self._positions[unit_id] = [p for p in found.get("lista") or [] if isinstance(p, dict)]
        for item in self._positions[unit_id]:
            if item.get("idStanowisko") == position:
                return _person(item)
        return None
