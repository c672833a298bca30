"""Reading the portal's pages as pages: every HTML page the test client fetches is parsed and checked (the way
GOV.UK Notify's admin tests do), and tests ask a page for its title, its error summary or a field's error
instead of matching substrings of raw HTML.

The checks, on every text/html response of a `PageCheckingClient`:
- the <title> names the page itself, not only the office (base.html writes "<page> — <office>");
- no two elements share an id (a label, an aria-describedby or an error link would reach the wrong one);
- every link in the error summary leads to an element on the page (else the keyboard user is left stranded);
- every <form method="post"> carries a CSRF token and posts to a route of the portal that takes POST
  (an empty action posts back to the page's own URL).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import cssselect2
import lxml.html
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect
from werkzeug.test import TestResponse

ERROR_SUMMARY = ".error-summary"
FLASH_NOTICE = ".notice"


def squashed(text: str) -> str:
    """Text as a reader sees it: runs of whitespace (line breaks of the template) as one space."""
    return re.sub(r"\s+", " ", text).strip()


class Form:
    """One <form> of a page: where it posts and what it would send as it stands."""

    def __init__(self, element: lxml.html.FormElement) -> None:
        self.element = element
        self.method = (element.get("method") or "get").lower()
        self.action = element.get("action") or ""

    @property
    def fields(self) -> dict[str, Any]:
        """The values the form would submit untouched (lxml's reading: checked boxes, selected options)."""
        return dict(self.element.form_values())

    @property
    def csrf_token(self) -> str | None:
        """The form's CSRF token; a prefixed WTForms form names it `<prefix>-csrf_token` (Flask-WTF's
        CSRFProtect accepts either)."""
        for name, value in self.fields.items():
            if name == "csrf_token" or name.endswith("-csrf_token"):
                return str(value)
        return None

    @property
    def buttons(self) -> list[str]:
        return [squashed(b.text_content()) for b in self.element.iter("button")]


class Page:
    """A parsed HTML response."""

    def __init__(self, response: TestResponse) -> None:
        self.response = response
        self.status_code = response.status_code
        self.html = response.get_data(as_text=True)
        self.root = lxml.html.document_fromstring(self.html)
        self._wrapper = cssselect2.ElementWrapper.from_html_root(self.root)

    def __repr__(self) -> str:
        return f"<Page {self.status_code} {self.title!r}>"

    # --- reading -------------------------------------------------------------------------------------------
    def select(self, css: str) -> list[Any]:
        """The elements (lxml) matching a CSS selector, in document order."""
        return [match.etree_element for match in self._wrapper.query_all(css)]

    def select_one(self, css: str) -> Any:
        found = self.select(css)
        assert found, f"nothing on the page matches {css!r} (title {self.title!r})"
        return found[0]

    def texts(self, css: str) -> list[str]:
        """The visible text of every element matching `css`."""
        return [squashed(element.text_content()) for element in self.select(css)]

    def text_of(self, css: str) -> str:
        """The text of the first element matching `css`; fails when there is none."""
        return squashed(self.select_one(css).text_content())

    @property
    def text(self) -> str:
        """The text of the page's main content (what a screen reader reads after 'skip to content')."""
        main = self.select("main")
        return squashed((main[0] if main else self.root).text_content())

    @property
    def title(self) -> str:
        found = self.root.find(".//title")
        return squashed(found.text_content()) if found is not None else ""

    @property
    def heading(self) -> str:
        return self.text_of("h1")

    @property
    def errors(self) -> list[str]:
        """The entries of the error summary at the top of the page (empty when there is none)."""
        return self.texts(f"{ERROR_SUMMARY} li") or self.texts(f"{ERROR_SUMMARY} p")

    @property
    def error_summary_title(self) -> str | None:
        found = self.texts(f"{ERROR_SUMMARY} h2")
        return found[0] if found else None

    @property
    def notices(self) -> list[str]:
        """Status messages (flashed: 'Attached …', 'Assigned …')."""
        return self.texts(FLASH_NOTICE)

    def facts(self, css: str = ".facts") -> dict[str, str]:
        """The term → description pairs of the first definition list matching `css` (a case's facts)."""
        found = self.select(css)
        if not found:
            return {}
        pairs: dict[str, str] = {}
        for term in found[0].iter("dt"):
            description = term.getnext()
            text = description.text_content() if description is not None else ""
            pairs[squashed(term.text_content())] = squashed(text)
        return pairs

    def field(self, name: str) -> Any:
        """The input, select or textarea named `name` (the first, for a group of radios)."""
        found = self.root.xpath("//*[self::input or self::select or self::textarea][@name=$name]", name=name)
        assert found, f"the page has no field named {name!r} (title {self.title!r})"
        return found[0]

    def field_error(self, name: str) -> str | None:
        """The error message written beside the field named `name`, or None when it has none."""
        field_id = self.field(name).get("id")
        found = self.root.xpath("//*[@id=$id]", id=f"{field_id}-error") if field_id else []
        return squashed(found[0].text_content()) if found else None

    def form(self, css: str = "form", *, action: str | None = None) -> Form:
        """The first form matching `css` (or posting to `action`)."""
        forms = [Form(element) for element in self.select(css)]
        if action is not None:
            forms = [form for form in forms if urlsplit(form.action).path == action]
        assert forms, f"no form {css!r}{f' posting to {action}' if action else ''} on the page ({self.title!r})"
        return forms[0]

    @property
    def forms(self) -> list[Form]:
        return [Form(element) for element in self.select("form")]

    def links(self, css: str = "a") -> list[str]:
        return [element.get("href") for element in self.select(css) if element.get("href") is not None]

    # --- checking ------------------------------------------------------------------------------------------
    def problems(self, app: Flask, path: str) -> list[str]:
        """What is wrong with the page as a page (see the module's docstring); empty when nothing is."""
        found: list[str] = []
        if not self.title.split("—")[0].strip():
            found.append(f"the <title> does not name the page: {self.title!r}")
        ids: dict[str, int] = {}
        for value in self.root.xpath("//@id"):
            ids[value] = ids.get(value, 0) + 1
        found += [f"the id {value!r} is used {count} times" for value, count in ids.items() if count > 1]
        for href in self.links(f"{ERROR_SUMMARY} a"):
            if href.startswith("#") and href[1:] not in ids:
                found.append(f"the error summary links to {href}, which no element on the page has as its id")
        for form in self.forms:
            if form.method != "post":
                continue
            if not form.csrf_token:
                found.append(f"the form posting to {form.action or '(this page)'!r} has no CSRF token")
            unknown = _unknown_post_route(app, form.action or path)
            if unknown:
                found.append(f"the form posts to {form.action!r}: {unknown}")
        return found


def _unknown_post_route(app: Flask, action: str) -> str | None:
    """Why `action` is not a portal route that takes POST, or None when it is. Other hosts are not ours."""
    parts = urlsplit(action)
    if parts.netloc and parts.netloc not in ("localhost", urlsplit(app.config.get("BASE_URL", "")).netloc):
        return None
    adapter = app.url_map.bind("localhost")
    try:
        adapter.match(parts.path, method="POST")
    except NotFound:
        return "no route has this URL"
    except MethodNotAllowed:
        return "its route does not take POST"
    except RequestRedirect as redirect:
        return f"the route redirects it to {redirect.new_url} (a POST would be lost)"
    return None


class PageCheckingClient(FlaskClient):
    """The test client of the portal: every HTML page it receives is checked, so a page that fails a check
    fails the test that fetched it; `get_page` / `post_page` hand the page back parsed."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = super().open(*args, **kwargs)
        if response.mimetype == "text/html" and response.status_code not in (204, 304) and response.get_data():
            path = response.request.path if response.request is not None else "?"
            problems = Page(response).problems(self.application, path)
            if problems:
                method = response.request.method if response.request is not None else ""
                listed = "\n  - ".join(problems)
                raise AssertionError(f"the page {method} {path} ({response.status_code}) fails its checks:\n"
                                     f"  - {listed}")
        return response

    def get_page(self, url: str, *, status: int = 200, **kwargs: Any) -> Page:
        """GET `url` and parse it; fails unless the answer has `status`."""
        return page_of(self.get(url, **kwargs), status=status)

    def post_page(self, url: str, *, status: int = 200, **kwargs: Any) -> Page:
        """POST to `url` and parse the page that comes back (a form shown again with its errors)."""
        return page_of(self.post(url, **kwargs), status=status)


def page_of(response: TestResponse, *, status: int | None = None) -> Page:
    """The page of a response (checked already by the client that fetched it)."""
    if status is not None:
        assert response.status_code == status, (
            f"expected {status}, got {response.status_code} {response.headers.get('Location', '')}")
    assert response.mimetype == "text/html", f"not a page: {response.mimetype}"
    return Page(response)
