"""Keeping a signed document when it could not be stored, so the resident can retry without signing again.

When the database or the document store fails during acceptance nothing is written, and the signed
bytes would be lost with the request. They wait here, in files under the instance folder (which
does not depend on the database), until a retry stores them or the draft is submitted.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from flask import current_app


def _path(draft_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f-]{36}", draft_id):
        raise ValueError("not a draft id")
    return Path(current_app.config["SPOOL_DIR"]) / f"{draft_id}.signed"


def keep(draft_id: str, signed: bytes) -> None:
    path = _path(draft_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
    with os.fdopen(handle, "wb") as file:
        file.write(signed)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def waiting(draft_id: str) -> bytes | None:
    path = _path(draft_id)
    return path.read_bytes() if path.exists() else None


def done(draft_id: str) -> None:
    _path(draft_id).unlink(missing_ok=True)
