"""The page checks of tests/pages.py catch what they are for: each bad page below fails the request that fetched it."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.pages import PageCheckingClient

GOOD_FORM = '<form method="post" action="/send"><input type="hidden" name="csrf_token" value="t"></form>'


def page(title: str = "Strona — Urząd", body: str = "") -> str:
    return f"<!doctype html><html><head><title>{title}</title></head><body><main>{body}</main></body></html>"


@pytest.fixture
def serve() -> PageCheckingClient:
    app = Flask(__name__)
    app.test_client_class = PageCheckingClient
    app.add_url_rule("/send", "send", lambda: "", methods=["POST"])
    app.add_url_rule("/only-get", "only_get", lambda: "")

    pages: dict[str, str] = {}
    app.add_url_rule("/page/<name>", "page", lambda name: pages[name], methods=["GET", "POST"])
    client = app.test_client()
    client.pages = pages  # type: ignore[attr-defined]  # the test writes the page it then fetches
    return client  # type: ignore[return-value]


@pytest.mark.parametrize(("html", "problem"), ids=["title", "ids", "error-link", "csrf", "route", "method"], argvalues=[
    (page(title=" — Urząd"), "the <title> does not name the page"),
    (page(body='<p id="a"></p><p id="a"></p>'), "the id 'a' is used 2 times"),
    (page(body='<div class="error-summary"><ul><li><a href="#email">Wpisz adres</a></li></ul></div>'),
     "the error summary links to #email"),
    (page(body='<form method="post" action="/send"></form>'), "has no CSRF token"),
    (page(body=GOOD_FORM.replace("/send", "/nowhere")), "no route has this URL"),
    (page(body=GOOD_FORM.replace("/send", "/only-get")), "its route does not take POST"),
])
def test_a_page_that_fails_a_check_fails_the_request(serve: PageCheckingClient, html: str, problem: str) -> None:
    serve.pages["bad"] = html  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="fails its checks") as failure:
        serve.get("/page/bad")
    assert problem in str(failure.value)


def test_a_sound_page_is_read_as_a_page(serve: PageCheckingClient) -> None:
    serve.pages["good"] = page(body=(  # type: ignore[attr-defined]
        '<div class="error-summary"><h2>Popraw błędy</h2><ul><li><a href="#email">Wpisz adres</a></li></ul></div>'
        '<h1>Moje konto</h1><form method="post" action=""><input type="hidden" name="new-csrf_token" value="t">'
        '<span class="error-message" id="email-error">Wpisz adres</span><input id="email" name="email"></form>'))
    shown = serve.get_page("/page/good")
    assert shown.title == "Strona — Urząd" and shown.heading == "Moje konto"
    assert shown.errors == ["Wpisz adres"] and shown.field_error("email") == "Wpisz adres"
    assert shown.form().csrf_token == "t"
