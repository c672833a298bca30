"""Content-addressed storage of files. The digest is checked again on every read."""

from __future__ import annotations

import hashlib

from portal.extensions import db
from portal.storage.models import Blob


class BlobCorrupted(RuntimeError):
    """Stored bytes no longer match their address: never hand them out."""


def put(content: bytes) -> str:
    """Store the bytes (once) in the current transaction; return their SHA-256."""
    digest = hashlib.sha256(content).hexdigest()
    if db.session.get(Blob, digest) is None:
        db.session.add(Blob(sha256=digest, size=len(content), content=content))
    return digest


def get(digest: str) -> bytes:
    blob = db.session.get(Blob, digest)
    if blob is None:
        raise KeyError(digest)
    if hashlib.sha256(blob.content).hexdigest() != digest:
        raise BlobCorrupted(f"blob {digest} does not match its digest")
    return blob.content
