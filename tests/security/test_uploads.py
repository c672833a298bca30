"""Files from residents: judged by their content, kept under a name that says what they are, served back
only as downloads of their real type, refused whole when too large — nothing half-stored.

(A file over a service's own limit, and a file whose name lies, are in tests/forms/test_drafts_and_attachments.py.)
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from backoffice_adapter import outbox
from portal.desk.models import IncomingParcel
from portal.extensions import db
from portal.forms.models import DraftAttachment
from portal.inbox import service as inbox
from portal.inbox.models import Submission
from portal.signing import service as signing
from portal.storage.models import Blob
from tests.factories import signed_by_trusted_profile
from tests.forms.test_catalog_services import PDF, PNG
from tests.forms.test_drafts_and_attachments import attachments_step, upload
from tests.helpers import csrf_token, login_clerk, login_resident, start_letter

HTML = b"<!doctype html><html><body><script>fetch('/moje-sprawy').then(r=>r.text()).then(alert)</script></body></html>"
# A PDF that browsers would also render as a page if told it is HTML, with a ZIP appended (valid as both).
PDF_HTML_ZIP = PDF + HTML + b"PK\x03\x04" + b"\x00" * 26
PNG_WITH_SCRIPT = PNG + b"<script>alert(document.cookie)</script>"
JS = b"alert(document.cookie)\n"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'


def zip_bomb() -> bytes:
    """100 MB of zeros in ~100 kB: what an office-document upload would have to unpack."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/document.xml", b"\x00" * (100 * 1024 * 1024))
    return buffer.getvalue()


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        stored = db.session.scalar(select(func.count()).select_from(Blob)), \
            db.session.scalar(select(func.count()).select_from(DraftAttachment))
        db.session.remove()
    return stored


@pytest.mark.parametrize(("name", "content"), [
    ("strona.html", HTML), ("skrypt.js", JS), ("rysunek.svg", SVG), ("potwierdzenie.pdf", HTML),
    ("archiwum.zip", zip_bomb()), ("wniosek.docx", zip_bomb()), ("wniosek.odt", zip_bomb()),
])
def test_what_is_not_a_pdf_or_a_picture_is_refused_by_its_content(app: Flask, client: FlaskClient, catalog: None,
                                                                   name: str, content: bytes) -> None:
    """Office documents and archives are not accepted at all, so a ZIP bomb is never unpacked: it is
    refused by its first bytes, at once."""
    page = attachments_step(client)
    before = counts(app)
    started = time.monotonic()
    refused = upload(client, page, "oplata", name, content)
    assert time.monotonic() - started < 5
    assert refused.status_code == 400
    assert f"Plik „{name}” nie jest plikiem dozwolonego typu (rozpoznany typ: nieznany)." in \
        refused.get_data(as_text=True)
    assert counts(app) == before


@pytest.mark.parametrize(("name", "content", "kept_as", "media_type"), [
    ("skan.html", PDF_HTML_ZIP, "skan.pdf", "application/pdf"),
    ("przelew.png", PNG_WITH_SCRIPT, "przelew.png", "image/png"),
    ("zdjecie.htm", PNG_WITH_SCRIPT, "zdjecie.png", "image/png"),
])
def test_a_polyglot_is_kept_as_what_it_starts_as_and_only_ever_downloaded(
        app: Flask, client: FlaskClient, catalog: None, pki: Path, name: str, content: bytes, kept_as: str,
        media_type: str) -> None:
    """A file valid as two formats is taken for its leading type, named for it, and the office gets it only as
    a download of that type (never rendered by the browser: nosniff, attachment, the portal's CSP)."""
    page = attachments_step(client)
    assert upload(client, page, "oplata", name, content).status_code == 302
    assert f"Dołączono plik {kept_as}." in client.get(page).get_data(as_text=True)
    with app.app_context():
        attachment = db.session.scalar(select(DraftAttachment))
        assert (attachment.filename, attachment.media_type) == (kept_as, media_type)
        draft = attachment.draft
        draft.values = {**draft.values, "rodzaj": "niezaleganie w podatkach"}
        signed = signed_by_trusted_profile(draft, pki)
        inbox.accept(draft, signed, signing.check(draft, signed))
        outbox.run_once()
        parcel = db.session.scalar(select(IncomingParcel))
        parcel_id, sha256 = parcel.id, parcel.attachments[0]["sha256"]
    registry = app.test_client()
    login_clerk(registry, "k.zielinska")
    served = registry.get(f"/urzad/rpw/{parcel_id}/zalaczniki/{sha256}")
    assert served.status_code == 200 and served.data == content
    assert served.mimetype == media_type
    assert served.headers["Content-Disposition"].startswith("attachment") and kept_as in \
        served.headers["Content-Disposition"]
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "script-src 'self'" in served.headers["Content-Security-Policy"]


def _post_file(client: FlaskClient, path: str, token_page: str, field: str, size: int,
               extra: dict[str, str] | None = None) -> Any:
    # Encoded in memory: the test client would otherwise spool a large body to a file it never closes.
    boundary, body = encode_multipart(MultiDict({
        "csrf_token": csrf_token(client, token_page), **(extra or {}),
        field: FileStorage(io.BytesIO(b"%PDF-1.4\n" + b"0" * size), "duzy.pdf")}))
    return client.post(path, data=body, content_type=f"multipart/form-data; boundary={boundary}")


def test_a_request_over_the_body_limit_gets_the_413_page_and_stores_nothing(other_app: Any, catalog: None) -> None:
    small = other_app(MAX_UPLOAD_MB=1)
    client = small.test_client()
    page = attachments_step(client)
    before = counts(small)
    answer = _post_file(client, page, page, "plik-oplata", 2 * 1024 * 1024, {"_akcja": "wyslij:oplata"})
    assert answer.status_code == 413
    text = answer.get_data(as_text=True)
    assert "Plik jest zbyt duży" in text and "Wyślij mniejszy plik." in text and '<html lang="pl">' in text
    assert counts(small) == before
    # the public receipt check, without a session, answers the same way
    anonymous = small.test_client()
    assert _post_file(anonymous, "/weryfikacja", "/weryfikacja", "upo", 2 * 1024 * 1024).status_code == 413


def test_a_signed_file_over_its_own_limit_is_refused_whole(app: Flask, client: FlaskClient, catalog: None) -> None:
    """10 MB for a signed document (below the 20 MB body limit): refused with the limit named, nothing filed."""
    login_resident(client)
    draft_id = start_letter(client)
    client.get(f"/wnioski/{draft_id}/podpis/dokument.xml")
    before = counts(app)
    answer = _post_file(client, f"/wnioski/{draft_id}/podpis/kwalifikowany", f"/wnioski/{draft_id}/podpis",
                        "podpisany", 10 * 1024 * 1024)
    assert answer.status_code == 400
    assert "Podpisany plik może mieć najwyżej 10 MB." in answer.get_data(as_text=True)
    assert counts(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Submission)) == 0
