"""Content-addressed storage of files and documents, behind one small interface.

Backends are chosen by `PORTAL_BLOB_STORE`, a `"name:options"` string:

    database                      the `blob` table (default; part of the caller's transaction)
    filesystem:/var/lib/okienko   files under a folder, written atomically
    s3:bucket?endpoint=https://…  an S3-compatible object store (credentials from the usual AWS settings)

Every object is stored under its SHA-256, and the digest is checked again on every read: bytes that
no longer match their address are never handed out.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from flask import current_app
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from portal.db_types import utcnow
from portal.extensions import db
from portal.storage.models import Blob


def write_atomically(target: Path, content: bytes) -> None:
    """Write `content` to `target` whole or not at all: a temporary name, flushed to disk, then renamed, so a
    crash never leaves half a file; a write or fsync that fails (a full disk) leaves no temporary file behind.
    Raises OSError."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


class BlobCorrupted(RuntimeError):
    """Stored bytes no longer match their address."""


class StorageUnavailable(RuntimeError):
    """The store could not take or give the bytes (full, read-only, unreachable)."""


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _checked(address: str, content: bytes) -> bytes:
    if digest(content) != address:
        raise BlobCorrupted(f"object {address} does not match its digest")
    return content


class BlobStore(ABC):
    @abstractmethod
    def put(self, content: bytes) -> str:
        """Store the bytes (once); return their SHA-256."""

    @abstractmethod
    def get(self, address: str) -> bytes:
        """The bytes stored under `address`, verified; KeyError when there are none."""

    def check_config(self) -> None:  # noqa: B027 - optional hook
        """Raise StorageUnavailable if the store cannot be used."""

    def free_bytes(self) -> int | None:
        """Space left for new objects, when the store can tell (a file system); None otherwise."""
        return None


class DatabaseStore(BlobStore):
    def put(self, content: bytes) -> str:
        address = digest(content)
        # Two requests storing the same bytes at once (the same document from two tabs) must not
        # collide on the address: the second insert simply does nothing.
        dialect = db.engine.dialect.name
        statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(Blob).values(
            sha256=address, size=len(content), content=content, created_at=utcnow())
        db.session.execute(statement.on_conflict_do_nothing(index_elements=["sha256"]))
        return address

    def get(self, address: str) -> bytes:
        blob = db.session.get(Blob, address)
        if blob is None:
            raise KeyError(address)
        return _checked(address, blob.content)


class FilesystemStore(BlobStore):
    def __init__(self, root: str) -> None:
        self.root = Path(root)

    def _path(self, address: str) -> Path:
        return self.root / address[:2] / address[2:4] / address

    def put(self, content: bytes) -> str:
        address = digest(content)
        target = self._path(address)
        if target.exists():
            return address
        try:
            write_atomically(target, content)
        except OSError as exc:
            raise StorageUnavailable(f"cannot store {address} in {self.root}: {exc}") from exc
        return address

    def get(self, address: str) -> bytes:
        try:
            return _checked(address, self._path(address).read_bytes())
        except FileNotFoundError:
            raise KeyError(address) from None
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def check_config(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"{self.root} cannot be made: {exc}") from exc
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"{self.root} is not writable")

    def free_bytes(self) -> int:
        stat = os.statvfs(self.root)
        return stat.f_bavail * stat.f_frsize


class S3Store(BlobStore):
    def __init__(self, options: str) -> None:
        import boto3

        parts = urlsplit(f"s3://{options}")
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.client = boto3.client("s3", endpoint_url=query.get("endpoint"), region_name=query.get("region"))

    def _key(self, address: str) -> str:
        return f"{self.prefix}/{address}" if self.prefix else address

    def put(self, content: bytes) -> str:
        from botocore.exceptions import BotoCoreError, ClientError

        address = digest(content)
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(address), Body=content,
                                   ContentType="application/octet-stream")
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"cannot store {address} in s3://{self.bucket}: {exc}") from exc
        return address

    def get(self, address: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(address))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise KeyError(address) from None
            raise StorageUnavailable(str(exc)) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(str(exc)) from exc
        return _checked(address, answer["Body"].read())

    def check_config(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except (BotoCoreError, ClientError) as exc:
            raise StorageUnavailable(f"bucket {self.bucket}: {exc}") from exc


_stores: dict[str, BlobStore] = {}
_lock = threading.Lock()


def store(setting: str | None = None) -> BlobStore:
    """The configured store (one instance per setting and process)."""
    setting = setting or current_app.config["BLOB_STORE"]
    with _lock:
        found = _stores.get(setting)
        if found is None:
            name, _, options = setting.partition(":")
            if name == "database":
                found = DatabaseStore()
            elif name == "filesystem":
                found = FilesystemStore(options)
            elif name == "s3":
                found = S3Store(options)
            else:
                raise ValueError(f"unknown blob store {name!r}: use database, filesystem:PATH or s3:BUCKET?…")
            _stores[setting] = found
    return found


def put(content: bytes) -> str:
    return store().put(content)


def get(address: str) -> bytes:
    return store().get(address)

