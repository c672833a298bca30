"""Personal identification numbers at rest: encrypted, found through a keyed index, masked for display."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_VERSION = "v1"


def _derive(label: bytes, setting: str = "PII_KEY") -> bytes:
    master = current_app.config.get(setting)
    if not master:
        raise RuntimeError(f"PORTAL_{setting} is not set; run `okienko keys init`")
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(base64.b64decode(master))


def blind_index(pesel: str, setting: str = "PII_KEY") -> str:
    """A keyed hash of the PESEL: equal numbers give equal indexes, the number cannot be read back."""
    return hmac.new(_derive(b"okienko pesel index", setting), pesel.encode(), hashlib.sha256).hexdigest()


def previous_index(pesel: str) -> str | None:
    """The index under the key being rotated out (PORTAL_PII_KEY_PREVIOUS), if there is one."""
    return blind_index(pesel, "PII_KEY_PREVIOUS") if current_app.config.get("PII_KEY_PREVIOUS") else None


def encrypt(pesel: str) -> str:
    nonce = os.urandom(12)
    sealed = AESGCM(_derive(b"okienko pesel encryption")).encrypt(nonce, pesel.encode(), b"pesel")
    return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"


def decrypt(token: str) -> str:
    """The PESEL back, under the current key or (during a rotation) the previous one."""
    version, _, payload = token.partition(":")
    if version != _VERSION:
        raise ValueError(f"unknown PESEL encryption version {version!r}")
    raw = base64.b64decode(payload)
    settings = ["PII_KEY"] + (["PII_KEY_PREVIOUS"] if current_app.config.get("PII_KEY_PREVIOUS") else [])
    for setting in settings:
        try:
            return AESGCM(_derive(b"okienko pesel encryption", setting)).decrypt(raw[:12], raw[12:], b"pesel").decode()
        except InvalidTag:
            continue
    raise ValueError("the PESEL cannot be decrypted with the configured keys")


def mask(pesel: str) -> str:
    """What the interface shows: the date-of-birth part hidden, the last four digits kept."""
    return "•••••••" + pesel[-4:] if len(pesel) == 11 else "•••"


def is_valid_pesel(pesel: str) -> bool:
    if len(pesel) != 11 or not pesel.isdigit():
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    total = sum(int(d) * w for d, w in zip(pesel[:10], weights, strict=True))
    return (10 - total % 10) % 10 == int(pesel[10])
