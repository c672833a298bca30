"""The e-Doręczenia sandbox's state: one SQLite file in the state directory, so it survives a restart.

The server is threaded; one connection guarded by one lock keeps it simple and correct (the sandbox
serves a handful of requests a second at most). `transaction()` is the unit of work: everything inside
it commits together or not at all.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS clock (id INTEGER PRIMARY KEY CHECK (id = 1), offset_seconds REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, client_id TEXT NOT NULL, mailbox TEXT NOT NULL,
    expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    task_id TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,           -- the e-Delivery address, or '' for a hybrid letter by post
    recipient_json TEXT NOT NULL,      -- to[0] as sent (MessageAddressData)
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    shipping TEXT NOT NULL,            -- electronic | hybrid
    additional_data TEXT NOT NULL,     -- JSON object string -> string
    status TEXT NOT NULL,
    status_description TEXT,
    opened INTEGER NOT NULL DEFAULT 0,
    submitted TEXT NOT NULL,           -- sandbox time, ISO UTC
    available TEXT,                    -- D.1 (electronic) or H.PN (hybrid) time
    received TEXT                      -- E.1 / fiction / H.EPO time
);
CREATE TABLE IF NOT EXISTS attachments (
    id TEXT NOT NULL, message_id TEXT NOT NULL, ord INTEGER NOT NULL, filename TEXT NOT NULL,
    content_type TEXT NOT NULL, content BLOB NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (message_id, id));
CREATE TABLE IF NOT EXISTS evidences (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, message_id TEXT NOT NULL, code TEXT NOT NULL,
    event_time TEXT NOT NULL, create_time TEXT NOT NULL, reason TEXT, xml BLOB NOT NULL,
    downloaded INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS subscriptions (id TEXT PRIMARY KEY, mailbox TEXT NOT NULL, kind TEXT NOT NULL,
    url TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS faults (id INTEGER PRIMARY KEY CHECK (id = 1), status INTEGER, status_count INTEGER,
    delay REAL, delay_count INTEGER, tamper INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender);
CREATE INDEX IF NOT EXISTS messages_recipient ON messages (recipient);
CREATE INDEX IF NOT EXISTS evidences_message ON evidences (message_id);
"""


class Store:
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "edoreczenia.sqlite3"
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        self._depth = 0
        self._connection.executescript(SCHEMA)
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO clock (id, offset_seconds) VALUES (1, 0)")
            db.execute("INSERT OR IGNORE INTO faults (id, tamper) VALUES (1, 0)")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One unit of work under the lock; nested calls join the outer one."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._connection.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._connection
            except BaseException:
                self._depth -= 1
                if outer:
                    self._connection.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._connection.execute("COMMIT")
