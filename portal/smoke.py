"""`okienko smoke`: file one submission through a running portal exactly as a resident would.

Everything goes over HTTP, like a browser: the sandbox login, each form step, the sandbox
trusted-profile signature, the receipt. Nothing reaches into the database. The three files
it brings back (`document.xml`, `upo.xml`, `upo.pdf`) are then checked: the receipt's seal
verifies against the given CA and its digest covers the exact document.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import requests
from lxml import html

from portal import xmlsafe
from portal.inbox import upo
from portal.signing import verify

SERVICE = "pismo-ogolne"
ANSWERS = {
    "tytul": "Sprawdzenie instalacji portalu",
    "tresc": "To pismo złożył test dymny (okienko smoke) po instalacji portalu. Proszę je pominąć.",
}


class SmokeFailed(Exception):
    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(message)


def _page(response: requests.Response, step: str) -> html.HtmlElement:
    if response.status_code >= 400:
        raise SmokeFailed(step, f"{response.request.method} {response.url} answered {response.status_code}")
    return html.fromstring(response.content, base_url=response.url)


def _main_form(page: html.HtmlElement, step: str) -> html.FormElement:
    forms = page.xpath("//main//form[@method='post' or @method='POST']")
    if not forms:
        raise SmokeFailed(step, "the page has no form in its main content")
    return forms[0]


def _submit(session: requests.Session, form: html.FormElement, values: dict[str, str], step: str,
            button: tuple[str, str] | None = None) -> requests.Response:
    data = dict(form.form_values())
    data.update(values)
    if button:
        data[button[0]] = button[1]
    action = urljoin(form.base_url, form.get("action") or form.base_url)
    return session.post(action, data=data, timeout=30)


def _fill_step(page: html.HtmlElement) -> dict[str, str]:
    """Answer every question of a step: known answers, else keep what is prefilled, else something valid."""
    form = _main_form(page, "form")
    values: dict[str, str] = {}
    for element in form.inputs:
        name = element.get("name")
        if not name or name == "csrf_token":
            continue
        if element.tag == "input" and element.get("type") == "radio":
            values.setdefault(name, element.get("value"))
        elif name in ANSWERS:
            values[name] = ANSWERS[name]
        elif not (element.value or "").strip():
            values[name] = "Leszno"
    return values


def run(base_url: str, out: Path, resident: str, trust: Path) -> list[str]:
    base = base_url.rstrip("/")
    done: list[str] = []
    session = requests.Session()
    session.headers["User-Agent"] = "okienko-smoke"

    step = "portal reachable"
    try:
        health = session.get(f"{base}/health", timeout=10)
    except requests.RequestException as exc:
        raise SmokeFailed(step, f"cannot reach {base}: {exc}") from exc
    if health.status_code != 200:
        raise SmokeFailed(step, f"{base}/health answered {health.status_code}")
    done.append(step)

    step = "catalog offers the general letter"
    page = _page(session.get(f"{base}/uslugi", timeout=10), step)
    if not page.xpath(f"//a[contains(@href, '/uslugi/{SERVICE}')]"):
        raise SmokeFailed(step, f"the catalog does not list {SERVICE}")
    done.append(step)

    step = "sign in through the sandbox identity provider"
    login = session.get(f"{base}/logowanie", timeout=20)
    page = _page(login, step)
    if urlsplit(login.url).netloc == urlsplit(base).netloc:
        raise SmokeFailed(step, "the portal did not send the browser to the identity provider")
    chooser = _main_form(page, step)
    landed = _submit(session, chooser, {}, step, button=("account", resident))
    page = _page(landed, step)
    if not landed.url.startswith(base) or not page.xpath("//form[contains(@action, '/wyloguj')]"):
        raise SmokeFailed(step, f"not signed in after the identity provider (ended at {landed.url})")
    done.append(step)

    step = "fill in the form"
    service_page = _page(session.get(f"{base}/uslugi/{SERVICE}", timeout=10), step)
    response = _submit(session, _main_form(service_page, step), {}, step)
    for _ in range(10):
        page = _page(response, step)
        if "/podsumowanie" in response.url:
            break
        response = _submit(session, _main_form(page, step), _fill_step(page), step)
    else:
        raise SmokeFailed(step, "the form did not reach its summary page")
    done.append(step)

    step = "sign with the sandbox trusted profile"
    links = page.xpath("//main//a[contains(@href, '/podpis')]")
    if not links:
        raise SmokeFailed(step, "the summary page has no way to signing")
    choose = _page(session.get(urljoin(response.url, links[0].get("href")), timeout=10), step)
    to_signing = _submit(session, _main_form(choose, step), {}, step)
    confirm_page = _page(to_signing, step)
    if urlsplit(to_signing.url).netloc == urlsplit(base).netloc:
        raise SmokeFailed(step, "the portal did not send the browser to the signing service")
    signed = _submit(session, _main_form(confirm_page, step), {}, step, button=("action", "sign"))
    case_page = _page(signed, step)
    if not signed.url.startswith(base) or "zlozono" not in signed.url:
        raise SmokeFailed(step, f"no receipt page after signing (ended at {signed.url})")
    done.append(step)

    step = "download the receipt"
    out.mkdir(parents=True, exist_ok=True)
    files = {"upo.xml": "upo.xml", "upo.pdf": "upo.pdf", "document.xml": "dokument.xml"}
    for name, suffix in files.items():
        hrefs = case_page.xpath(f"//a[contains(@href, '/{suffix}')]/@href")
        if not hrefs:
            raise SmokeFailed(step, f"the receipt page has no link to {suffix}")
        download = session.get(urljoin(signed.url, hrefs[0]), timeout=20)
        if download.status_code != 200:
            raise SmokeFailed(step, f"{suffix} answered {download.status_code}")
        (out / name).write_bytes(download.content)
    done.append(f"{step} into {out}")

    step = "check the receipt"
    document = (out / "document.xml").read_bytes()
    receipt = (out / "upo.xml").read_bytes()
    verdict = verify.verify(receipt, verify.Policy.from_pem_files(trust, revocation_mode="offline"),
                            require_person=False)
    if not verdict.valid:
        raise SmokeFailed(step, f"the receipt's seal does not verify: {', '.join(verdict.messages('en'))}")
    facts = upo.read(xmlsafe.parse(receipt))
    if facts.document_sha256 != hashlib.sha256(document).digest():
        raise SmokeFailed(step, "the receipt does not cover the downloaded document")
    if not (out / "upo.pdf").read_bytes().startswith(b"%PDF-"):
        raise SmokeFailed(step, "upo.pdf is not a PDF")
    done.append(f"{step}: {facts.receipt_id}, filed {facts.filed_at}, document SHA-256 "
                f"{base64.b64encode(facts.document_sha256).decode()}")
    return done
