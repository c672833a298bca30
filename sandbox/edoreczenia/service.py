"""What the e-Doręczenia sandbox does: mailboxes, sending, the evidence sequence, the clock, notifications.

The views parse requests and shape answers; everything that changes state happens here, inside one
`store.transaction()` per operation. Notifications are queued while the transaction runs and handed to
the notifier only after it has committed.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import json
import logging
import secrets
import sqlite3
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox import people
from sandbox.edoreczenia import evidence
from sandbox.edoreczenia.store import Store

log = logging.getLogger(__name__)

OFFICE = people.OFFICE.e_delivery_address
FICTION = datetime.timedelta(days=14)
BY_POST = datetime.timedelta(days=3)
TOKEN_LIFETIME = 3600
SCOPE = "read_messages write_messages read_settings write_settings"
# client_id -> (secret, the one mailbox the client acts for)
CLIENTS = {"okienko-leszno": ("sandbox-edoreczenia-secret", OFFICE)}

WAITING, SENT, DELIVERED, FICTION_DELIVERED, REJECTED, POSTED = (
    "Czeka na doręczenie", "Wysłana", "Doręczona", "Uznana za doręczoną", "Odrzucona", "Nadana")


class Invalid(Exception):
    """A request the service refuses (400 ErrorInfo)."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


@dataclass(frozen=True)
class Mailbox:
    address: str
    name: str
    pesel: str | None = None
    nip: str | None = None

    def bae(self) -> dict[str, str]:
        entry = {"eDeliveryAddress": self.address, "name": self.name, "status": "ACTIVE"}
        if self.pesel:
            entry["pesel"] = self.pesel
        if self.nip:
            entry["nip"] = self.nip
        return entry


MAILBOXES = {m.address: m for m in [Mailbox(OFFICE, people.OFFICE.name, nip=people.OFFICE.nip)]
             + [Mailbox(p.e_delivery_address, p.name, pesel=p.pesel)
                for p in people.E_DELIVERY_RESIDENTS if p.e_delivery_address]}


def iso(moment: datetime.datetime) -> str:
    return evidence.utc(moment)


def parse(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


class Notifier:
    """Best-effort callbacks: POST JSON from a background thread, 3 tries with short timeouts, then forgotten."""

    def __init__(self, tries: int = 3, timeout: float = 2.0) -> None:
        self.tries, self.timeout = tries, timeout

    def send(self, url: str, payload: dict[str, Any]) -> None:
        threading.Thread(target=self._deliver, args=(url, payload), daemon=True, name="edo-notify").start()

    def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        for attempt in range(self.tries):
            try:
                # Only http(s) URLs are accepted when subscribing (Service.subscribe).
                request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    if response.status < 300:
                        return
            except Exception as error:  # noqa: BLE001 (any failure is one more try)
                log.info("callback to %s failed (try %d): %s", url, attempt + 1, error)
            time.sleep(0.2 * (attempt + 1))


@dataclass
class Unit:
    """One operation's transaction and the notifications it will send once committed."""

    db: sqlite3.Connection
    now: datetime.datetime
    outbox: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Service:
    def __init__(self, state_dir: Path, pki_dir: Path, notifier: Notifier | None = None) -> None:
        self.store = Store(state_dir)
        self.seal_cert = (pki_dir / "edoreczenia-seal.pem").read_bytes()
        self.seal_key = (pki_dir / "edoreczenia-seal.key").read_bytes()
        self.notifier = notifier or Notifier()

    # -- the unit of work ---------------------------------------------------------------------------------
    @contextmanager
    def unit(self) -> Iterator[Unit]:
        with self.store.transaction() as db:
            unit = Unit(db, self._now(db))
            self._run_due(unit)
            yield unit
        for url, payload in unit.outbox:
            self.notifier.send(url, payload)

    @staticmethod
    def _now(db: sqlite3.Connection) -> datetime.datetime:
        offset = db.execute("SELECT offset_seconds FROM clock WHERE id = 1").fetchone()[0]
        return datetime.datetime.now(datetime.UTC).replace(microsecond=0) + datetime.timedelta(seconds=offset)

    # -- the clock ----------------------------------------------------------------------------------------
    def now(self) -> datetime.datetime:
        with self.unit() as unit:
            return unit.now

    def advance(self, seconds: float) -> datetime.datetime:
        """Move the sandbox clock forward and run what falls due (the 14-day fiction, letters delivered by post)."""
        if seconds < 0:
            raise Invalid("INVALID_CLOCK", "The sandbox clock only moves forward.")
        with self.store.transaction() as db:
            db.execute("UPDATE clock SET offset_seconds = offset_seconds + ? WHERE id = 1", (seconds,))
        return self.now()

    def _run_due(self, unit: Unit) -> None:
        for row in unit.db.execute("SELECT * FROM messages WHERE status = ? AND opened = 0 AND available IS NOT NULL",
                                   (WAITING,)).fetchall():
            due = parse(row["available"]) + FICTION
            if due <= unit.now:
                self._evidence(unit, row, "BP.OX", due, fiction=True)
                unit.db.execute("UPDATE messages SET status = ?, received = ? WHERE id = ?",
                                (FICTION_DELIVERED, iso(due), row["id"]))
        for row in unit.db.execute("SELECT * FROM messages WHERE status = ? AND shipping = 'hybrid'",
                                   (POSTED,)).fetchall():
            due = parse(row["available"]) + BY_POST
            if due <= unit.now:
                self._evidence(unit, row, "H.EPO", due)
                unit.db.execute("UPDATE messages SET status = ?, received = ? WHERE id = ?",
                                (DELIVERED, iso(due), row["id"]))

    # -- OAuth 2.0 client credentials --------------------------------------------------------------------
    def issue_token(self, client_id: str, client_secret: str) -> str | None:
        client = CLIENTS.get(client_id)
        if client is None or not secrets.compare_digest(client[0], client_secret):
            return None
        token = secrets.token_urlsafe(32)
        with self.store.transaction() as db:
            db.execute("DELETE FROM tokens WHERE expires < ?", (time.time(),))
            db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?)", (token, client_id, client[1],
                                                                  time.time() + TOKEN_LIFETIME))
        return token

    def token_mailbox(self, token: str) -> str | None:
        with self.store.transaction() as db:
            row = db.execute("SELECT mailbox, expires FROM tokens WHERE token = ?", (token,)).fetchone()
        return row["mailbox"] if row and row["expires"] > time.time() else None

    # -- faults -------------------------------------------------------------------------------------------
    def set_faults(self, spec: dict[str, Any]) -> dict[str, Any]:
        with self.store.transaction() as db:
            if "status" in spec:
                db.execute("UPDATE faults SET status = ?, status_count = ? WHERE id = 1",
                           (int(spec["status"]), int(spec.get("count", 1))))
            if "delay" in spec:
                db.execute("UPDATE faults SET delay = ?, delay_count = ? WHERE id = 1",
                           (float(spec["delay"]), int(spec.get("count", 1))))
            if "tamper_next_evidence" in spec:
                db.execute("UPDATE faults SET tamper = ? WHERE id = 1", (1 if spec["tamper_next_evidence"] else 0,))
            return dict(db.execute("SELECT status, status_count, delay, delay_count, tamper FROM faults").fetchone())

    def clear_faults(self) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE faults SET status = NULL, status_count = NULL, delay = NULL, delay_count = NULL, "
                       "tamper = 0 WHERE id = 1")

    def take_fault(self) -> tuple[int | None, float | None]:
        """The fault this API call suffers, if any (each call uses up one of the counts)."""
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM faults WHERE id = 1").fetchone()
            status = delay = None
            if row["status"] and (row["status_count"] or 0) > 0:
                status = row["status"]
                db.execute("UPDATE faults SET status_count = status_count - 1 WHERE id = 1")
            if row["delay"] and (row["delay_count"] or 0) > 0:
                delay = row["delay"]
                db.execute("UPDATE faults SET delay_count = delay_count - 1 WHERE id = 1")
            return status, delay

    # -- sending ------------------------------------------------------------------------------------------
    def send(self, mailbox: str, message: Any) -> str:
        """Accept a Message from `mailbox`; returns the messageTaskId. Processing is immediate (the task is
        FINISHED at once) and yields the evidences of the contract."""
        if not isinstance(message, dict):
            raise Invalid("INVALID_MESSAGE", "The body must be a Message object.")
        metadata = message.get("messageMetadata")
        if not isinstance(metadata, dict) or metadata.get("shippingService") not in ("electronic", "hybrid"):
            raise Invalid("INVALID_MESSAGE", "messageMetadata.shippingService must be 'electronic' or 'hybrid'.")
        sender = (metadata.get("from") or {}).get("eDeliveryAddress", mailbox)
        if sender != mailbox:
            raise Invalid("INVALID_SENDER", "messageMetadata.from.eDeliveryAddress must be the mailbox sending.")
        to = metadata.get("to")
        if not isinstance(to, list) or len(to) != 1 or not isinstance(to[0], dict):
            raise Invalid("INVALID_RECIPIENT", "messageMetadata.to must name exactly one recipient.")
        shipping = metadata["shippingService"]
        if shipping == "electronic" and not to[0].get("eDeliveryAddress"):
            raise Invalid("INVALID_RECIPIENT", "An electronic message needs to[0].eDeliveryAddress.")
        if shipping == "hybrid" and not isinstance(to[0].get("address"), dict):
            raise Invalid("INVALID_RECIPIENT", "A hybrid message needs the postal to[0].address.")
        subject = metadata.get("subject") or ""
        text_body = message.get("textBody") or ""
        if not isinstance(subject, str) or not isinstance(text_body, str) or len(text_body) > 5000:
            raise Invalid("INVALID_MESSAGE", "subject and textBody must be text, textBody at most 5000 characters.")
        additional = metadata.get("additionalData") or {}
        if not isinstance(additional, dict) or not all(isinstance(v, str) for v in additional.values()):
            raise Invalid("INVALID_MESSAGE", "additionalData maps names to strings.")
        files = [self._attachment(index, item) for index, item in enumerate(message.get("attachments") or [])]
        recipient = to[0].get("eDeliveryAddress") or "" if shipping == "electronic" else ""
        return self._create(sender, recipient, to[0], subject, text_body, shipping, additional, files,
                            metadata.get("threadId"))

    @staticmethod
    def _attachment(index: int, item: Any) -> dict[str, Any]:
        data = item.get("file") if isinstance(item, dict) else None
        meta = data.get("fileMetadata") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(meta, dict) or not isinstance(data.get("file"), str):
            raise Invalid("INVALID_ATTACHMENT", f"attachments[{index}] needs file.fileMetadata and file.file.")
        try:
            content = base64.b64decode(data["file"], validate=True)
        except (binascii.Error, ValueError) as error:
            raise Invalid("INVALID_ATTACHMENT", f"attachments[{index}].file.file is not base64.") from error
        if str(meta.get("alg", "SHA-3")).upper() not in ("SHA-3", "SHA3-256", "SHA3"):
            raise Invalid("INVALID_ATTACHMENT", f"attachments[{index}]: the hash algorithm must be SHA-3.")
        digest = hashlib.sha3_256(content).hexdigest()
        if str(meta.get("hash", "")).lower() != digest:
            raise Invalid("INVALID_HASH", f"attachments[{index}]: the SHA3-256 hash does not match the content.")
        if meta.get("size") is not None and meta.get("size") != len(content):
            raise Invalid("INVALID_ATTACHMENT", f"attachments[{index}]: size does not match the content.")
        return {"id": str(meta.get("fileId") or uuid.uuid4()), "filename": str(meta.get("filename") or "plik"),
                "content_type": str(meta.get("contentType") or "application/octet-stream"),
                "content": content, "hash": digest}

    def simulate_send(self, sender: str, recipient: str, subject: str, text: str,
                      files: list[tuple[str, str, bytes]]) -> str:
        """A resident's mailbox sending to the office (the sandbox's own stand-in for the resident's app)."""
        if sender not in MAILBOXES:
            raise Invalid("UNKNOWN_SENDER", "The sender is not a sandbox mailbox.")
        attachments = [{"id": str(uuid.uuid4()), "filename": name, "content_type": kind, "content": content,
                        "hash": hashlib.sha3_256(content).hexdigest()} for name, kind, content in files]
        task = self._create(sender, recipient, {"eDeliveryAddress": recipient}, subject, text, "electronic", {},
                            attachments, None)
        with self.store.transaction() as db:
            return db.execute("SELECT id FROM messages WHERE task_id = ?", (task,)).fetchone()["id"]

    def _create(self, sender: str, recipient: str, to: dict[str, Any], subject: str, text_body: str, shipping: str,
                additional: dict[str, str], files: list[dict[str, Any]], thread_id: str | None) -> str:
        message_id, task_id = str(uuid.uuid4()), str(uuid.uuid4())
        with self.unit() as unit:
            known = shipping == "hybrid" or recipient in MAILBOXES
            unit.db.execute(
                "INSERT INTO messages (id, task_id, thread_id, sender, recipient, recipient_json, subject, text_body,"
                " shipping, additional_data, status, submitted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (message_id, task_id, thread_id or message_id, sender, recipient, json.dumps(to), subject, text_body,
                 shipping, json.dumps(additional), SENT, iso(unit.now)))
            ids: set[str] = set()
            for order, item in enumerate(files, start=1):
                attachment_id = item["id"] if item["id"] not in ids else str(uuid.uuid4())
                ids.add(attachment_id)
                unit.db.execute("INSERT INTO attachments VALUES (?, ?, ?, ?, ?, ?, ?)",
                                (attachment_id, message_id, order, item["filename"], item["content_type"],
                                 item["content"], item["hash"]))
            row = self._row(unit.db, message_id)
            if not known:
                self._evidence(unit, row, "A.2", unit.now, reason="RECIPIENT_NOT_FOUND")
                unit.db.execute("UPDATE messages SET status = ?, status_description = ? WHERE id = ?",
                                (REJECTED, "Adres do doręczeń elektronicznych odbiorcy nie istnieje w BAE.",
                                 message_id))
            elif shipping == "hybrid":
                self._evidence(unit, row, "A.1", unit.now)
                self._evidence(unit, row, "H.PN", unit.now)
                unit.db.execute("UPDATE messages SET status = ?, available = ? WHERE id = ?",
                                (POSTED, iso(unit.now), message_id))
            else:
                for code in ("A.1", "BP.WX", "D.1"):
                    self._evidence(unit, row, code, unit.now)
                unit.db.execute("UPDATE messages SET status = ?, available = ? WHERE id = ?",
                                (WAITING, iso(unit.now), message_id))
                for url in self._subscribers(unit.db, recipient, "messageCallbackUrl"):
                    unit.outbox.append((url, {"eDeliveryAddress": recipient, "notificationType": "NewMessage",
                                              "notification": [{"id": message_id, "threadId": row["thread_id"]}]}))
        return task_id

    def _evidence(self, unit: Unit, message: sqlite3.Row, code: str, event_time: datetime.datetime,
                  fiction: bool | None = None, reason: str | None = None) -> str:
        if code == "BP.OX" and fiction is None:
            fiction = False
        evidence_id = str(uuid.uuid4())
        first = unit.db.execute("SELECT content FROM attachments WHERE message_id = ? ORDER BY ord LIMIT 1",
                                (message["id"],)).fetchone()
        # The first attachment's bytes; a message without attachments: its text.
        digest = hashlib.sha3_256(first["content"] if first else message["text_body"].encode()).hexdigest()
        recipient = message["recipient"] or f"POCZTA: {self._postal(message)}"
        root = evidence.document(evidence_id=evidence_id, code=code, event_time=event_time,
                                 message_id=message["id"], sender=message["sender"], recipient=recipient,
                                 digest=digest, fiction=fiction if code == "BP.OX" else None, reason=reason)
        signed = evidence.seal(root, self.seal_cert, self.seal_key, unit.now)
        unit.db.execute("INSERT INTO evidences (id, message_id, code, event_time, create_time, reason, xml) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (evidence_id, message["id"], code, iso(event_time), iso(unit.now), reason, signed))
        for url in self._subscribers(unit.db, message["sender"], "evidenceCallbackUrl"):
            unit.outbox.append((url, {"eDeliveryAddress": message["sender"], "notificationType": "NewEvidence",
                                      "notification": [{"id": evidence_id, "type": code}]}))
        return evidence_id

    @staticmethod
    def _postal(message: sqlite3.Row) -> str:
        address = json.loads(message["recipient_json"]).get("address") or {}
        return ", ".join(str(address.get(k)) for k in ("street", "buildingNumber", "postalCode", "city")
                         if address.get(k))

    @staticmethod
    def _row(db: sqlite3.Connection, message_id: str) -> sqlite3.Row:
        return db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()

    # -- receiving ----------------------------------------------------------------------------------------
    def open(self, mailbox: str, message_id: str) -> bool:
        """The recipient opens the message: that is delivery (E.1 + BP.OX) unless it was delivered already."""
        with self.unit() as unit:
            row = self._row(unit.db, message_id)
            if row is None or row["recipient"] != mailbox:
                return False
            self._open(unit, row)
            return True

    def _open(self, unit: Unit, row: sqlite3.Row) -> None:
        if row["opened"]:
            return
        unit.db.execute("UPDATE messages SET opened = 1 WHERE id = ?", (row["id"],))
        if row["status"] == WAITING:
            self._evidence(unit, row, "E.1", unit.now)
            self._evidence(unit, row, "BP.OX", unit.now, fiction=False)
            unit.db.execute("UPDATE messages SET status = ?, received = ? WHERE id = ?",
                            (DELIVERED, iso(unit.now), row["id"]))

    # -- reading ------------------------------------------------------------------------------------------
    def message_rows(self, mailbox: str, label: str | None = None, opened: bool | None = None
                     ) -> list[sqlite3.Row]:
        query = "SELECT * FROM messages WHERE (sender = ? OR recipient = ?)"
        args: list[str | int] = [mailbox, mailbox]
        if label == "SENT":
            query, args = "SELECT * FROM messages WHERE sender = ?", [mailbox]
        elif label == "INBOX":
            query, args = "SELECT * FROM messages WHERE recipient = ?", [mailbox]
        elif label not in (None, ""):
            return []
        if opened is not None:
            query += " AND opened = ?"
            args.append(1 if opened else 0)
        with self.unit() as unit:
            return unit.db.execute(query + " ORDER BY seq DESC", args).fetchall()

    def message(self, mailbox: str, message_id: str, *, mark_opened: bool = False) -> sqlite3.Row | None:
        with self.unit() as unit:
            row = self._row(unit.db, message_id)
            if row is None or mailbox not in (row["sender"], row["recipient"]):
                return None
            if mark_opened and row["recipient"] == mailbox:
                self._open(unit, row)
                row = self._row(unit.db, message_id)
            return row

    def attachments(self, message_id: str) -> list[sqlite3.Row]:
        with self.store.transaction() as db:
            return db.execute("SELECT * FROM attachments WHERE message_id = ? ORDER BY ord", (message_id,)).fetchall()

    def evidences(self, message_id: str, code: str | None = None) -> list[sqlite3.Row]:
        with self.unit() as unit:
            query, args = "SELECT * FROM evidences WHERE message_id = ?", [message_id]
            if code:
                query, args = query + " AND code = ?", [*args, code]
            return unit.db.execute(query + " ORDER BY seq", args).fetchall()

    def mailbox_evidences(self, mailbox: str) -> list[sqlite3.Row]:
        with self.unit() as unit:
            return unit.db.execute(
                "SELECT e.* FROM evidences e JOIN messages m ON m.id = e.message_id WHERE m.sender = ? "
                "OR m.recipient = ? ORDER BY e.seq", (mailbox, mailbox)).fetchall()

    def evidence_file(self, mailbox: str, evidence_id: str) -> bytes | None:
        """The signed evidence; with the tamper fault armed, once, one byte changed after signing."""
        with self.unit() as unit:
            row = unit.db.execute("SELECT e.xml, m.sender, m.recipient FROM evidences e JOIN messages m "
                                  "ON m.id = e.message_id WHERE e.id = ?", (evidence_id,)).fetchone()
            if row is None or mailbox not in (row["sender"], row["recipient"]):
                return None
            unit.db.execute("UPDATE evidences SET downloaded = 1 WHERE id = ?", (evidence_id,))
            content = bytes(row["xml"])
            if unit.db.execute("SELECT tamper FROM faults WHERE id = 1").fetchone()[0]:
                unit.db.execute("UPDATE faults SET tamper = 0 WHERE id = 1")
                content = evidence.tamper(content)
            return content

    def task(self, mailbox: str, task_id: str) -> list[sqlite3.Row]:
        with self.unit() as unit:
            return unit.db.execute("SELECT * FROM messages WHERE task_id = ? AND sender = ?",
                                   (task_id, mailbox)).fetchall()

    # -- subscriptions ------------------------------------------------------------------------------------
    KINDS = ("messageCallbackUrl", "messageCreatedCallbackUrl", "archiveCreatedCallbackUrl", "evidenceCallbackUrl",
             "inboxCallbackUrl")

    def subscribe(self, mailbox: str, urls: dict[str, Any]) -> str:
        chosen = {k: v for k, v in urls.items() if k in self.KINDS and v}
        if not chosen or not all(isinstance(v, str) and v.startswith(("http://", "https://"))
                                 for v in chosen.values()):
            raise Invalid("INVALID_SUBSCRIPTION", "Give at least one callback URL (http or https).")
        subscription_id = str(uuid.uuid4())
        with self.store.transaction() as db:
            # One subscription per mailbox, as in the service: a new one replaces the old.
            db.execute("DELETE FROM subscriptions WHERE mailbox = ?", (mailbox,))
            for kind, url in chosen.items():
                db.execute("INSERT INTO subscriptions VALUES (?, ?, ?, ?)",
                           (f"{subscription_id}:{kind}", mailbox, kind, url))
        return subscription_id

    def subscriptions(self, mailbox: str) -> list[sqlite3.Row]:
        with self.store.transaction() as db:
            return db.execute("SELECT * FROM subscriptions WHERE mailbox = ? ORDER BY kind", (mailbox,)).fetchall()

    def unsubscribe(self, mailbox: str) -> None:
        with self.store.transaction() as db:
            db.execute("DELETE FROM subscriptions WHERE mailbox = ?", (mailbox,))

    @staticmethod
    def _subscribers(db: sqlite3.Connection, mailbox: str, kind: str) -> list[str]:
        return [r["url"] for r in db.execute("SELECT url FROM subscriptions WHERE mailbox = ? AND kind = ?",
                                             (mailbox, kind))]
