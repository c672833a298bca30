"""Keeping a signed document when it could not be stored, so the resident can retry without signing again.

When the database or the document store fails during acceptance nothing is written, and the signed
bytes would be lost with the request. They wait here, in files under the instance folder (which
does not depend on the database), until a retry stores them or the draft is submitted.

The spool should not share a volume with a filesystem document store: the disk that fills up and makes the
store refuse the document would refuse the spool's copy too (`okienko config check` warns). If the spool
cannot write, `keep` raises SpoolUnavailable, which the portal answers with a 503 telling the resident that
the document was not kept and must be signed again (portal/errors.py); no half-written file is left.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from flask import current_app

from portal.storage.service import write_atomically

log = logging.getLogger(__name__)


class SpoolUnavailable(RuntimeError):
    """A signed document could not be kept for a retry (its folder is full, unwritable or missing)."""


def _path(draft_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f-]{36}", draft_id):
        raise ValueError("not a draft id")
    return Path(current_app.config["SPOOL_DIR"]) / f"{draft_id}.signed"


def keep(draft_id: str, signed: bytes) -> None:
    """Keep the signed bytes for a retry; raises SpoolUnavailable (logged) when they cannot be written."""
    path = _path(draft_id)
    try:
        write_atomically(path, signed)
    except OSError as exc:
        log.error("cannot keep the signed document of draft %s for a retry in %s: %s", draft_id, path.parent, exc)
        raise SpoolUnavailable(f"{path.parent}: {exc}") from exc


def waiting(draft_id: str) -> bytes | None:
    path = _path(draft_id)
    return path.read_bytes() if path.exists() else None


def done(draft_id: str) -> None:
    _path(draft_id).unlink(missing_ok=True)
