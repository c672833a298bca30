"""`directory`: each parcel as a folder that an EZD imports from.

The folder `<PORTAL_DIRECTORY_PATH>/<receipt id>/` holds the signed document, the UPO, the
detached signature (if any), the attachments under `zalaczniki/` and `manifest.json` (metadata
and the SHA-256 of every file). It is written under a temporary name and renamed into place, so
an importer never sees half a parcel; a redelivery finds the folder and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from backoffice_adapter import filenames
from backoffice_adapter.base import BackOfficeAdapter, DeliveryError, DeliveryReceipt, Envelope, metadata, register


def _safe_name(name: str) -> str:
    """A file name that cannot leave its folder or trouble an importer on Windows."""
    cleaned = re.sub(r"[^\w.\- ]", "_", Path(name).name).strip(" .")
    return cleaned[:120] or "zalacznik"


def _write(path: Path, content: bytes) -> None:
    with path.open("wb") as file:
        file.write(content)
        file.flush()
        os.fsync(file.fileno())


def _fsync_dir(path: Path) -> None:
    handle = os.open(path, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


@register("directory")
class DirectoryAdapter(BackOfficeAdapter):
    def check_config(self) -> None:
        folder = Path(str(self.config.get("DIRECTORY_PATH", "")))
        if not str(folder) or not folder.is_absolute():
            raise ValueError("PORTAL_DIRECTORY_PATH must be an absolute folder path")

    def deliver(self, envelope: Envelope) -> DeliveryReceipt:
        self.check_config()
        root = Path(self.config["DIRECTORY_PATH"])
        final = root / envelope.receipt_id
        if (final / "manifest.json").exists():
            return DeliveryReceipt(adapter=self.name, reference=str(final))
        try:
            root.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{envelope.receipt_id}-", dir=root))
            try:
                files = self._fill(staging, envelope)
                manifest = {**metadata(envelope), "files": files}
                _write(staging / "manifest.json",
                       json.dumps(manifest, ensure_ascii=False, indent=2).encode())
                _fsync_dir(staging)
                os.rename(staging, final)  # atomic on one file system; fails if a parcel already landed
                _fsync_dir(root)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        except FileExistsError:
            pass
        except OSError as exc:
            if not (final / "manifest.json").exists():
                raise DeliveryError(f"could not write the parcel to {root}: {exc}") from exc
        return DeliveryReceipt(adapter=self.name, reference=str(final))

    @staticmethod
    def _fill(folder: Path, envelope: Envelope) -> list[dict[str, object]]:
        entries: list[tuple[str, str, bytes]] = [
            ("dokument.xml", "application/xml", envelope.document),
            (f"UPO-{envelope.receipt_id}.xml", "application/xml", envelope.upo),
        ]
        if envelope.detached_signature:
            entries.append(("dokument.xml.xades", "application/xml", envelope.detached_signature))
        used: set[str] = set()
        for attachment in envelope.attachments:
            name = filenames.unique(_safe_name(attachment.name), used)
            entries.append((f"zalaczniki/{name}", attachment.media_type, attachment.content))
        files = []
        for relative, media_type, content in entries:
            path = folder / relative
            path.parent.mkdir(exist_ok=True)
            _write(path, content)
            files.append({"path": relative, "media_type": media_type, "size": len(content),
                          "sha256": hashlib.sha256(content).hexdigest()})
        return files
