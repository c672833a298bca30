"""The three document stores behind one interface: database, filesystem and S3 (a moto server on loopback)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from flask import Flask
from sqlalchemy import text

from portal.extensions import db
from portal.storage import service as storage
from tests.conftest import free_port


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "okienko-test")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "okienko-test")
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="eu-central-1").create_bucket(
        Bucket="okienko", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    yield endpoint
    server.stop()


@pytest.fixture(params=["database", "filesystem", "s3"])
def store(request: pytest.FixtureRequest, app: Flask, tmp_path: Path) -> Iterator[tuple[str, storage.BlobStore]]:
    setting = {
        "database": "database",
        "filesystem": f"filesystem:{tmp_path / 'blobs'}",
        "s3": "s3:okienko/dokumenty?endpoint={}&region=eu-central-1",
    }[request.param]
    if request.param == "s3":
        setting = setting.format(request.getfixturevalue("s3_endpoint"))
    with app.app_context():
        backend = storage.store(setting)
        backend.check_config()
        yield request.param, backend
        db.session.rollback()


def corrupt(kind: str, backend: Any, address: str) -> None:
    if kind == "database":
        db.session.execute(text("UPDATE blob SET content = :c WHERE sha256 = :a"), {"c": b"tampered", "a": address})
    elif kind == "filesystem":
        backend._path(address).write_bytes(b"tampered")
    else:
        backend.client.put_object(Bucket=backend.bucket, Key=backend._key(address), Body=b"tampered")


def test_bytes_are_stored_once_under_their_digest_and_checked_on_read(store: tuple[str, Any]) -> None:
    kind, backend = store
    content = "Zażółć gęślą jaźń".encode() * 100
    address = backend.put(content)
    assert address == storage.digest(content) and backend.put(content) == address
    assert backend.get(address) == content
    with pytest.raises(KeyError):
        backend.get(storage.digest(b"never stored"))
    corrupt(kind, backend, address)
    with pytest.raises(storage.BlobCorrupted):
        backend.get(address)


def test_an_unreachable_object_store_is_reported(app: Flask) -> None:
    with app.app_context():
        backend = storage.store(f"s3:okienko?endpoint=http://127.0.0.1:{free_port()}&region=eu-central-1")
        with pytest.raises(storage.StorageUnavailable):
            backend.put(b"x")
