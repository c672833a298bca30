"""The filesystem store on a volume that is really full (a small tmpfs, filled)."""

from __future__ import annotations

import os

import pytest

from portal.storage import service as storage
from tests.faults import SmallVolume


def test_a_full_disk_refuses_every_object_and_leaves_no_temporary_file(small_volume: SmallVolume) -> None:
    store = storage.FilesystemStore(str(small_volume.path / "blobs"))
    kept = store.put(b"stored before the disk filled up")
    small_volume.fill()
    for _ in range(300):  # as many refused documents as one full-disk afternoon brings, each its own address
        with pytest.raises(storage.StorageUnavailable, match="No space left on device"):
            store.put(os.urandom(6000))
    assert small_volume.files(".incoming-*") == []
    small_volume.release()
    assert store.get(kept) == b"stored before the disk filled up"
    assert store.get(store.put(b"and stored again once there is room")) == b"and stored again once there is room"
