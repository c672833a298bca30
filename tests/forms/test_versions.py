from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.extensions import db
from portal.forms import service
from portal.forms.models import Draft, EService
from tests.helpers import csrf_token, local, login_resident, sign_with_trusted_profile, start_letter

CATALOG = Path(__file__).resolve().parents[2] / "catalog"


def test_a_new_version_never_breaks_an_open_draft(app: Flask, client: FlaskClient, catalog: None,
                                                  tmp_path: Path) -> None:
    browser = login_resident(client)
    draft_id = start_letter(client, {"tytul": "Zaczęte przed zmianą"})
    folder = tmp_path / "pismo-ogolne"
    shutil.copytree(CATALOG / "pismo-ogolne", folder)
    data = yaml.safe_load((folder / "usluga.yaml").read_text(encoding="utf-8"))
    loaded = data["version"]  # the demo catalog's own version, whatever it is now
    data["version"] = "2.0.0"
    data["steps"][0]["fields"][1]["label"]["pl"] = "Temat pisma"
    (folder / "usluga.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with app.app_context():
        report = service.load_catalog(tmp_path)
        assert report.added == ["pismo-ogolne 2.0.0"] and not report.errors
        rows = db.session.scalars(select(EService).where(EService.slug == "pismo-ogolne"))
        versions = {e.version: e.current for e in rows}
        assert versions == {loaded: False, "2.0.0": True}
        assert db.session.get(Draft, draft_id).eservice.version == loaded
    # the open draft is finished and filed under the version it was started with
    filed = sign_with_trusted_profile(client, browser, draft_id)
    assert "zlozono=1" in filed.headers["Location"]
    # a new draft gets the new version
    token = csrf_token(client, "/uslugi/pismo-ogolne")
    step = local(client.post("/uslugi/pismo-ogolne/rozpocznij", data={"csrf_token": token}).headers["Location"])
    assert "Temat pisma" in client.get(step).get_data(as_text=True)


def test_the_same_version_with_other_content_is_refused(app: Flask, catalog: None, tmp_path: Path) -> None:
    folder = tmp_path / "pismo-ogolne"
    shutil.copytree(CATALOG / "pismo-ogolne", folder)
    text = (folder / "usluga.yaml").read_text(encoding="utf-8").replace("Tytuł pisma", "Temat")
    (folder / "usluga.yaml").write_text(text, encoding="utf-8")
    with app.app_context():
        report = service.load_catalog(tmp_path)
        assert report.added == [] and "raise the version number" in str(report.errors[0])
