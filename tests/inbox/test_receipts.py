"""Receipts anyone can check: XAdES-T seals, the sealed PDF, the command line and the public page."""

from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from lxml import etree

from portal.extensions import db
from portal.inbox import service as inbox
from portal.inbox.models import Submission
from portal.signing import verify
from tests.conftest import free_port
from tests.factories import make_submission
from tests.pdfs import inspect

XADES = "http://uri.etsi.org/01903/v1.3.2#"
OKIENKO = str(Path(sys.executable).with_name("okienko"))


def test_the_receipt_is_time_stamped_by_the_tsa(ctx: None, catalog: None, pki: Path) -> None:
    submission = make_submission(pki)
    root = etree.fromstring(submission.upo)
    assert root.find(f".//{{{XADES}}}SignatureTimeStamp/{{{XADES}}}EncapsulatedTimeStamp") is not None
    verdict = verify.verify(submission.upo, verify.Policy.from_pem_files(pki / "ca.pem", revocation_mode="offline"),
                            require_person=False)
    assert verdict.valid and verdict.timestamp is not None


def test_a_forged_time_stamp_makes_the_seal_indeterminate(ctx: None, catalog: None, pki: Path) -> None:
    submission = make_submission(pki)
    root = etree.fromstring(submission.upo)
    token = root.find(f".//{{{XADES}}}EncapsulatedTimeStamp")
    raw = bytearray(base64.b64decode(token.text))
    raw[-10] ^= 0xFF
    token.text = base64.b64encode(bytes(raw)).decode()
    verdict = verify.verify(etree.tostring(root), verify.Policy.from_pem_files(pki / "ca.pem",
                                                                                revocation_mode="offline"),
                            require_person=False)
    assert verdict.indication == verify.INDETERMINATE and verdict.reasons == ["timestamp"]


def test_with_the_tsa_down_the_receipt_is_still_issued(other_app: Any, catalog: None, pki: Path) -> None:
    with other_app(TSA_URL=f"http://127.0.0.1:{free_port()}/tsa").app_context():
        submission = make_submission(pki)
        assert submission.upo is not None
        assert etree.fromstring(submission.upo).find(f".//{{{XADES}}}SignatureTimeStamp") is None


def test_the_receipt_pdf_is_sealed_and_verifies_with_pdfsig(ctx: None, catalog: None, pki: Path,
                                                          tmp_path: Path) -> None:
    submission = make_submission(pki)
    path = tmp_path / "upo.pdf"
    path.write_bytes(inbox.receipt_pdf(submission))
    result = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True)
    assert "Signature is Valid." in result.stdout, result.stdout + result.stderr
    assert "Total document signed" in result.stdout


def test_the_receipt_pdf_is_tagged_for_screen_readers_and_stays_so_when_sealed(ctx: None, catalog: None, pki: Path,
                                                                              tmp_path: Path) -> None:
    submission = make_submission(pki)
    pdf = inspect(inbox.receipt_pdf(submission), tmp_path)
    assert pdf.tagged and pdf.lang == "pl" and pdf.pdfua_part == "1"
    assert pdf.title == pdf.xmp_title == f"UPO {submission.receipt_id}" and pdf.display_doc_title
    assert [h.text for h in pdf.root.all("H1")] == ["Urzędowe poświadczenie przedłożenia (UPO)"]
    (table,) = pdf.root.all("Table")
    facts = {row.all("TH")[0].text: row.all("TD")[0].text for row in table.all("TR")}
    assert facts["Identyfikator poświadczenia"] == submission.receipt_id
    assert facts["Kod dostępu do sprawy"] == inbox.access_code(submission.receipt_id)
    assert facts["Skrót SHA-256 dokumentu"] == submission.document_sha256
    assert all(str(th.attributes.get("Scope")) == "/Row" for th in table.all("TH"))
    assert all({str(h) for h in td.attributes["Headers"]} <= pdf.ids for td in table.all("TD")), \
        "every cell names its row header, and the ID tree finds it"
    (code,) = pdf.root.all("Figure")
    assert code.alt and "weryfikacja" in code.alt


def test_receipt_verify_on_the_command_line(app: Flask, app_config: dict, catalog: None, pki: Path,
                                            tmp_path: Path) -> None:
    with app.app_context():
        submission = make_submission(pki)
        (tmp_path / "upo.xml").write_bytes(submission.upo)
        (tmp_path / "document.xml").write_bytes(submission.document)
        receipt_id = submission.receipt_id
    (tmp_path / "other.xml").write_bytes(b"<other/>")
    env = {"PORTAL_DATABASE_URL": app_config["DATABASE_URL"], "PORTAL_SECRET_KEY": "x", "PORTAL_PII_KEY": "eA==",
           "PORTAL_TRUST_ANCHORS": str(pki / "ca.pem"), "PORTAL_REVOCATION_MODE": "offline", "PATH": "/usr/bin:/bin"}
    command = [OKIENKO, "receipt", "verify", str(tmp_path / "upo.xml"), "--json"]
    good = subprocess.run([*command, "--document", str(tmp_path / "document.xml")], env=env, capture_output=True,
                          text=True)
    assert good.returncode == 0, good.stderr
    report = json.loads(good.stdout)
    assert report["valid"] and report["document_matches"] and report["receipt_id"] == receipt_id
    assert report["filed_at"]
    bad = subprocess.run([*command, "--document", str(tmp_path / "other.xml")], env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and json.loads(bad.stdout)["document_matches"] is False


def test_the_public_page_checks_an_uploaded_receipt_and_its_document(app: Flask, client: FlaskClient,
                                                                    catalog: None, pki: Path) -> None:
    with app.app_context():
        submission = make_submission(pki)
        upo, document = submission.upo, submission.document
    token = client.get("/weryfikacja").get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    answer = client.post("/weryfikacja", data={"csrf_token": token, "upo": (io.BytesIO(upo), "upo.xml"),
                                               "dokument": (io.BytesIO(document), "dokument.xml")},
                         content_type="multipart/form-data")
    page = answer.get_data(as_text=True)
    assert "Poświadczenie jest prawidłowe" in page and "to ten dokument, który poświadczono" in page
    forged = upo.replace(b"<DataDoreczenia>", b"<DataDoreczenia>1")
    answer = client.post("/weryfikacja", data={"csrf_token": token, "upo": (io.BytesIO(forged), "upo.xml")},
                         content_type="multipart/form-data")
    page = answer.get_data(as_text=True)
    assert "Poświadczenie nie jest prawidłowe" in page
    reasons = page.split('<ul><li>')[1].split("</ul>")[0]
    polish = {pl for pl, _ in verify.REASONS.values()}
    assert any(text in reasons for text in polish), f"the reasons are given in Polish: {reasons}"


def test_lookup_by_identifier_and_code_does_not_tell_which_was_wrong(app: Flask, client: FlaskClient,
                                                                    catalog: None, pki: Path) -> None:
    with app.app_context():
        submission = make_submission(pki)
        receipt_id, code = submission.receipt_id, inbox.access_code(submission.receipt_id)
    found = client.get(f"/weryfikacja?upo={receipt_id}&kod={code}").get_data(as_text=True)
    assert "Znaleźliśmy poświadczenie" in found and "Pismo ogólne do urzędu" in found and "Kowalski" not in found
    wrong_code = client.get(f"/weryfikacja?upo={receipt_id}&kod=AAAAA-AAAAA").get_data(as_text=True)
    wrong_id = client.get(f"/weryfikacja?upo=OK-2026-ZZZZZZZZ&kod={code}").get_data(as_text=True)
    assert "Nie znaleźliśmy poświadczenia" in wrong_code and "Nie znaleźliśmy poświadczenia" in wrong_id
    assert client.get(f"/api/upo/{receipt_id}?kod={code}").json["receipt_id"] == receipt_id
    assert client.get(f"/api/upo/{receipt_id}?kod=AAAAA-AAAAA").status_code == 404
    api = client.post("/api/upo/weryfikacja", data={"upo": (io.BytesIO(client.get(
        f"/weryfikacja/{receipt_id}/upo.xml?kod={code}").data), "upo.xml")}, content_type="multipart/form-data")
    assert api.json["valid"] is True and api.json["receipt_id"] == receipt_id
    with app.app_context():
        assert db.session.get(Submission, submission.id) is not None
