from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.backoffice_adapter.office import OfficeEndpoint


@pytest.fixture
def configure(app: Flask) -> Iterator[Any]:
    """Change the session app's settings for one test; they are put back afterwards."""
    saved: dict[str, Any] = {}

    def change(**settings: Any) -> None:
        for key, value in settings.items():
            saved.setdefault(key, app.config.get(key))
            app.config[key] = value

    yield change
    app.config.update(saved)


@pytest.fixture
def office(configure: Any) -> Iterator[OfficeEndpoint]:
    """The office's webhook endpoint, with every submission routed to it."""
    endpoint = OfficeEndpoint(secrets.token_hex(32))
    configure(DELIVERY_ADAPTERS="webhook", WEBHOOK_URL=endpoint.url, WEBHOOK_SECRET=endpoint.secret)
    yield endpoint
    endpoint.close()
