"""Playwright with Debian's chromium, and axe-core checks of every page a browser test reaches."""

from __future__ import annotations

import json
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
