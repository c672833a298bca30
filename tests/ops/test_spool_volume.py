"""The retry spool and a filesystem document store on one volume: `okienko config check` says so."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.faults import SmallVolume

OKIENKO = Path(sys.executable).parent / "okienko"


def spool_warnings(blob_store: str, spool: Path) -> list[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    env.update(PORTAL_BLOB_STORE=blob_store, PORTAL_SPOOL_DIR=str(spool), PORTAL_SECRET_KEY="x" * 40,
               PORTAL_PII_KEY="A" * 43 + "=")
    ran = subprocess.run([str(OKIENKO), "config", "check", "--json"], env=env, cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    report = json.loads(ran.stdout)
    return [p for p in report["problems"] if p["setting"] == "PORTAL_SPOOL_DIR"]


def test_config_check_warns_when_the_spool_shares_the_document_stores_volume(small_volume: SmallVolume,
                                                                               tmp_path: Path) -> None:
    # Neither folder exists yet: the volume is that of the nearest folder that does.
    [found] = spool_warnings(f"filesystem:{small_volume.path}/blobs", small_volume.path / "spool")
    assert found["level"] == "warning" and "same volume" in found["problem"] and "another volume" in found["fix"]
    assert spool_warnings(f"filesystem:{small_volume.path}/blobs", tmp_path / "spool") == []  # another device
    assert spool_warnings("database", small_volume.path / "spool") == []
