"""Logs a machine can read: one JSON object per line, each carrying the request id of the request it belongs to.

`PORTAL_LOG_FORMAT` chooses `json` or `text`; `auto` (the default) means JSON when the portal is served over
https (production) and text otherwise (`make run`, where a person reads the terminal). The same handler serves
the portal's own loggers and, through gunicorn.conf.py, gunicorn's.

What never goes into a log line: PESEL numbers and names. The access log carries only the actor's kind
(resident, clerk, anonymous), and every message is scrubbed of anything shaped like a PESEL in case a
library or a careless message puts one there.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from portal import config as portal_config
from portal.ops.redact import scrub
from portal.ops.request_ids import current as current_request_id

# The extra fields a record may carry into the JSON object (the access log sets them).
REQUEST_FIELDS = ("request_id", "method", "path", "endpoint", "status", "duration_ms", "actor")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


def resolve_format(settings: dict[str, Any]) -> str:
    """`json` or `text`, from PORTAL_LOG_FORMAT (`auto`: JSON when the portal is served over https)."""
    chosen = str(settings.get("LOG_FORMAT", "auto")).strip().lower()
    if chosen == "auto":
        return "json" if str(settings.get("BASE_URL", "")).startswith("https://") else "text"
    if chosen not in ("json", "text"):
        raise ValueError(f"PORTAL_LOG_FORMAT must be json, text or auto, not {chosen!r}")
    return chosen


class RequestContextFilter(logging.Filter):
    """Puts the current request's id on every record logged while serving it ("-" outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request id and the request's
    fields when the record has them; the traceback, if any, as one string."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
        }
        for name in REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class PortalHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The portal's log handler (standard error); `configure` recognises it and adjusts it instead of adding
    another, however many applications a process creates."""

    def __init__(self, log_format: str = "text", stream: TextIO | None = None) -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        self.addFilter(RequestContextFilter())
        self.set_format(log_format)

    def set_format(self, log_format: str) -> None:
        self.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())


def handler_from_environment() -> PortalHandler:
    """The handler gunicorn.conf.py installs for gunicorn's own logs, in the format the portal will use."""
    return PortalHandler(resolve_format(portal_config.from_environment()))


def configure(level: str, log_format: str) -> None:
    """Set up logging for the portal process.

    Our handler already on the root logger (installed by gunicorn.conf.py, or by an earlier application in
    this process) is adjusted. Handlers that someone else installed (a test runner, an embedding server) are
    left alone, as `logging.basicConfig` would.
    """
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, PortalHandler)]
    if ours:
        for handler in ours:
            handler.set_format(log_format)
    elif not root.handlers:
        root.addHandler(PortalHandler(log_format))
    else:
        return
    root.setLevel(level)
    # Alembic announces each of its plugins at INFO whenever migrations are looked at (/ready, `db upgrade`):
    # a screen of lines that say nothing to an operator. Its warnings and errors still come through.
    logging.getLogger("alembic.runtime.plugins").setLevel(max(logging.WARNING, root.level))
