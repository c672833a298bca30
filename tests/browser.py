"""Playwright with Debian's chromium, and axe-core checks of every page a browser test reaches."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = "/usr/bin/chromium"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield chromium
        chromium.close()


class AccessibilityAudit:
    """Runs axe-core on each page it is shown; the test fails if any page broke WCAG 2.1 A/AA."""

    def __init__(self) -> None:
        self.source = AXE.read_text(encoding="utf-8")
        self.violations: dict[str, list[dict[str, object]]] = {}
        self.pages: list[str] = []

    def check(self, page: object) -> None:
        # Injected through the DevTools protocol, so the portal's CSP (no inline scripts) stays on.
        page.evaluate(self.source)  # type: ignore[attr-defined]
        result = page.evaluate(  # type: ignore[attr-defined]
            "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG_TAGS)
        url = page.url  # type: ignore[attr-defined]
        self.pages.append(url)
        found = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                  "nodes": [n["target"] for n in v["nodes"]][:5]} for v in result["violations"]]
        if found:
            self.violations[url] = found

    def assert_clean(self) -> None:
        assert not self.violations, json.dumps(self.violations, indent=2, ensure_ascii=False)


# --- Walking the portal like a person: shared by tests/test_browser.py-style tests and tests/browser_e2e/ ---

GUIDE_IMAGES = REPO / "docs" / "guides" / "img"
# The guides' screenshots are taken at this width, so they look alike whichever test took them.
GUIDE_VIEWPORT = {"width": 1280, "height": 900}


def guide_screenshot(page: object, name: str) -> None:
    """A full-page screenshot for docs/guides/, retaken by every run so the guides never show a stale screen."""
    GUIDE_IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(GUIDE_IMAGES / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def sign_in_on_sandbox(page: object, account: str) -> None:
    """On the sandbox's login page (login.gov.pl or the office's provider), pick a demo account by its name."""
    page.get_by_role("button", name=f"Zaloguj jako {account}").click()  # type: ignore[attr-defined]


def sign_with_trusted_profile(page: object, audit: AccessibilityAudit | None = None,
                              picture: str | None = None) -> None:
    """From the summary: to the signing page, to the sandbox pz.gov.pl, confirm, and back on the receipt
    (`picture`: the guide's screenshot of the pz.gov.pl page)."""
    page.get_by_role("link", name="Dane są poprawne — przejdź do podpisu").click()  # type: ignore[attr-defined]
    if audit:
        audit.check(page)
    page.get_by_role("button", name="Podpisz profilem zaufanym i złóż pismo").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/tpsigning5/podpis/**")  # type: ignore[attr-defined]
    if audit:
        audit.check(page)
    if picture:
        guide_screenshot(page, picture)
    page.get_by_role("button", name="Podpisz profilem zaufanym").click()  # type: ignore[attr-defined]
    page.wait_for_url("**zlozono=1")  # type: ignore[attr-defined]


def attach_button(page: object, what: str) -> object:
    # The rule's name is visually hidden text inside the button (an absolutely positioned span),
    # which accessible-name computation separates with a space.
    return page.get_by_role(  # type: ignore[attr-defined]
        "button", name=re.compile(rf"^Dołącz plik\s*:\s*{re.escape(what)}$"))


def fact(page: object, term: str) -> str:
    """The value beside a term in a page's facts list (<dt>term</dt><dd>value</dd>)."""
    term_cell = page.locator("dl.facts dt", has_text=term).first  # type: ignore[attr-defined]
    return term_cell.locator("xpath=following-sibling::dd[1]").inner_text()
