"""Every way of trying a receipt id and access code — the two pages and the two APIs — answers any text
(non-ASCII letters, NUL, markup, very long strings) with "not found", never a server error, and a page
shows what was typed as text, never as markup. A non-ASCII code and a NUL in the id were server errors."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings

from tests.forms.strategies import hostile_text, unescaped_markup
from tests.helpers import csrf_token


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(receipt_id=hostile_text(100), code=hostile_text(60))
@example(receipt_id="/0", code="")  # found by a CI run: a redirect, not a 404
def test_any_text_as_receipt_id_and_code_is_simply_not_found(client: FlaskClient, receipt_id: str,
                                                             code: str) -> None:
    token = csrf_token(client, "/sprawdz-sprawe")
    page = client.post("/sprawdz-sprawe", data={"csrf_token": token, "upo": receipt_id, "kod": code})
    assert page.status_code == 404 and unescaped_markup(page.get_data(as_text=True)) == []
    checked = client.get("/weryfikacja", query_string={"upo": receipt_id, "kod": code})
    assert checked.status_code == 200 and unescaped_markup(checked.get_data(as_text=True)) == []
    api = client.post("/api/sprawy/sprawdz", json={"upo": receipt_id, "kod": code})
    assert api.status_code in (400, 404) and api.mimetype == "application/json"  # 400: blank id or code
    receipt = client.get(f"/api/upo/{quote(receipt_id, safe='')}", query_string={"kod": code})
    assert receipt.status_code == 404 and receipt.mimetype == "application/json"


@pytest.mark.parametrize("receipt_id", ["", "/", "/0", "0/", "//", "a/b", ".", "..", "/../weryfikacja", " "])
def test_a_receipt_id_with_slashes_or_dots_is_simply_not_found(client: FlaskClient, receipt_id: str) -> None:
    """Found on a fresh clone: `/api/upo/%2F0` answered 308, a redirect to the address with its slashes
    merged, where every other id is a JSON 404."""
    receipt = client.get(f"/api/upo/{quote(receipt_id, safe='')}", query_string={"kod": "ABCDE-FGHIJ"})
    assert receipt.status_code == 404 and receipt.mimetype == "application/json", (receipt.status_code,
                                                                                   receipt.headers)
