"""Plain factory functions for test data, each named by the state it makes."""

from __future__ import annotations

from pathlib import Path

from portal.auth import pii
from portal.auth.models import Resident
from portal.extensions import db
from portal.forms import service as forms
from portal.forms.models import Draft, EService
from portal.inbox import service as inbox
from portal.inbox.models import Submission
from portal.signing import service as signing
from sandbox import people
from sandbox.tpsigning import xades as sandbox_xades


def make_resident(pesel: str = "80010112357") -> Resident:
    person = people.resident(pesel)
    assert person is not None
    resident = Resident(pesel_index=pii.blind_index(pesel), pesel_encrypted=pii.encrypt(pesel),
                        given_name=person.given_name, family_name=person.family_name,
                        address=person.address_claim())
    db.session.add(resident)
    db.session.commit()
    return resident


def make_draft(resident: Resident, slug: str = "pismo-ogolne", **values: str) -> Draft:
    eservice = db.session.query(EService).filter_by(slug=slug, current=True).one()
    draft = forms.start_draft(resident, eservice)
    draft.values = {"rodzaj": "wniosek", "tytul": "Wniosek", "tresc": "Proszę o naprawę.", "miejscowosc": "Leszno",
                    **values}
    db.session.commit()
    return draft


def signed_by_trusted_profile(draft: Draft, pki: Path, pesel: str | None = None) -> bytes:
    """What the sandbox TpSigning5 returns for this draft, signed by the given person (default: its resident)."""
    document = forms.prepare_document(draft)
    person = people.resident(pesel or inbox_pesel(draft))
    assert person is not None
    return sandbox_xades.sign(document, person, (pki / "tp-seal.pem").read_bytes(), (pki / "tp-seal.key").read_bytes())


def inbox_pesel(draft: Draft) -> str:
    return pii.decrypt(draft.resident.pesel_encrypted)


def make_submission(pki: Path, resident: Resident | None = None, **values: str) -> Submission:
    draft = make_draft(resident or make_resident(), **values)
    signed = signed_by_trusted_profile(draft, pki)
    return inbox.accept(draft, signed, signing.check(draft, signed))
