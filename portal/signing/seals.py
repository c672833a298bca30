"""The office's seal: the current one that seals receipts and letters, and every certificate it has
used, so that a receipt is valid only when the office sealed it — and stays valid after a rotation."""

from __future__ import annotations

import hashlib
import time

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError

from portal.db_types import utcnow
from portal.extensions import db
from portal.signing import keys, trust
from portal.signing.models import OfficeSealCertificate


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def current() -> keys.Seal:
    """The seal to seal with now; its certificate joins the history in the caller's transaction.

    Recorded with every document sealed, not once per process: an insert that finds the row costs
    next to nothing, and a database restored from an older backup learns the certificate again."""
    seal = keys.load_seal(current_app.config["SEAL_CERT"], current_app.config["SEAL_KEY"])
    _record(seal.cert)
    return seal


def _record(cert: x509.Certificate) -> None:
    values = {"fingerprint": fingerprint(cert.public_bytes(serialization.Encoding.DER)),
              "subject": cert.subject.rfc4514_string(),
              "pem": cert.public_bytes(serialization.Encoding.PEM).decode(), "first_used_at": utcnow()}
    # Two processes may record the same certificate at once: the second insert does nothing, and
    # the receipt it is part of commits regardless.
    insert = postgresql_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(OfficeSealCertificate).values(**values).on_conflict_do_nothing(
        index_elements=["fingerprint"]))


_known: dict[str, tuple[float, tuple[bytes, ...]]] = {}
KNOWN_CACHE_SECONDS = 60


def known() -> tuple[bytes, ...]:
    """Every certificate (DER) the office's seal has used or may use: the configured one, the earlier
    ones of PORTAL_SEAL_CERTS and those the database remembers. Read at most once a minute."""
    config = current_app.config
    key = "|".join((config["SEAL_CERT"], config["SEAL_CERTS"], config["SQLALCHEMY_DATABASE_URI"]))
    cached = _known.get(key)
    if cached is not None and time.monotonic() - cached[0] < KNOWN_CACHE_SECONDS:
        return cached[1]
    found = list(trust.certificates_in(config["SEAL_CERT"])) + list(trust.certificates_in(config["SEAL_CERTS"]))
    try:
        found += [x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)
                  for pem in db.session.scalars(select(OfficeSealCertificate.pem))]
    except SQLAlchemyError:
        # No database to ask (a verification on a machine without one): the configured certificates
        # alone, not remembered.
        db.session.rollback()
        return tuple(dict.fromkeys(found))
    result = tuple(dict.fromkeys(found))
    _known[key] = (time.monotonic(), result)
    return result


def forget() -> None:
    _known.clear()
