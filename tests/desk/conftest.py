from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from reportlab.pdfgen import canvas

from portal.signing import pades
from tests.helpers import login_clerk


@pytest.fixture
def clerk_client(app: Flask) -> Callable[[str], FlaskClient]:
    """A browser session per clerk: `clerk_client("m.wojcik")`."""

    def make(username: str) -> FlaskClient:
        client = app.test_client()
        login_clerk(client, username)
        return client

    return make


def a_pdf(text: str = "Decyzja nr 1/2026") -> bytes:
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer)
    page.drawString(72, 720, text)
    page.save()
    return buffer.getvalue()


@pytest.fixture
def sealed_pdf(pki: Path) -> Callable[..., bytes]:
    """A letter sealed with the office's qualified e-seal (KPA art. 14 § 1a allows it for decisions)."""

    def make(text: str = "Decyzja nr 1/2026") -> bytes:
        return pades.seal(a_pdf(text), str(pki / "office-seal.pem"), str(pki / "office-seal.key"), "Decyzja")

    return make


def form(data: dict[str, Any], token: str) -> dict[str, Any]:
    return {"csrf_token": token, **data}
