"""From a received parcel to a decided case, over HTTP, as the registry, a case officer and the resident do it."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient
from lxml import etree
from sqlalchemy import select

from backoffice_adapter import outbox
from portal.desk.models import DeskCase, IncomingParcel, OutgoingLetter
from portal.extensions import db
from portal.forms.models import Draft
from portal.inbox import service as inbox
from portal.signing import service as signing
from portal.signing import verify
from portal.status import service as status
from tests.desk.conftest import a_pdf
from tests.factories import make_submission, signed_by_trusted_profile
from tests.helpers import csrf_token, login_resident

TODAY = date.today()


def received(app: Flask, pki: Path) -> tuple[str, int]:
    with app.app_context():
        submission = make_submission(pki)
        outbox.run_once()
        parcel = db.session.scalar(select(IncomingParcel))
        return submission.id, parcel.id


def test_from_received_to_decided(app: Flask, catalog: None, pki: Path, client: FlaskClient,
                                  clerk_client: Callable[[str], FlaskClient], sealed_pdf: Callable[..., bytes],
                                  tmp_path: Path) -> None:
    submission_id, parcel_id = received(app, pki)
    registry = clerk_client("k.zielinska")
    register = registry.get("/urzad/?nieprzeczytane=on").get_data(as_text=True)
    assert "RPW/1/" in register and "Jan Kowalski" in register
    assert "RPW/1/" not in registry.get("/urzad/?q=Nowak").get_data(as_text=True)

    # Dekretacja: the registry assigns the parcel to Marek Wójcik of OR.
    page = registry.get(f"/urzad/rpw/{parcel_id}")
    assert page.status_code == 200
    with app.app_context():
        from portal.auth.models import Clerk

        wojcik = db.session.scalar(select(Clerk).where(Clerk.username == "m.wojcik"))
        wojcik_id = wojcik.id if wojcik else None
    if wojcik_id is None:  # the clerk has never logged in: the registry cannot pick them yet
        clerk_client("m.wojcik")
        with app.app_context():
            wojcik_id = db.session.scalar(select(Clerk.id).where(Clerk.username == "m.wojcik"))
    token = csrf_token(registry, f"/urzad/rpw/{parcel_id}")
    answer = registry.post(f"/urzad/rpw/{parcel_id}/dekretacja",
                           data={"csrf_token": token, "assign-unit": "OR", "assign-clerk": str(wojcik_id)})
    assert answer.status_code == 302

    # The case officer opens a case: znak sprawy OR.0152.1.<year>.
    officer = clerk_client("m.wojcik")
    assert "RPW/1/" in officer.get("/urzad/?moje=on").get_data(as_text=True)
    token = csrf_token(officer, f"/urzad/rpw/{parcel_id}")
    answer = officer.post(f"/urzad/rpw/{parcel_id}/sprawa", data={"csrf_token": token, "case-title": "Naprawa"})
    assert answer.status_code == 302
    with app.app_context():
        case = db.session.scalar(select(DeskCase))
        case_id, reference = case.id, case.reference
    assert reference == f"OR.0152.1.{TODAY.year}"

    # A call to supplement: fewer than 7 days is refused with the reason next to the field.
    case_url = f"/urzad/sprawy/{case_id}"
    token = csrf_token(officer, case_url)
    short = officer.post(f"{case_url}/wezwanie", data={
        "csrf_token": token, "supplement-message": "Proszę dołączyć pełnomocnictwo.",
        "supplement-due": (TODAY + timedelta(days=3)).isoformat()})
    assert short.status_code == 400 and "co najmniej 7 dni" in short.get_data(as_text=True)
    assert officer.post(f"{case_url}/wezwanie", data={
        "csrf_token": token, "supplement-message": "Proszę dołączyć pełnomocnictwo.",
        "supplement-due": (TODAY + timedelta(days=8)).isoformat()}).status_code == 302

    # The resident sees the call and who opened the case, and supplements in the portal.
    login_resident(client)
    resident_page = client.get(f"/moje-sprawy/{submission_id}").get_data(as_text=True)
    assert "Proszę dołączyć pełnomocnictwo." in resident_page and reference in resident_page
    assert "Marek Wójcik" in resident_page and "Katarzyna Zielińska" in resident_page
    token = csrf_token(client, f"/moje-sprawy/{submission_id}")
    started = client.post(f"/moje-sprawy/{submission_id}/uzupelnij", data={"csrf_token": token})
    assert started.status_code == 302 and "/krok/" in started.headers["Location"]
    draft_id = started.headers["Location"].split("/wnioski/")[1].split("/")[0]
    with app.app_context():
        draft = db.session.get(Draft, draft_id)
        assert draft.reply_to == submission_id and reference in draft.values["tytul"]
        draft.values = {**draft.values, "tresc": "W załączeniu pełnomocnictwo."}
        db.session.commit()
        signed = signed_by_trusted_profile(draft, pki)
        supplement = inbox.accept(draft, signed, signing.check(draft, signed))
        outbox.run_once()
        parcel = db.session.scalar(select(IncomingParcel).where(IncomingParcel.submission_id == supplement.id))
        assert parcel.case_id == case_id  # joined the case by itself
        case = db.session.get(DeskCase, case_id)
        assert case.open_supplement is None and case.supplements[0].fulfilled_submission_id == supplement.id
    assert "Pismo uzupełnione" in client.get(f"/moje-sprawy/{submission_id}").get_data(as_text=True)
    reply_page = client.get(f"/moje-sprawy/{supplement.id}").get_data(as_text=True)
    assert "Dotyczy sprawy" in reply_page and reference in reply_page and "Termin załatwienia" not in reply_page

    # A notice of delay, then the decision: an unsigned file is refused, a sealed one is sent.
    token = csrf_token(officer, case_url)
    assert officer.post(f"{case_url}/zwloka", data={
        "csrf_token": token, "delay-reason": "Czekamy na opinię zarządcy drogi.",
        "delay-new_date": (TODAY + timedelta(days=30)).isoformat()}).status_code == 302
    refused = officer.post(f"{case_url}/pismo", content_type="multipart/form-data", data={
        "csrf_token": token, "letter-kind": "decision", "letter-title": "Decyzja", "letter-summary": "Zgoda.",
        "letter-file": (io.BytesIO(a_pdf()), "decyzja.pdf")})
    assert refused.status_code == 400 and "nie jest ważny" in refused.get_data(as_text=True)
    sent = officer.post(f"{case_url}/pismo", content_type="multipart/form-data", data={
        "csrf_token": token, "letter-kind": "decision", "letter-title": "Decyzja w sprawie naprawy chodnika",
        "letter-summary": "Urząd naprawi chodnik do końca roku.",
        "letter-file": (io.BytesIO(sealed_pdf()), "decyzja.pdf")})
    assert sent.status_code == 302, sent.get_data(as_text=True)

    # The resident opens the letter: that is its delivery, certified by a sealed UPD.
    resident_page = client.get(f"/moje-sprawy/{submission_id}").get_data(as_text=True)
    assert "Decyzja w sprawie naprawy chodnika" in resident_page and "Urząd naprawi chodnik" in resident_page
    assert "Nowy termin załatwienia sprawy" in resident_page
    with app.app_context():
        letter_id = db.session.scalar(select(OutgoingLetter.id))
    opened = client.get(f"/moje-sprawy/{submission_id}/pisma/{letter_id}")
    assert opened.status_code == 200 and opened.data.startswith(b"%PDF")
    upd = client.get(f"/moje-sprawy/{submission_id}/pisma/{letter_id}/upd.xml").data
    assert client.get(f"/moje-sprawy/{submission_id}/pisma/{letter_id}/upd.xml").data == upd  # made once
    with app.test_request_context():
        verdict = verify.verify(upd, signing.policy(), require_person=False)
    assert verdict.valid, verdict.reasons
    root = etree.fromstring(upd)
    assert root.findtext("{*}UPD/{*}IdentyfikatorSprawy") == reference and root.findtext("{*}UPD/{*}DataOdbioru")
    assert "odebrane" in officer.get(case_url).get_data(as_text=True)

    # Closing, and the case file: every document with its digest in the manifest.
    token = csrf_token(officer, case_url)
    assert officer.post(f"{case_url}/zakoncz", data={"csrf_token": token,
                                                     "close-reason": "Wydano decyzję."}).status_code == 302
    archive = zipfile.ZipFile(io.BytesIO(officer.get(f"{case_url}/akta.zip").data))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["case_reference"] == reference and manifest["status"] == "closed"
    import hashlib

    assert len(manifest["files"]) >= 6
    for entry in manifest["files"]:
        assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
    csv = registry.get("/urzad/rejestr.csv").get_data(as_text=True)
    assert reference in csv and csv.count("\n") == 3  # header and two parcels
    with app.app_context():
        kinds = [e.kind for e in status.timeline(submission_id)]
    assert kinds[-1] == status.STATUS_CHANGED and status.DECISION in kinds and status.SUPPLEMENTED in kinds


def test_a_tampered_or_untrusted_letter_is_not_sent(app: Flask, catalog: None, pki: Path,
                                                    clerk_client: Callable[[str], FlaskClient],
                                                    sealed_pdf: Callable[..., bytes]) -> None:
    _, parcel_id = received(app, pki)
    officer = clerk_client("e.kaczmarek")
    token = csrf_token(officer, f"/urzad/rpw/{parcel_id}")
    officer.post(f"/urzad/rpw/{parcel_id}/sprawa", data={"csrf_token": token, "case-title": "Sprawa"})
    with app.app_context():
        case_id = db.session.scalar(select(DeskCase.id))
    tampered = sealed_pdf() + b"\n% appended after signing\n"
    answer = officer.post(f"/urzad/sprawy/{case_id}/pismo", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(officer, f"/urzad/sprawy/{case_id}"), "letter-kind": "answer",
        "letter-title": "Odpowiedź", "letter-file": (io.BytesIO(tampered), "odpowiedz.pdf")})
    page = answer.get_data(as_text=True)
    assert answer.status_code == 400 and "changed after it was signed" in page
    with app.app_context():
        assert db.session.scalar(select(OutgoingLetter.id)) is None


def test_letters_signed_by_a_clerk_in_xades_or_pades_are_accepted(ctx: None, pki: Path) -> None:
    from portal.desk import letters
    from sandbox import qualified

    cert, key = (pki / "clerks" / "m.wojcik.pem").read_bytes(), (pki / "clerks" / "m.wojcik.key").read_bytes()
    xml = qualified.sign(b"<Pismo><Tresc>Odpowiedz na wniosek.</Tresc></Pismo>", cert, key)
    pdf = qualified.sign_pdf(a_pdf("Odpowiedz"), cert, key)
    for signed, kind in ((xml, "XAdES"), (pdf, "PAdES")):
        verdict = letters.check_signed_file(signed)
        assert verdict["valid"] and verdict["format"] == kind and verdict["signer"]["name"] == "Marek Wójcik", verdict
    forged = xml.replace(b"Odpowiedz na wniosek.", b"Odmowa.")
    assert not letters.check_signed_file(forged)["valid"]
