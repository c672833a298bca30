"""Resident login against an OpenID provider nobody here wrote: the npm package oidc-provider."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from flask import Flask
from lxml import html
from sqlalchemy import select

from portal.auth import pii
from portal.auth.models import Resident
from portal.extensions import db
from tests.conftest import free_port, wait_for
from tests.helpers import local

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def foreign_provider(app_config: dict[str, Any]) -> Iterator[str]:
    node = shutil.which("node")
    if node is None or not (REPO / "node_modules" / "oidc-provider").exists():
        pytest.fail("node and the npm package oidc-provider are needed (make test installs them)")
    port = free_port()
    base = app_config["BASE_URL"]
    env = {**os.environ, "PORT": str(port), "CLIENT_ID": "okienko-interop", "CLIENT_SECRET": "interop-secret-1234",
           "REDIRECT_URI": f"{base}/logowanie/powrot", "POST_LOGOUT_URI": f"{base}/"}
    process = subprocess.Popen([node, str(REPO / "tests" / "interop" / "oidc_provider.mjs")], env=env, cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    issuer = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{issuer}/.well-known/openid-configuration")
        yield issuer
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def interop_app(other_app: Any, foreign_provider: str) -> Flask:
    """A second portal instance on the same (migrated) database, pointed at the foreign provider."""
    return other_app(RESIDENT_OIDC_ISSUER=foreign_provider, RESIDENT_OIDC_CLIENT_ID="okienko-interop",
                     RESIDENT_OIDC_CLIENT_SECRET="interop-secret-1234")


def test_resident_signs_in_through_oidc_provider(interop_app: Flask) -> None:
    client = interop_app.test_client()
    start = client.get("/logowanie?next=/konto")
    assert start.status_code == 302
    browser = requests.Session()
    response = browser.get(start.headers["Location"], timeout=10)
    callback = None
    for _ in range(6):  # the provider's own pages: login, then consent
        page = html.fromstring(response.content, base_url=response.url)
        form = page.xpath("//form")[0]
        data = dict(form.form_values())
        data.update({k: v for k, v in (("login", "80010112357"), ("password", "any")) if k in form.inputs})
        response = browser.post(urljoin(response.url, form.get("action")), data=data, allow_redirects=False,
                                timeout=10)
        while response.status_code in (302, 303):
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(interop_app.config["BASE_URL"]):
                callback = location
                break
            response = browser.get(location, allow_redirects=False, timeout=10)
        if callback:
            break
    assert callback is not None, "the provider never sent the browser back"
    landed = client.get(local(callback))
    assert landed.status_code == 302 and landed.headers["Location"] == "/konto", landed.get_data(as_text=True)
    with interop_app.app_context():
        resident = db.session.scalar(select(Resident).where(Resident.pesel_index == pii.blind_index("80010112357")))
        assert resident is not None and resident.full_name == "Jan Kowalski"
        assert resident.address["locality"] == "Leszno"
    assert "Jan Kowalski" in client.get("/konto").get_data(as_text=True)
